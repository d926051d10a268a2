//! [`LocalFinetune`]: the LoRA trainer as a
//! [`FinetuneBackend`] — each job trains on its own blocking thread, reports
//! its step losses as events, stops between steps when cancelled, and saves
//! its PEFT adapter under the fine-tune directory; the fine-tuned model is
//! the base [`LocalLm`] with that adapter merged.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use kestrel_core::Message;
use kestrel_lm::finetune::{
    FinetuneBackend, FinetuneRequest, JobEvent, JobProgress, TrainDataFormat, TrainingStatus, finetune_dir,
};
use kestrel_lm::{LmError, SharedLm};
use serde_json::{Map, Value};

use super::{ChatExample, LoraConfig, LoraTrainer, StepProgress};
use crate::chat::lm::model_path;
use crate::model_dir::PREFIX;
use crate::{LocalLm, LocalLmOptions};

/// The backend's name in errors and reports.
const NAME: &str = "local";
/// What separates the base model from the job id in a fine-tuned model's
/// name: `local/<base>:lora-<job id>`.
const LORA_TAG: &str = ":lora-";

/// LoRA fine-tuning of local GGUF chat models as a [`FinetuneBackend`].
///
/// - `start` checks the request (chat-format records, `train_kwargs`, a
///   model file that exists) and returns a `pending` job at once; the
///   training runs on a thread of its own (`running`, one [`JobEvent`] per
///   optimizer step: `step 3/24 epoch 0 loss 1.2345`), then saves the
///   adapter in `<dir>/<job id>/` and `succeeds` with the model
///   `local/<base>:lora-<job id>`.
/// - `cancel` marks the job `cancelled` (its provider status is
///   `cancelling` until the thread stops after its current step, then
///   `cancelled`); no adapter is saved.
/// - `finetuned_lm` loads the base model with the adapter merged
///   ([`LocalLmOptions::lora_adapter`]).
///
/// `train_kwargs` (DSPy's names or short ones; anything else is
/// [`LmError::Config`]): `num_train_epochs` / `epochs` / `n_epochs`,
/// `per_device_train_batch_size` / `batch_size`, `learning_rate` / `lr`,
/// `lora_r` / `rank` / `r`, `lora_alpha` / `alpha`, `lora_dropout` /
/// `dropout`, `seed`, `max_seq_length` / `max_seq_len`, `target_modules`
/// (PEFT names). Unset keys take the backend's [`LoraConfig`].
#[derive(Debug)]
pub struct LocalFinetune {
    dir: PathBuf,
    config: LoraConfig,
    lm_options: LocalLmOptions,
    jobs: Mutex<HashMap<String, Arc<Job>>>,
    counter: AtomicU64,
}

/// One job's shared state (the trainer thread writes, polls read).
#[derive(Debug)]
struct Job {
    base_model: String,
    base_path: PathBuf,
    adapter_dir: PathBuf,
    progress: Mutex<JobProgress>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Default for LocalFinetune {
    fn default() -> Self {
        Self::new(finetune_dir())
    }
}

impl LocalFinetune {
    /// A backend saving adapters under `dir` (DSPy's fine-tune directory by
    /// [`Default`]), with [`LoraConfig::default`] for unset `train_kwargs`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            config: LoraConfig::default(),
            lm_options: LocalLmOptions::default(),
            jobs: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
        }
    }

    /// Builder: the configuration `train_kwargs` start from.
    #[must_use]
    pub fn config(mut self, config: LoraConfig) -> Self {
        self.config = config;
        self
    }

    /// Builder: engine options of the fine-tuned [`LocalLm`]s (the adapter
    /// is set by the backend).
    #[must_use]
    pub fn lm_options(mut self, options: LocalLmOptions) -> Self {
        self.lm_options = options;
        self
    }

    /// Where the adapter of job `job_id` is saved.
    pub fn adapter_dir(&self, job_id: &str) -> PathBuf {
        self.dir.join(job_id)
    }

    fn job(&self, job_id: &str) -> Result<Arc<Job>, LmError> {
        lock(&self.jobs)
            .get(job_id)
            .cloned()
            .ok_or_else(|| LmError::Config(format!("{NAME}: no fine-tuning job `{job_id}`")))
    }
}

