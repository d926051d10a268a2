//! BM25: scores computed by hand from the formula in the module docs,
//! stemming and stop words, ties in corpus order, typed errors.

use kestrel_lm::retrieve::Bm25;
use kestrel_lm::{LmError, Retriever};

/// `idf · tf·(k1+1) / (tf + k1·(1 − b + b·len/avgdl))` with k1 = 1.2, b = 0.75.
fn bm25(n: f32, df: f32, tf: f32, len: f32, avgdl: f32) -> f32 {
    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
    idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / avgdl))
}

#[tokio::test]
async fn scores_match_the_formula() {
    let retriever = Bm25::builder(["cat cat dog", "dog bird", "fish"]).build().unwrap();
    assert_eq!(retriever.avgdl(), 2.0);
    let cat = retriever.retrieve("cat", 5).await.unwrap();
    assert_eq!(cat.len(), 1, "only passages sharing a token");
    assert_eq!(cat[0].pid, Some(0));
    assert!((cat[0].score - bm25(3.0, 1.0, 2.0, 3.0, 2.0)).abs() < 1e-5, "{}", cat[0].score);

    let dog = retriever.retrieve("dog", 5).await.unwrap();
    // The shorter passage wins: 0.4700 against 0.3902.
    assert_eq!(dog.iter().map(|p| p.pid).collect::<Vec<_>>(), [Some(1), Some(0)]);
    assert!((dog[0].score - bm25(3.0, 2.0, 1.0, 2.0, 2.0)).abs() < 1e-5);
    assert!((dog[1].score - bm25(3.0, 2.0, 1.0, 3.0, 2.0)).abs() < 1e-5);
    assert!((dog[0].score - 0.470_003_6).abs() < 1e-5);

    let both = retriever.retrieve("cat bird", 1).await.unwrap();
    assert_eq!(both[0].text, "cat cat dog");
}

#[tokio::test]
async fn stop_words_are_dropped_and_words_stemmed() {
    let retriever = Bm25::builder(["The runners were running", "a walker walks", "the the the"]).k(2).build().unwrap();
    let hits = retriever.search("run");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].pid, Some(0));
    assert!(retriever.search("the").is_empty(), "stop words match nothing");
    assert_eq!(retriever.search("WALKING")[0].pid, Some(1));
}

#[tokio::test]
async fn equal_scores_keep_corpus_order() {
    let retriever = Bm25::builder(["alpha beta", "gamma", "alpha beta", "alpha beta"]).build().unwrap();
    let hits = retriever.retrieve("alpha", 3).await.unwrap();
    assert_eq!(hits.iter().map(|p| p.pid).collect::<Vec<_>>(), [Some(0), Some(2), Some(3)]);
}

#[test]
fn bad_settings_are_typed_errors() {
    assert!(matches!(Bm25::builder(Vec::<String>::new()).build(), Err(LmError::Retrieval { .. })));
    assert!(matches!(Bm25::builder(["x"]).b(1.5).build(), Err(LmError::Retrieval { .. })));
    assert!(matches!(Bm25::builder(["x"]).k1(f32::NAN).build(), Err(LmError::Retrieval { .. })));
}
