//! LoRA fine-tuning (feature `finetune`) on the tiny model: training lowers
//! the assistant-token loss; the PEFT adapter round-trips (keys, shapes,
//! config); the engine with the merged adapter replies differently from
//! the base model — with the trained reply; mismatched adapters and bad
//! data or settings are typed errors.

use std::collections::HashSet;

use candle_core::{Device, Tensor};
use kestrel_core::Message;
use kestrel_local::finetune::{ChatExample, LoraConfig, LoraTrainer};
use kestrel_local::{LocalError, LocalLm, LocalLmOptions};
use serde_json::Value;
use tempfile::TempDir;

use super::request;
use super::tiny_model::{FFN, HEADS, HIDDEN, KV_HEADS, LAYERS, write_tiny_model};

const REPLY: &str = "hello world";

/// Conversations whose reply is always [`REPLY`] (the prompt the engine
/// test below sends is among them).
fn examples() -> Vec<ChatExample> {
    ["hi", "hey", "yo", "hello", "sup"]
        .iter()
        .map(|user| {
            ChatExample::new(vec![Message::system("Answer."), Message::user(*user), Message::assistant(REPLY)]).unwrap()
        })
        .collect()
}

fn config() -> LoraConfig {
    LoraConfig::default().rank(4).alpha(8.0).learning_rate(2e-2).epochs(8).batch_size(2).seed(7).max_seq_len(128)
}

async fn greedy(lm: &LocalLm) -> String {
    lm.generate(&request("hi", 12)).await.unwrap().response.completions[0].text.clone()
}

#[tokio::test]
async fn training_lowers_the_loss_and_the_merged_adapter_replies_as_trained() {
    for architecture in ["llama", "qwen2"] {
        let dir = TempDir::new().unwrap();
        let model = write_tiny_model(dir.path(), architecture);
        let data = examples();
        let mut trainer = LoraTrainer::new(&model, config()).unwrap();
        let before = trainer.loss(&data).unwrap();
        let mut seen = Vec::new();
        let report = trainer.train(&data, |step| seen.push((step.step, step.total_steps, step.loss))).unwrap();
        let after = trainer.loss(&data).unwrap();
        assert_eq!(report.examples, 5);
        assert_eq!(report.losses.len(), 8 * 3, "{architecture}: 3 batches of ≤ 2 per epoch");
        assert_eq!(seen.len(), report.losses.len());
        assert_eq!(seen.last().map(|s| (s.0, s.1)), Some((24, 24)));
        assert!(after < before * 0.5, "{architecture}: loss {before} -> {after}");
        let first = report.losses[..3].iter().sum::<f32>();
        let last = report.losses[report.losses.len() - 3..].iter().sum::<f32>();
        assert!(last < first, "{architecture}: step losses {:?}", report.losses);

        let adapter = trainer.save_adapter(dir.path().join("adapter")).unwrap();
        let base = LocalLm::load(&model, LocalLmOptions::default().constrained(false)).unwrap();
        let tuned = LocalLm::load(&model, LocalLmOptions::default().constrained(false).lora_adapter(&adapter)).unwrap();
        let (base_reply, tuned_reply) = (greedy(&base).await, greedy(&tuned).await);
        assert_ne!(base_reply, tuned_reply, "{architecture}");
        // the engine (quantized forward + merged f32 weights) reproduces what
        // the training forward learned: rotary layout and row permutation agree
        assert_eq!(tuned_reply, REPLY, "{architecture}: base said {base_reply:?}");
    }
}

