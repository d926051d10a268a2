//! The LoRA benchmark on the real SmolLM2-135M-Instruct (`#[ignore]`d; needs
//! `cargo xtask fetch-models smollm2` and the banking77 files in
//! `$KESTREL_DATA_DIR/banking77/`). Run it with
//! `flock /work/bench.lock cargo test --release -p kestrel-local --features finetune --test chat finetune_bench -- --ignored --nocapture`.
//!
//! The data is the xtask's `banking77-6` task: its six intents and its
//! signature (`text -> label: Literal[…]`, instructions and `text`
//! description), each example rendered as the ChatAdapter prompt plus the
//! ChatAdapter-formatted label reply — the chat-format data BootstrapFinetune
//! produces. Examples are taken per intent in file order (train from
//! `train.jsonl`, dev from `test.jsonl`; not the xtask's sha256 choice).
//! It prints the dev loss and the dev accuracy of greedy replies before and
//! after training, the training loss curve and the time.
//! Sizes from the environment: `KESTREL_FT_TRAIN` / `KESTREL_FT_DEV`
//! (examples per intent, default 50 / 10), `KESTREL_FT_EPOCHS` (1),
//! `KESTREL_FT_LR` (1e-3), `KESTREL_FT_RANK` (8), `KESTREL_FT_BATCH` (8).

use std::path::PathBuf;
use std::time::Instant;

use kestrel_core::{Adapter, ChatAdapter, Example, Message, SignatureSpec};
use kestrel_lm::LmRequest;
use kestrel_local::finetune::{ChatExample, LoraConfig, LoraTrainer};
use kestrel_local::{LocalLm, LocalLmOptions};
use serde_json::Value;

const INTENTS: [&str; 6] =
    ["card_arrival", "lost_or_stolen_card", "change_pin", "exchange_rate", "terminate_account", "age_limit"];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn signature() -> SignatureSpec {
    let quoted: Vec<String> = INTENTS.iter().map(|l| format!("'{l}'")).collect();
    let mut spec = SignatureSpec::parse(&format!("text -> label: Literal[{}]", quoted.join(", ")))
        .unwrap()
        .with_instructions("Classify the intent of a bank customer's message.");
    spec.field_mut("text").unwrap().desc = Some("a message from a bank customer".into());
    spec
}

/// `per_intent` (text, label) pairs of each intent, in file order, interleaved.
fn read(file: &str, per_intent: usize) -> Vec<(String, String)> {
    let dir = std::env::var_os("KESTREL_DATA_DIR").map_or_else(|| PathBuf::from("target/kestrel-data"), PathBuf::from);
    let text = std::fs::read_to_string(dir.join("banking77").join(file))
        .unwrap_or_else(|error| panic!("{file}: {error} (set KESTREL_DATA_DIR)"));
    let mut groups: Vec<Vec<(String, String)>> = vec![Vec::new(); INTENTS.len()];
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let label = record["label"].as_str().unwrap();
        if let Some(i) = INTENTS.iter().position(|l| *l == label) {
            if groups[i].len() < per_intent {
                groups[i].push((record["text"].as_str().unwrap().to_owned(), label.to_owned()));
            }
        }
    }
    (0..per_intent).flat_map(|k| groups.iter().filter_map(move |g| g.get(k).cloned())).collect()
}

fn example(text: &str, label: &str) -> Example {
    Example::from_pairs([("text", text), ("label", label)]).with_inputs(["text"])
}

/// The ChatAdapter prompt of `text` and, with a label, its reply appended.
fn chat(adapter: &ChatAdapter, signature: &SignatureSpec, text: &str, label: &str) -> (Vec<Message>, Message) {
    let prompt = adapter.format(signature, &[], &example(text, "").with_inputs(["text"])).unwrap();
    // the reply exactly as the adapter formats an assistant turn (a demo's)
    let with_demo = adapter.format(signature, &[example(text, label)], &example(text, "")).unwrap();
    let reply = with_demo.iter().find(|m| m.role == kestrel_core::Role::Assistant).unwrap().clone();
    (prompt, reply)
}

