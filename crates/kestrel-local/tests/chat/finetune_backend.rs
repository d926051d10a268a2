//! The LoRA trainer as a `FinetuneBackend` (feature `finetune`) on the tiny
//! model: `start_finetune` → `wait` gives a fine-tuned LM that answers the
//! trained reply (also when reloaded by a fresh backend from its name);
//! cancelling stops the training between steps and saves nothing; bad data,
//! options and models are typed errors, a failing run a failed job.

use std::time::{Duration, Instant};

use kestrel_lm::finetune::{JobProgress, TrainDataFormat, TrainingData, TrainingStatus, start_finetune};
use kestrel_lm::{FinetuneJob, LmError, SharedFinetuneBackend};
use kestrel_local::LocalLmOptions;
use kestrel_local::finetune::LocalFinetune;
use serde_json::{Map, Value, json};
use tempfile::TempDir;

use super::request;
use super::tiny_model::write_tiny_model;

const REPLY: &str = "hello world";

fn data() -> TrainingData {
    let records = ["hi", "hey", "yo", "hello", "sup"]
        .iter()
        .map(|user| {
            json!({"messages": [
                {"role": "system", "content": "Answer."},
                {"role": "user", "content": user},
                {"role": "assistant", "content": REPLY},
            ]})
        })
        .collect();
    TrainingData::new(TrainDataFormat::Chat, records).unwrap()
}

fn kwargs(epochs: u64) -> Map<String, Value> {
    let value = json!({
        "num_train_epochs": epochs, "per_device_train_batch_size": 2, "learning_rate": 0.02,
        "lora_r": 4, "lora_alpha": 8, "seed": 7, "max_seq_length": 128,
    });
    serde_json::from_value(value).unwrap()
}

fn backend(dir: &TempDir) -> SharedFinetuneBackend {
    let options = LocalLmOptions::default().constrained(false);
    std::sync::Arc::new(LocalFinetune::new(dir.path().join("ft")).lm_options(options))
}