#[test]
fn training_is_seeded() {
    let dir = TempDir::new().unwrap();
    let model = write_tiny_model(dir.path(), "llama");
    let run = |seed: u64| {
        let mut trainer = LoraTrainer::new(&model, config().epochs(1).seed(seed)).unwrap();
        trainer.train(&examples(), |_| {}).unwrap().losses
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn the_saved_adapter_has_peft_keys_shapes_and_config() {
    let dir = TempDir::new().unwrap();
    let model = write_tiny_model(dir.path(), "llama");
    let config = config().epochs(1).target_modules(["q_proj", "v_proj", "down_proj"]);
    let mut trainer = LoraTrainer::new(&model, config).unwrap();
    trainer.train(&examples(), |_| {}).unwrap();
    let out = trainer.save_adapter(dir.path().join("adapter")).unwrap();
    let tensors = candle_core::safetensors::load(out.join("adapter_model.safetensors"), &Device::Cpu).unwrap();
    let kv = HIDDEN / HEADS as usize * KV_HEADS as usize;
    let mut expected = HashSet::new();
    for layer in 0..LAYERS as usize {
        for (block, module, out_dim, in_dim) in [
            ("self_attn", "q_proj", HIDDEN, HIDDEN),
            ("self_attn", "v_proj", kv, HIDDEN),
            ("mlp", "down_proj", HIDDEN, FFN),
        ] {
            let key = |ab: &str| format!("base_model.model.model.layers.{layer}.{block}.{module}.lora_{ab}.weight");
            assert_eq!(tensors[&key("A")].dims(), [4, in_dim], "{}", key("A"));
            assert_eq!(tensors[&key("B")].dims(), [out_dim, 4], "{}", key("B"));
            expected.insert(key("A"));
            expected.insert(key("B"));
        }
    }
    assert_eq!(tensors.keys().cloned().collect::<HashSet<_>>(), expected);
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["task_type"], "CAUSAL_LM");
    assert_eq!(config["r"], 4);
    assert_eq!(config["lora_alpha"], 8.0);
    assert_eq!(config["target_modules"], serde_json::json!(["q_proj", "v_proj", "down_proj"]));
    assert!(config["base_model_name_or_path"].as_str().is_some_and(|s| !s.is_empty()));
    // and it loads back into the engine
    LocalLm::load(&model, LocalLmOptions::default().lora_adapter(&out)).unwrap();
}

/// An adapter's tensors by PEFT key.
type Tensors = Vec<(String, Tensor)>;

/// Writes an adapter directory with the given tensors and config.
fn write_adapter(dir: &std::path::Path, tensors: &[(String, Tensor)], config: Value) {
    std::fs::create_dir_all(dir).unwrap();
    let map: std::collections::HashMap<String, Tensor> = tensors.iter().cloned().collect();
    candle_core::safetensors::save(&map, dir.join("adapter_model.safetensors")).unwrap();
    std::fs::write(dir.join("adapter_config.json"), config.to_string()).unwrap();
}

#[test]
fn mismatched_or_malformed_adapters_are_typed_errors() {
    let dir = TempDir::new().unwrap();
    let model = write_tiny_model(dir.path(), "llama");
    let config = serde_json::json!({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]});
    let zeros = |shape: (usize, usize)| Tensor::zeros(shape, candle_core::DType::F32, &Device::Cpu).unwrap();
    let key =
        |layer: usize, ab: &str| format!("base_model.model.model.layers.{layer}.self_attn.q_proj.lora_{ab}.weight");
    let cases: Vec<(&str, Tensors, Value)> = vec![
        (
            "layer out of range",
            vec![(key(9, "A"), zeros((2, HIDDEN))), (key(9, "B"), zeros((HIDDEN, 2)))],
            config.clone(),
        ),
        (
            "wrong input width",
            vec![(key(0, "A"), zeros((2, HIDDEN + 1))), (key(0, "B"), zeros((HIDDEN, 2)))],
            config.clone(),
        ),
        ("wrong rank", vec![(key(0, "A"), zeros((3, HIDDEN))), (key(0, "B"), zeros((HIDDEN, 3)))], config.clone()),
        ("lone lora_A", vec![(key(0, "A"), zeros((2, HIDDEN)))], config.clone()),
        (
            "unknown key",
            vec![("base_model.model.lm_head.lora_A.weight".to_owned(), zeros((2, HIDDEN)))],
            config.clone(),
        ),
        (
            "not LoRA",
            vec![(key(0, "A"), zeros((2, HIDDEN))), (key(0, "B"), zeros((HIDDEN, 2)))],
            serde_json::json!({"peft_type": "IA3", "r": 2}),
        ),
        (
            "DoRA",
            vec![(key(0, "A"), zeros((2, HIDDEN))), (key(0, "B"), zeros((HIDDEN, 2)))],
            serde_json::json!({"peft_type": "LORA", "r": 2, "use_dora": true}),
        ),
    ];
    for (i, (what, tensors, config)) in cases.into_iter().enumerate() {
        let adapter = dir.path().join(format!("adapter-{i}"));
        write_adapter(&adapter, &tensors, config);
        let error = LocalLm::load(&model, LocalLmOptions::default().lora_adapter(&adapter)).unwrap_err();
        assert!(matches!(error, LocalError::Adapter { .. }), "{what}: {error:?}");
    }
    let error = LocalLm::load(&model, LocalLmOptions::default().lora_adapter(dir.path().join("absent"))).unwrap_err();
    assert!(matches!(error, LocalError::MissingFile { .. }), "{error:?}");
}

#[test]
fn bad_data_and_settings_are_typed_errors() {
    let jsonl = r#"{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}

{"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "b"}], "extra": 1}
"#;
    let parsed = ChatExample::parse_jsonl(jsonl).unwrap();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[1].messages[1], Message::assistant("b"));
    for bad in [
        "not json",
        r#"{"prompt": "x"}"#,
        r#"{"messages": [{"role": "user", "content": "u"}]}"#,
        r#"{"messages": [{"role": "robot", "content": "u"}, {"role": "assistant", "content": "a"}]}"#,
    ] {
        assert!(matches!(ChatExample::parse_jsonl(bad), Err(LocalError::Finetune { .. })), "{bad}");
    }
    let dir = TempDir::new().unwrap();
    let model = write_tiny_model(dir.path(), "llama");
    for config in [
        LoraConfig::default().rank(0),
        LoraConfig::default().target_modules(["lm_head"]),
        LoraConfig::default().dropout(1.0),
        LoraConfig::default().epochs(0),
    ] {
        assert!(matches!(LoraTrainer::new(&model, config.clone()), Err(LocalError::Finetune { .. })), "{config:?}");
    }
    // every prompt longer than max_seq_len: nothing to train on
    let mut trainer = LoraTrainer::new(&model, LoraConfig::default().max_seq_len(4)).unwrap();
    assert!(matches!(trainer.train(&examples(), |_| {}), Err(LocalError::Finetune { .. })));
}

#[test]
fn public_finetune_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<LoraTrainer>();
    check::<LoraConfig>();
    check::<ChatExample>();
    check::<kestrel_local::finetune::TrainReport>();
    check::<kestrel_local::finetune::StepProgress>();
}
