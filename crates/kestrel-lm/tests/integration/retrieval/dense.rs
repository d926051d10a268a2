//! `Embeddings`: exact top-k and scores on hand-computed vectors, with and
//! without normalization; the HNSW path against brute force on a seeded
//! clustered corpus; batches; typed errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kestrel_lm::retrieve::{Embeddings, SearchMode};
use kestrel_lm::{Embedder, LmError, Retriever};

/// An embedder reading vectors from a table; counts its requests.
#[derive(Debug, Default)]
struct Table {
    vectors: HashMap<String, Vec<f32>>,
    requests: Mutex<Vec<usize>>,
    short_by_one: bool,
}

impl Table {
    fn new(entries: impl IntoIterator<Item = (String, Vec<f32>)>) -> Self {
        Self { vectors: entries.into_iter().collect(), ..Self::default() }
    }
}

#[async_trait]
impl Embedder for Table {
    fn model(&self) -> &str {
        "table"
    }
    async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, LmError> {
        self.requests.lock().unwrap().push(inputs.len());
        let mut out: Vec<Vec<f32>> =
            inputs.iter().map(|t| self.vectors.get(t).cloned().unwrap_or_else(|| vec![0.0; 2])).collect();
        if self.short_by_one {
            out.pop();
        }
        Ok(out)
    }
}

fn hand_table() -> Table {
    Table::new([
        ("a".to_string(), vec![2.0, 0.0]),
        ("b".to_string(), vec![0.6, 0.8]),
        ("c".to_string(), vec![0.0, 3.0]),
        ("q".to_string(), vec![1.0, 1.0]),
    ])
}

#[tokio::test]
async fn normalized_scores_are_cosines_and_ties_keep_corpus_order() {
    let table = Arc::new(hand_table());
    let retriever = Embeddings::builder(["a", "b", "c"], table.clone()).k(2).build().await.unwrap();
    assert_eq!(retriever.search_mode(), SearchMode::BruteForce);
    let top = retriever.search("q").await.unwrap();
    // cos(q, b) = 1.4/√2 = 0.98995; cos(q, a) = cos(q, c) = 1/√2: the tie keeps a.
    assert_eq!(top.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(), ["b", "a"]);
    assert_eq!(top.iter().map(|p| p.pid).collect::<Vec<_>>(), [Some(1), Some(0)]);
    assert!((top[0].score - 1.4 / 2f32.sqrt()).abs() < 1e-6, "{}", top[0].score);
    assert!((top[1].score - 1.0 / 2f32.sqrt()).abs() < 1e-6, "{}", top[1].score);
    // The corpus went in one request (batch size 200), the query in another.
    assert_eq!(*table.requests.lock().unwrap(), vec![3, 1]);
}