async fn accuracy(
    lm: &LocalLm,
    adapter: &ChatAdapter,
    signature: &SignatureSpec,
    dev: &[(Vec<Message>, String)],
) -> f64 {
    let mut correct = 0;
    for (prompt, label) in dev {
        let mut request = LmRequest::new(prompt.clone());
        request.temperature = Some(0.0);
        request.max_tokens = Some(48);
        let reply = lm.generate(&request).await.unwrap().response.completions[0].text.clone();
        let parsed = adapter.parse(signature, &reply).ok();
        if parsed.as_ref().and_then(|f| f.get("label")).and_then(Value::as_str) == Some(label.as_str()) {
            correct += 1;
        }
    }
    correct as f64 / dev.len() as f64
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs SmolLM2 (cargo xtask fetch-models smollm2) and banking77 in KESTREL_DATA_DIR; minutes in release"]
async fn lora_on_smollm2_banking77_6() {
    let model = kestrel_local::model_dir::model_dir().unwrap().join("smollm2");
    let (adapter, signature) = (ChatAdapter, signature());
    let make = |(text, label): (String, String)| {
        let (prompt, reply) = chat(&adapter, &signature, &text, &label);
        (prompt, reply, label)
    };
    let train: Vec<_> = read("train.jsonl", env_or("KESTREL_FT_TRAIN", 50)).into_iter().map(make).collect();
    let dev: Vec<_> = read("test.jsonl", env_or("KESTREL_FT_DEV", 10)).into_iter().map(make).collect();
    let to_examples = |rows: &[(Vec<Message>, Message, String)]| -> Vec<ChatExample> {
        rows.iter()
            .map(|(prompt, reply, _)| {
                let mut messages = prompt.clone();
                messages.push(reply.clone());
                ChatExample::new(messages).unwrap()
            })
            .collect()
    };
    let (train_examples, dev_examples) = (to_examples(&train), to_examples(&dev));
    let dev_prompts: Vec<(Vec<Message>, String)> = dev.iter().map(|(p, _, l)| (p.clone(), l.clone())).collect();
    let config = LoraConfig::default()
        .rank(env_or("KESTREL_FT_RANK", 8))
        .alpha(16.0)
        .learning_rate(env_or("KESTREL_FT_LR", 1e-3))
        .epochs(env_or("KESTREL_FT_EPOCHS", 1))
        .batch_size(env_or("KESTREL_FT_BATCH", 8))
        .seed(0);
    println!("config: {config:?}");
    let started = Instant::now();
    let mut trainer = LoraTrainer::new(&model, config).unwrap();
    println!("load + dequantize: {:.1?}", started.elapsed());
    let started = Instant::now();
    let dev_before = trainer.loss(&dev_examples).unwrap();
    println!("dev loss before: {dev_before:.4} ({} examples, {:.1?})", dev_examples.len(), started.elapsed());
    let report = trainer
        .train(&train_examples, |step| {
            println!("step {}/{} loss {:.4} at {:.1?}", step.step, step.total_steps, step.loss, step.elapsed)
        })
        .unwrap();
    let dev_after = trainer.loss(&dev_examples).unwrap();
    let out = std::env::temp_dir().join("kestrel-lora-smollm2-banking77-6");
    trainer.save_adapter(&out).unwrap();
    let seconds = report.elapsed.as_secs_f64();
    println!(
        "train: {} examples ({} skipped), {} tokens ({} assistant) per epoch, {} steps in {seconds:.1} s ({:.1} tokens/s)",
        report.examples,
        report.skipped,
        report.tokens,
        report.target_tokens,
        report.losses.len(),
        report.tokens as f64 * trainer.config().epochs as f64 / seconds
    );
    let n = report.losses.len().min(5);
    let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len().max(1) as f32;
    println!(
        "train loss: first {n} steps {:.4}, last {n} steps {:.4}",
        mean(&report.losses[..n]),
        mean(&report.losses[report.losses.len() - n..])
    );
    println!("dev loss: {dev_before:.4} -> {dev_after:.4}");
    let options = || LocalLmOptions::default().constrained(false);
    let base = LocalLm::load(&model, options()).unwrap();
    let before = accuracy(&base, &adapter, &signature, &dev_prompts).await;
    drop(base);
    let tuned = LocalLm::load(&model, options().lora_adapter(&out)).unwrap();
    let after = accuracy(&tuned, &adapter, &signature, &dev_prompts).await;
    println!("dev accuracy (greedy, unconstrained): {before:.3} -> {after:.3}; adapter in {}", out.display());
    assert!(dev_after < dev_before, "training did not lower the dev loss");
}