/// The [`LoraConfig`] `base` with `train_kwargs` applied.
fn apply_kwargs(base: &LoraConfig, kwargs: &Map<String, Value>) -> Result<LoraConfig, LmError> {
    let mut config = base.clone();
    for (key, value) in kwargs {
        let bad = |what: &str| LmError::Config(format!("{NAME} train_kwargs `{key}`: expected {what}, got {value}"));
        let count = || value.as_u64().and_then(|v| usize::try_from(v).ok()).ok_or_else(|| bad("a whole number"));
        let real = || value.as_f64().ok_or_else(|| bad("a number"));
        match key.as_str() {
            "num_train_epochs" | "epochs" | "n_epochs" => config.epochs = count()?,
            "per_device_train_batch_size" | "batch_size" => config.batch_size = count()?,
            "learning_rate" | "lr" => config.learning_rate = real()?,
            "lora_r" | "rank" | "r" => config.rank = count()?,
            "lora_alpha" | "alpha" => config.alpha = real()?,
            "lora_dropout" | "dropout" => config.dropout = real()?,
            "seed" => config.seed = value.as_u64().ok_or_else(|| bad("a whole number"))?,
            "max_seq_length" | "max_seq_len" => config.max_seq_len = count()?,
            "target_modules" => {
                config.target_modules = value
                    .as_array()
                    .and_then(|items| items.iter().map(|m| m.as_str().map(str::to_owned)).collect())
                    .ok_or_else(|| bad("a list of module names"))?;
            }
            _ => return Err(LmError::Config(format!("{NAME}: unknown train_kwargs key `{key}`"))),
        }
    }
    Ok(config)
}