/// Polls until `done` holds (or fails the test after 60 s).
async fn poll_until(job: &mut FinetuneJob, done: impl Fn(&JobProgress) -> bool) -> JobProgress {
    let start = Instant::now();
    loop {
        let progress = job.poll().await.unwrap().clone();
        if done(&progress) {
            return progress;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "timed out at {progress:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_finished_job_gives_a_local_lm_answering_the_trained_reply() {
    let dir = TempDir::new().unwrap();
    let model = write_tiny_model(dir.path(), "llama");
    let base = format!("local/{}", model.display());
    let backend = backend(&dir);
    let before = kestrel_local::LocalLm::load(&model, LocalLmOptions::default().constrained(false)).unwrap();
    let before = before.generate(&request("hi", 12)).await.unwrap().response.completions[0].text.clone();
    assert_ne!(before, REPLY);

    let job = start_finetune(backend.clone(), &base, data(), kwargs(8), Some(dir.path())).await.unwrap();
    assert_eq!(job.progress().status, TrainingStatus::Pending);
    assert!(job.data_path().is_file());
    let id = job.id().to_owned();
    let tuned = job.wait(Duration::from_millis(10)).await.unwrap();
    assert_eq!(tuned.model, format!("{base}:lora-{id}"));
    assert_eq!(tuned.progress.status, TrainingStatus::Succeeded);
    // 5 examples in batches of 2: 3 steps per epoch, one event per step
    assert_eq!(tuned.progress.events.len(), 24);
    assert!(tuned.progress.events[23].message.starts_with("step 24/24 epoch 7 loss "), "{:?}", tuned.progress.events);
    assert!(tuned.progress.trained_tokens.is_some_and(|t| t > 0));
    assert!(dir.path().join("ft").join(&id).join("adapter_model.safetensors").is_file());
    assert_eq!(tuned.lm.model(), tuned.model);
    let reply = tuned.lm.call(request("hi", 12)).await.unwrap().completions[0].text.clone();
    assert_eq!(reply, REPLY);

    // a fresh backend on the same directory loads the model by its name
    let again = self::backend(&dir).finetuned_lm(&tuned.model).unwrap();
    assert_eq!(again.call(request("hey", 12)).await.unwrap().completions[0].text, REPLY);
    assert!(matches!(self::backend(&dir).finetuned_lm("local/x:lora-nope"), Err(LmError::Config(_))));
    assert!(matches!(self::backend(&dir).finetuned_lm("openai/gpt-4o"), Err(LmError::Config(_))));
}

#[tokio::test]
async fn cancel_stops_training_between_steps_and_saves_no_adapter() {
    let dir = TempDir::new().unwrap();
    let model = write_tiny_model(dir.path(), "llama");
    let backend = backend(&dir);
    let base = format!("local/{}", model.display());
    // 1500 steps: far more than run before the cancel below
    let mut job = start_finetune(backend.clone(), &base, data(), kwargs(500), Some(dir.path())).await.unwrap();
    let running = poll_until(&mut job, |p| !p.events.is_empty()).await;
    assert_eq!(running.status, TrainingStatus::Running);
    let cancelled = job.cancel().await.unwrap().clone();
    assert_eq!(cancelled.status, TrainingStatus::Cancelled);
    let stopped = poll_until(&mut job, |p| p.provider_status == "cancelled").await;
    assert_eq!(stopped.status, TrainingStatus::Cancelled);
    let steps = stopped.events.len();
    assert!(steps < 1500, "{steps} steps ran");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(job.poll().await.unwrap().events.len(), steps, "training went on after cancelling");
    assert!(!dir.path().join("ft").join(job.id()).exists());
    // an ended job cannot be cancelled; waiting on it is the cancellation error
    assert!(matches!(job.cancel().await, Err(LmError::Finetune { .. })));
    match job.wait(Duration::from_millis(1)).await {
        Err(LmError::Finetune { status, .. }) => assert_eq!(status, "cancelled"),
        other => panic!("expected a cancelled job, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_data_options_and_models_are_typed_errors() {
    let dir = TempDir::new().unwrap();
    let model = write_tiny_model(dir.path(), "llama");
    let base = format!("local/{}", model.display());
    let backend = backend(&dir);
    let start = |data: TrainingData, kwargs: Map<String, Value>, base: String| {
        let backend = backend.clone();
        let dir = dir.path().to_owned();
        async move { start_finetune(backend, &base, data, kwargs, Some(&dir)).await.map(|job| job.id().to_owned()) }
    };
    // valid chat records, but the conversation does not end with the reply
    let no_reply =
        TrainingData::new(TrainDataFormat::Chat, vec![json!({"messages": [{"role": "user", "content": "hi"}]})])
            .unwrap();
    assert!(matches!(start(no_reply, kwargs(1), base.clone()).await, Err(LmError::FinetuneData(_))));
    let completion =
        TrainingData::new(TrainDataFormat::Completion, vec![json!({"prompt": "a", "completion": "b"})]).unwrap();
    assert!(matches!(start(completion, kwargs(1), base.clone()).await, Err(LmError::FinetuneData(_))));
    let mut unknown = kwargs(1);
    unknown.insert("warmup_ratio".to_owned(), json!(0.1));
    assert!(matches!(start(data(), unknown, base.clone()).await, Err(LmError::Config(_))));
    let missing = format!("local/{}", dir.path().join("absent.gguf").display());
    assert!(matches!(start(data(), kwargs(1), missing).await, Err(LmError::Config(_))));

    // a run that fails on its thread (every prompt is longer than 4 tokens)
    let mut short = kwargs(1);
    short.insert("max_seq_length".to_owned(), json!(4));
    let job = start_finetune(backend.clone(), &base, data(), short, Some(dir.path())).await.unwrap();
    match job.wait(Duration::from_millis(5)).await {
        Err(LmError::Finetune { status, message, .. }) => {
            assert_eq!(status, "failed");
            assert!(message.contains("max_seq_len"), "{message}");
        }
        other => panic!("expected a failed job, got {other:?}"),
    }
    // so does a bad setting found when the trainer starts (rank 0)
    let mut rank0 = kwargs(1);
    rank0.insert("lora_r".to_owned(), json!(0));
    let job = start_finetune(backend.clone(), &base, data(), rank0, Some(dir.path())).await.unwrap();
    assert!(matches!(job.wait(Duration::from_millis(5)).await, Err(LmError::Finetune { .. })));
    assert!(matches!(backend.poll("no-such-job").await, Err(LmError::Config(_))));
}

#[test]
fn the_backend_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<LocalFinetune>();
}