#[tokio::test]
async fn unnormalized_scores_are_raw_dot_products() {
    let retriever =
        Embeddings::builder(["a", "b", "c"], Arc::new(hand_table())).normalize(false).build().await.unwrap();
    let top = retriever.retrieve("q", 3).await.unwrap();
    // q·c = 3, q·a = 2, q·b = 1.4.
    assert_eq!(top.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(), ["c", "a", "b"]);
    for (p, want) in top.iter().zip([3.0, 2.0, 1.4]) {
        assert!((p.score - want).abs() < 1e-6, "{} != {want}", p.score);
    }
    // k beyond the corpus returns the whole corpus; k = 0 nothing.
    assert_eq!(retriever.retrieve("q", 10).await.unwrap().len(), 3);
    assert!(retriever.retrieve("q", 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_batch_embeds_every_query_in_one_request() {
    let table = Arc::new(hand_table());
    let retriever = Embeddings::builder(["a", "b", "c"], table.clone()).batch_size(2).build().await.unwrap();
    let out = retriever.retrieve_batch(&["q".to_string(), "c".to_string()], 1).await.unwrap();
    assert_eq!(out[0][0].text, "b");
    assert_eq!(out[1][0].text, "c");
    // The corpus in batches of 2, then both queries at once.
    assert_eq!(*table.requests.lock().unwrap(), vec![2, 1, 2]);
}

#[tokio::test]
async fn bad_corpora_and_embedders_are_typed_errors() {
    let empty = Embeddings::builder(Vec::<String>::new(), Arc::new(hand_table())).build().await;
    assert!(matches!(empty, Err(LmError::Retrieval { ref message, .. }) if message.contains("empty")));
    let short = Table { short_by_one: true, ..hand_table() };
    let err = Embeddings::builder(["a", "b"], Arc::new(short)).build().await.unwrap_err();
    assert!(matches!(&err, LmError::Retrieval { message, .. } if message.contains("1 vectors for 2 texts")), "{err}");
    let ragged = Table::new([("a".to_string(), vec![1.0, 0.0]), ("b".to_string(), vec![1.0, 0.0, 0.0])]);
    let err = Embeddings::builder(["a", "b"], Arc::new(ragged)).build().await.unwrap_err();
    assert!(matches!(&err, LmError::Retrieval { message, .. } if message.contains("2 and 3 dimensions")), "{err}");
    let ok = Embeddings::builder(["a"], Arc::new(hand_table())).build().await.unwrap();
    assert!(matches!(ok.search_vector(&[1.0, 2.0, 3.0], 1), Err(LmError::Retrieval { .. })));
}

/// SplitMix64, for a seeded corpus.
fn next(state: &mut u64) -> f32 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
}

/// `n` points around `clusters` random centres in `dim` dimensions (real
/// sentence embeddings are clustered too), and `queries` more around them.
fn clustered(n: usize, queries: usize, dim: usize, clusters: usize) -> (Vec<(String, Vec<f32>)>, Vec<String>) {
    let mut state = 42;
    let centres: Vec<Vec<f32>> = (0..clusters).map(|_| (0..dim).map(|_| next(&mut state)).collect()).collect();
    let mut point = |c: usize| -> Vec<f32> { centres[c].iter().map(|x| x + 0.35 * next(&mut state)).collect() };
    let mut entries: Vec<(String, Vec<f32>)> = (0..n).map(|i| (format!("p{i}"), point(i % clusters))).collect();
    let query_names: Vec<String> = (0..queries).map(|i| format!("q{i}")).collect();
    for (i, name) in query_names.iter().enumerate() {
        entries.push((name.clone(), point((i * 7) % clusters)));
    }
    (entries, query_names)
}

#[tokio::test]
async fn hnsw_candidates_reranked_match_brute_force_within_the_documented_recall() {
    const K: usize = 10;
    // Small enough for an unoptimized test build (the graph build dominates).
    let (entries, queries) = clustered(800, 30, 16, 20);
    let corpus: Vec<String> = entries.iter().take(800).map(|(name, _)| name.clone()).collect();
    let table = Arc::new(Table::new(entries));
    let ann = Embeddings::builder(corpus.clone(), table.clone())
        .brute_force_threshold(500)
        .ef_construction(40)
        .ef_search(20)
        .build()
        .await
        .unwrap();
    assert_eq!(ann.search_mode(), SearchMode::Hnsw);
    let exact = Embeddings::builder(corpus, table.clone()).build().await.unwrap();
    assert_eq!(exact.search_mode(), SearchMode::BruteForce);

    let approximate = ann.retrieve_batch(&queries, K).await.unwrap();
    let reference = exact.retrieve_batch(&queries, K).await.unwrap();
    let mut found = 0;
    for (got, want) in approximate.iter().zip(&reference) {
        assert_eq!(got.len(), K);
        // Every score is the exact one, and the list is best first.
        for p in got {
            let v = ann.vector(p.pid.unwrap() as usize).unwrap().to_vec();
            let w = exact.vector(p.pid.unwrap() as usize).unwrap();
            assert_eq!(v, w);
        }
        assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
        found += got.iter().filter(|p| want.iter().any(|q| q.pid == p.pid)).count();
    }
    let recall = found as f64 / (K * queries.len()) as f64;
    eprintln!("recall@{K} = {recall}");
    assert!(recall >= 0.95, "recall@{K} = {recall}");
    // A k beyond ef_search is answered exactly.
    let wide = ann.retrieve(&queries[0], 50).await.unwrap();
    let wide_exact = exact.retrieve(&queries[0], 50).await.unwrap();
    assert_eq!(wide, wide_exact);
}