/// The request's records as conversations (each must end with the
/// assistant reply): [`LmError::FinetuneData`] naming the first bad one.
fn examples(request: &FinetuneRequest) -> Result<Vec<ChatExample>, LmError> {
    if request.data.format() != TrainDataFormat::Chat {
        return Err(LmError::FinetuneData(format!("{NAME} trains on chat data, not {}", request.data.format())));
    }
    let examples = request
        .data
        .records()
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let bad = |message: String| LmError::FinetuneData(format!("record {i}: {message}"));
            let messages = record.get("messages").cloned().ok_or_else(|| bad("no `messages`".to_owned()))?;
            let messages: Vec<Message> =
                serde_json::from_value(messages).map_err(|error| bad(format!("messages: {error}")))?;
            ChatExample::new(messages).map_err(|error| bad(error.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if examples.is_empty() {
        return Err(LmError::FinetuneData("no training records".to_owned()));
    }
    Ok(examples)
}

#[async_trait]
impl FinetuneBackend for LocalFinetune {
    fn name(&self) -> &str {
        NAME
    }

    fn supports(&self, format: TrainDataFormat) -> bool {
        format == TrainDataFormat::Chat
    }

    async fn start(&self, request: &FinetuneRequest) -> Result<JobProgress, LmError> {
        let examples = examples(request)?;
        let config = apply_kwargs(&self.config, &request.train_kwargs)?;
        let base_model = if request.base_model.starts_with(PREFIX) {
            request.base_model.clone()
        } else {
            format!("{PREFIX}{}", request.base_model)
        };
        let base_path = model_path(&base_model)?;
        crate::chat::lm::gguf_in(&base_path)?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let job_id = format!("ftjob-{nanos:x}-{n}");
        let progress = JobProgress::new(&job_id, TrainingStatus::Pending, "pending");
        let job = Arc::new(Job {
            base_model,
            base_path,
            adapter_dir: self.adapter_dir(&job_id),
            progress: Mutex::new(progress.clone()),
        });
        lock(&self.jobs).insert(job_id.clone(), Arc::clone(&job));
        std::thread::Builder::new()
            .name(format!("kestrel-lora {job_id}"))
            .spawn(move || run(&job, config, &examples))
            .map_err(|error| LmError::Config(format!("{NAME}: cannot start a training thread: {error}")))?;
        Ok(progress)
    }

    async fn poll(&self, job_id: &str) -> Result<JobProgress, LmError> {
        Ok(lock(&self.job(job_id)?.progress).clone())
    }

    async fn cancel(&self, job_id: &str) -> Result<JobProgress, LmError> {
        let job = self.job(job_id)?;
        let mut progress = lock(&job.progress);
        if progress.status.is_terminal() {
            return Err(LmError::Finetune {
                backend: NAME.to_owned(),
                job_id: job_id.to_owned(),
                status: progress.provider_status.clone(),
                message: "the job has already ended and cannot be cancelled".to_owned(),
            });
        }
        progress.status = TrainingStatus::Cancelled;
        progress.provider_status = "cancelling".to_owned();
        Ok(progress.clone())
    }

    fn finetuned_lm(&self, fine_tuned_model: &str) -> Result<SharedLm, LmError> {
        let unknown = || LmError::Config(format!("{NAME}: `{fine_tuned_model}` is not a model this backend trained"));
        let (base, job_id) = fine_tuned_model.rsplit_once(LORA_TAG).ok_or_else(unknown)?;
        let (base_path, adapter_dir) = match lock(&self.jobs).get(job_id) {
            Some(job) if job.base_model == base => (job.base_path.clone(), job.adapter_dir.clone()),
            Some(_) => return Err(unknown()),
            // a job of an earlier process: its adapter is where this backend saves them
            None => (model_path(base)?, self.adapter_dir(job_id)),
        };
        let options = self.lm_options.clone().lora_adapter(&adapter_dir);
        let lm = LocalLm::load_as(fine_tuned_model.to_owned(), &base_path, options)?;
        Ok(SharedLm::new(lm))
    }
}

/// The training thread: load, train (stopping when cancelled), save.
fn run(job: &Job, config: LoraConfig, examples: &[ChatExample]) {
    let cancelled = || lock(&job.progress).status == TrainingStatus::Cancelled;
    let train = || -> Result<Option<usize>, crate::LocalError> {
        let mut trainer = LoraTrainer::new(&job.base_path, config)?;
        {
            let mut progress = lock(&job.progress);
            if progress.status == TrainingStatus::Cancelled {
                return Ok(None);
            }
            progress.status = TrainingStatus::Running;
            progress.provider_status = "running".to_owned();
        }
        let report = trainer.train_while(examples, |step: &StepProgress| {
            let mut progress = lock(&job.progress);
            progress.events.push(JobEvent {
                id: format!("step-{}", step.step),
                created_at: Some(unix_now()),
                message: format!("step {}/{} epoch {} loss {:.4}", step.step, step.total_steps, step.epoch, step.loss),
            });
            progress.status != TrainingStatus::Cancelled
        })?;
        if report.stopped_early || cancelled() {
            return Ok(None);
        }
        trainer.save_adapter(&job.adapter_dir)?;
        Ok(Some(report.target_tokens * trainer.config().epochs))
    };
    // A panic inside candle must not leave the job `running` forever.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(train))
        .unwrap_or_else(|_| Err(crate::LocalError::Finetune { message: "the training thread panicked".to_owned() }));
    let mut progress = lock(&job.progress);
    match outcome {
        _ if progress.status == TrainingStatus::Cancelled => progress.provider_status = "cancelled".to_owned(),
        Ok(None) => {
            progress.status = TrainingStatus::Cancelled;
            progress.provider_status = "cancelled".to_owned();
        }
        Ok(Some(tokens)) => {
            progress.status = TrainingStatus::Succeeded;
            progress.provider_status = "succeeded".to_owned();
            progress.trained_tokens = u64::try_from(tokens).ok();
            progress.fine_tuned_model = Some(format!("{}{LORA_TAG}{}", job.base_model, progress.job_id));
        }
        Err(error) => {
            progress.status = TrainingStatus::Failed;
            progress.provider_status = "failed".to_owned();
            progress.error = Some(error.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kwargs_map_to_the_config_and_unknown_keys_are_errors() {
        let kwargs: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "num_train_epochs": 3, "per_device_train_batch_size": 2, "learning_rate": 0.01,
            "lora_r": 4, "lora_alpha": 8, "seed": 9, "max_seq_length": 64, "target_modules": ["q_proj"]
        }))
        .unwrap();
        let config = apply_kwargs(&LoraConfig::default(), &kwargs).unwrap();
        assert_eq!(
            config,
            LoraConfig::default()
                .epochs(3)
                .batch_size(2)
                .learning_rate(0.01)
                .rank(4)
                .alpha(8.0)
                .seed(9)
                .max_seq_len(64)
                .target_modules(["q_proj"])
        );
        for bad in
            [serde_json::json!({"warmup": 1}), serde_json::json!({"epochs": "two"}), serde_json::json!({"rank": -1})]
        {
            let kwargs: Map<String, Value> = serde_json::from_value(bad).unwrap();
            assert!(matches!(apply_kwargs(&LoraConfig::default(), &kwargs), Err(LmError::Config(_))));
        }
    }
}
