//! KNNFewShot: the nearest training examples become each call's demos;
//! the HNSW path finds what brute force finds; the OpenAI-compatible
//! embeddings provider works as the vectorizer over HTTP (mock server); the
//! compiled program saves and loads; bad settings and embedder failures are
//! typed errors.

use std::sync::Arc;

use async_trait::async_trait;
use kestrel_core::Example;
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{Embedder, LmError, SharedLm, with_lm};
use kestrel_modules::{ModuleExt, Predict, ProgramState};
use kestrel_optimizers::{Knn, KnnFewShot, OptimizerError};
use kestrel_testkit::mock::{MockServer, Route};
use kestrel_testkit::{HashedWordsEmbedder, Reply, ScriptedLm};
use serde_json::json;

fn qa(question: &str, answer: &str) -> Example {
    Example::from_pairs([("question", question), ("answer", answer)]).with_inputs(["question"])
}

fn trivia() -> Vec<Example> {
    vec![
        qa("How tall is Mount Everest?", "8849 m"),
        qa("Which river is the longest?", "The Nile"),
        qa("Who painted the Mona Lisa?", "Leonardo"),
        qa("How tall is the Eiffel Tower?", "330 m"),
        qa("Who painted Guernica?", "Picasso"),
    ]
}

fn question(text: &str) -> Example {
    Example::from_pairs([("question", text)])
}

#[tokio::test]
async fn the_nearest_examples_become_the_calls_demos() {
    let embedder = Arc::new(HashedWordsEmbedder::new(256));
    let knn = Knn::new(2, trivia(), embedder.clone()).await.unwrap();
    let mut nearest = knn.neighbour_indices(&question("Who painted The Starry Night?")).await.unwrap();
    nearest.sort_unstable();
    assert_eq!(nearest, vec![2, 4]);
    let mut tall = knn.neighbour_indices(&question("How tall is Big Ben?")).await.unwrap();
    tall.sort_unstable();
    assert_eq!(tall, vec![0, 3]);

    let lm = ScriptedLm::keyed([("?", Reply::fields([("answer", "Van Gogh")]))]);
    let student = Predict::from_signature("question -> answer").unwrap();
    let compiled = KnnFewShot::new(2, trivia(), embedder).compile(&student).await.unwrap();
    let out = with_lm(SharedLm::new(lm.clone()), compiled.call(question("Who painted The Starry Night?"))).await;
    assert_eq!(out.unwrap().get("answer"), Some(&json!("Van Gogh")));
    // Two teacher runs (one per neighbour), then the answer with both as demos.
    let requests = lm.requests();
    assert_eq!(requests.len(), 3);
    let prompt: String = requests[2].messages.iter().map(|m| m.content.as_str()).collect();
    assert!(prompt.contains("Mona Lisa") && prompt.contains("Guernica"), "{prompt}");
    assert!(!prompt.contains("Everest") && !prompt.contains("Nile"));
    // The compiled program saves the student without the call's demos.
    assert_eq!(compiled.dump_state()["demos"], json!([]));
}

#[tokio::test]
async fn the_hnsw_search_finds_what_brute_force_finds() {
    let words = ["red", "green", "blue", "cat", "dog", "fish", "tall", "small", "fast", "slow", "old", "new"];
    let trainset: Vec<Example> = (0..200)
        .map(|i| {
            let text = format!("{} {} {} item{}", words[i % 12], words[(i / 12) % 12], words[(i / 144) % 12], i % 7);
            qa(&text, "x")
        })
        .collect();
    let embedder = Arc::new(HashedWordsEmbedder::new(64));
    let exact = Knn::new(3, trainset.clone(), embedder.clone()).await.unwrap();
    let approximate = Knn::with_ann_min_trainset(3, trainset, embedder, 100).await.unwrap();
    assert!(!exact.is_approximate() && approximate.is_approximate());
    for query in ["red cat tall", "blue fish item3", "old new slow item6", "green dog"] {
        let inputs = question(query);
        assert_eq!(
            approximate.neighbour_indices(&inputs).await.unwrap(),
            exact.neighbour_indices(&inputs).await.unwrap(),
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_openai_embeddings_provider_is_a_vectorizer() {
    let server = MockServer::start(ScriptedLm::keyed([("?", "unused")])).await.unwrap();
    let provider = OpenAiProvider::new("text-embedding-3-small").base_url(server.base_url()).api_key("test-key");
    let knn = Knn::new(1, trivia(), Arc::new(provider)).await.unwrap();
    // The same text gets the same (unit) vector: the example is its own nearest.
    let nearest = knn.neighbours(&question("Who painted Guernica?")).await.unwrap();
    assert_eq!(nearest, vec![trivia()[4].clone()]);
    let requests = server.requests_to(Route::Embeddings);
    assert_eq!(requests.len(), 2, "one request for the trainset, one for the query");
    assert_eq!(requests[0].body.as_ref().unwrap()["input"][4], json!("question: Who painted Guernica?"));
}

#[derive(Debug)]
struct Failing;

#[async_trait]
impl Embedder for Failing {
    fn model(&self) -> &str {
        "test/failing"
    }
    async fn embed(&self, _: &[String]) -> Result<Vec<Vec<f32>>, LmError> {
        Err(LmError::Provider { model: "test/failing".into(), message: "down".into() })
    }
}

#[tokio::test]
async fn bad_settings_and_embedder_failures_are_typed_errors() {
    let err = Knn::new(0, trivia(), Arc::new(HashedWordsEmbedder::new(8))).await.unwrap_err();
    assert!(matches!(err, OptimizerError::InvalidArgument { name: "k", .. }), "{err}");
    let student = Predict::from_signature("question -> answer").unwrap();
    let err = KnnFewShot::new(2, trivia(), Arc::new(Failing)).compile(&student).await.unwrap_err();
    assert!(matches!(err, OptimizerError::Module(_)), "{err}");
    assert!(err.to_string().contains("down"), "{err}");
}
