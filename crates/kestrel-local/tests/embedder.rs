//! `LocalEmbedder` on a tiny BERT the tests generate (random weights in a
//! temporary safetensors file, a 2-layer 8-wide config and a hand-written
//! WordPiece `tokenizer.json` with all-MiniLM-L6-v2's fixed padding), plus
//! `#[ignore]`d checks on the real model fetched by
//! `cargo xtask fetch-models all-minilm-l6-v2`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::bert::{BertModel, Config};
use kestrel_lm::{Embedder, LmError};
use kestrel_local::{LocalEmbedder, LocalError};
use serde_json::json;

const WORDS: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog", "ran", "a", "bank", "card",
    "lost", "my", "pin", "change", "rate", "##s", "i", "have", "how",
];

fn tiny_config() -> serde_json::Value {
    json!({
        "architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": 8, "intermediate_size": 16,
        "num_attention_heads": 2, "num_hidden_layers": 2, "max_position_embeddings": 32, "type_vocab_size": 2,
        "vocab_size": WORDS.len(), "hidden_dropout_prob": 0.1, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
        "pad_token_id": 0, "model_type": "bert"
    })
}

fn tiny_tokenizer() -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> =
        WORDS.iter().enumerate().map(|(i, word)| ((*word).to_owned(), json!(i))).collect();
    let special = |id: usize| {
        json!({"id": id, "special": true, "content": WORDS[id], "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false})
    };
    json!({
        "version": "1.0",
        "truncation": {"max_length": 16, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 16}, "direction": "Right", "pad_to_multiple_of": null, "pad_id": 0,
                    "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": [special(0), special(1), special(2), special(3), special(4)],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
}

/// Writes a tiny random BERT (config, tokenizer, safetensors) into a new temp dir.
fn tiny_model() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config();
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), tiny_tokenizer().to_string()).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let config: Config = serde_json::from_value(config).unwrap();
    BertModel::load(vb, &config).unwrap();
    varmap.save(dir.path().join("model.safetensors")).unwrap();
    dir
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[tokio::test]
async fn vectors_have_the_model_dimension_and_unit_length() {
    let dir = tiny_model();
    let embedder = LocalEmbedder::load(dir.path()).unwrap();
    assert_eq!(embedder.dimension(), 8);
    assert_eq!(embedder.max_tokens(), 16);
    let vectors = embedder.embed(&texts(&["the cat sat on the mat", "a dog ran", ""])).await.unwrap();
    assert_eq!(vectors.len(), 3);
    for vector in &vectors {
        assert_eq!(vector.len(), 8);
        assert!((norm(vector) - 1.0).abs() < 1e-5, "{}", norm(vector));
    }
    assert!(max_diff(&vectors[0], &vectors[1]) > 1e-3, "different texts, different vectors");
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn padding_and_batching_do_not_change_a_vector() {
    let dir = tiny_model();
    let embedder = LocalEmbedder::load(dir.path()).unwrap();
    let alone = embedder.embed(&texts(&["a dog"])).await.unwrap();
    // In a batch with a longer text "a dog" is padded; the mask must hide it.
    let long = "the cat sat on the mat my bank card lost how i have";
    let batched = embedder.embed(&texts(&[long, "a dog", "cat"])).await.unwrap();
    assert!(max_diff(&alone[0], &batched[1]) < 1e-5, "{:?} vs {:?}", alone[0], batched[1]);
    // One text per batch, sequential or on several threads, gives the same
    // vectors in the same order.
    for concurrency in [1, 3] {
        let single = embedder.clone().batch_size(1).concurrency(concurrency);
        assert_eq!((single.get_batch_size(), single.get_concurrency()), (1, concurrency));
        let one_by_one = single.embed(&texts(&[long, "a dog", "cat"])).await.unwrap();
        for (a, b) in batched.iter().zip(&one_by_one) {
            assert!(max_diff(a, b) < 1e-5);
        }
    }
}

#[tokio::test]
async fn the_same_text_gives_the_same_vector_across_loads() {
    let dir = tiny_model();
    let first = LocalEmbedder::load(dir.path()).unwrap().embed(&texts(&["my card", "change pin"])).await.unwrap();
    let second = LocalEmbedder::load(dir.path()).unwrap().embed(&texts(&["my card", "change pin"])).await.unwrap();
    assert_eq!(first, second);
}

#[test]
fn embeds_without_an_async_runtime() {
    let dir = tiny_model();
    let embedder = LocalEmbedder::load(dir.path()).unwrap();
    let vectors = embedder.embed_blocking(&texts(&["cat", "dog"])).unwrap();
    assert_eq!(vectors.len(), 2);
}

#[test]
fn missing_files_are_typed_errors() {
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        let dir = tiny_model();
        std::fs::remove_file(dir.path().join(file)).unwrap();
        match LocalEmbedder::load(dir.path()) {
            Err(LocalError::MissingFile { path }) => assert!(path.ends_with(file), "{}", path.display()),
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn corrupt_files_are_typed_errors() {
    let cases: [(&str, &[u8]); 4] = [
        ("config.json", b"{ not json"),
        ("tokenizer.json", b"{\"version\": 3}"),
        ("model.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00garbage!"),
        ("model.safetensors", b""),
    ];
    for (file, bytes) in cases {
        let dir = tiny_model();
        std::fs::write(dir.path().join(file), bytes).unwrap();
        match LocalEmbedder::load(dir.path()) {
            Err(LocalError::InvalidFile { path, message }) => {
                assert!(path.ends_with(file) && !message.is_empty(), "{}: {message}", path.display())
            }
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn weights_of_the_wrong_shape_are_a_typed_error() {
    let dir = tiny_model();
    let mut config = tiny_config();
    config["hidden_size"] = json!(16);
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    assert!(matches!(LocalEmbedder::load(dir.path()), Err(LocalError::InvalidFile { .. })));
}

#[test]
fn a_tokenizer_larger_than_the_model_vocabulary_is_a_typed_error() {
    let dir = tiny_model();
    let mut config = tiny_config();
    config["vocab_size"] = json!(WORDS.len() - 1);
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    match LocalEmbedder::load(dir.path()) {
        Err(LocalError::InvalidFile { path, message }) => {
            assert!(path.ends_with("tokenizer.json") && message.contains("tokens"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn model_strings_resolve_paths_and_reject_other_providers() {
    let dir = tiny_model();
    let path = dir.path().display().to_string();
    let embedder = LocalEmbedder::from_model_string(&format!("local/{path}")).unwrap();
    assert_eq!(embedder.model(), format!("local/{path}"));
    assert!(matches!(
        LocalEmbedder::from_model_string("openai/text-embedding-3-small"),
        Err(LocalError::NotLocal { .. })
    ));
    let error: LmError = LocalEmbedder::load(dir.path().join("absent")).unwrap_err().into();
    assert!(matches!(error, LmError::Config(_)), "{error}");
}

// --- the real model (`cargo xtask fetch-models all-minilm-l6-v2` first) ---

fn real_model() -> PathBuf {
    kestrel_local::model_dir::model_dir().unwrap().join("all-minilm-l6-v2")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
#[ignore = "needs the fetched all-MiniLM-L6-v2 (cargo xtask fetch-models all-minilm-l6-v2)"]
async fn real_minilm_ranks_similar_sentences_higher() {
    let embedder = LocalEmbedder::from_model_string("local/all-minilm-l6-v2").unwrap();
    assert_eq!(embedder.dimension(), 384);
    let v = embedder
        .embed(&texts(&[
            "I lost my credit card yesterday.",
            "My bank card has gone missing.",
            "What is the exchange rate for euros?",
            "The cat sat on the mat.",
        ]))
        .await
        .unwrap();
    let similar = cosine(&v[0], &v[1]);
    assert!(similar > cosine(&v[0], &v[2]) + 0.2, "{similar} vs {}", cosine(&v[0], &v[2]));
    assert!(similar > cosine(&v[0], &v[3]) + 0.2, "{similar} vs {}", cosine(&v[0], &v[3]));
}

/// Reference vectors from an independent float64 numpy forward pass over the
/// same files (`testdata/minilm_reference.py` wrote `minilm_reference.json`).
#[tokio::test]
#[ignore = "needs the fetched all-MiniLM-L6-v2 (cargo xtask fetch-models all-minilm-l6-v2)"]
async fn real_minilm_matches_a_float64_reference() {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/minilm_reference.json");
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reference).unwrap()).unwrap();
    let sentences: Vec<String> = serde_json::from_value(reference["sentences"].clone()).unwrap();
    let expected: Vec<Vec<f32>> = serde_json::from_value(reference["embeddings"].clone()).unwrap();
    let embedder = LocalEmbedder::load(real_model()).unwrap();
    let actual = embedder.embed(&sentences).await.unwrap();
    let mut worst = 0f32;
    for ((sentence, a), e) in sentences.iter().zip(&actual).zip(&expected) {
        let diff = max_diff(a, e);
        assert!(diff < 1e-4, "{sentence}: max |Δ| {diff}");
        worst = worst.max(diff);
    }
    println!("max |Δ| over {} sentences: {worst:e}", sentences.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the fetched all-MiniLM-L6-v2; prints sentences/s (release build recommended)"]
async fn real_minilm_throughput() {
    let embedder = LocalEmbedder::load(real_model()).unwrap();
    let base = [
        "I lost my credit card yesterday and need a new one.",
        "How do I change the PIN of my debit card?",
        "What is the exchange rate for euros today?",
        "I want to close my account.",
        "Is there a minimum age to open an account?",
        "My card still has not arrived after two weeks.",
        "Can I top up with a cheque?",
        "Why was I charged a fee for a transfer?",
    ];
    let inputs: Vec<String> = (0..512).map(|i| format!("{} ({i})", base[i % base.len()])).collect();
    embedder.embed(&inputs[..32]).await.unwrap();
    for batch_size in [8, 16, 32, 64, 128] {
        let embedder = embedder.clone().batch_size(batch_size);
        let cpu = cpu_seconds();
        let started = Instant::now();
        let vectors = embedder.embed(&inputs).await.unwrap();
        let seconds = started.elapsed().as_secs_f64();
        let per_cpu = inputs.len() as f64 / (cpu_seconds() - cpu);
        assert_eq!(vectors.len(), inputs.len());
        let rate = inputs.len() as f64 / seconds;
        println!(
            "batch {batch_size}: {} sentences in {seconds:.2} s: {rate:.0} sentences/s ({per_cpu:.0} per CPU-s)",
            inputs.len()
        );
        let result = serde_json::json!({
            "side": "kestrel", "what": "embeddings", "model": "all-minilm-l6-v2", "sentences": inputs.len(),
            "batch": batch_size, "concurrency": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "sentences_per_s": rate.round(), "sentences_per_cpu_s": per_cpu.round(),
        });
        println!("RESULT {result}");
    }
    let sequential = embedder.clone().concurrency(1);
    let started = Instant::now();
    sequential.embed(&inputs).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    println!("batch 32, concurrency 1: {:.0} sentences/s", inputs.len() as f64 / seconds);
}

/// CPU time of this process so far (user + system; Linux), in seconds: the
/// machine may be shared, so throughput per CPU-second is printed too.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
