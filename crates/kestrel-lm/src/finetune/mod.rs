//! Fine-tuning: the interface a training backend implements, the way
//! inference has [`crate::Lm`].
//!
//! - [`FinetuneBackend`]: start a job from [`TrainingData`], poll it, cancel
//!   it, and turn the trained model's name into a [`SharedLm`]. The
//!   OpenAI-compatible backend ([`OpenAiFinetune`], feature `openai`) is
//!   here; a local trainer implements the same trait in its own crate
//!   (its job ids and model names are its own: an adapter directory, say).
//! - [`FinetuneJob`]: a started job — [`FinetuneJob::poll`],
//!   [`FinetuneJob::cancel`], [`FinetuneJob::wait`] (polls until the job
//!   ends; a finished job gives a [`FinetunedModel`], a failed or cancelled
//!   one [`LmError::Finetune`]).
//! - [`start_finetune`]: DSPy's `LM.finetune` — check the data, write it
//!   where DSPy writes it ([`finetune_dir`], DSPy's file name), start the job.
//! - [`TrainingStatus`]: DSPy's `TrainingStatus`, and [`JobProgress`]: status,
//!   the provider's own status word, events, trained tokens and cost where
//!   the backend knows them.

mod data;
mod job;
#[cfg(feature = "openai")]
mod openai;
mod pickle_hash;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

pub use data::{FINETUNE_DIR_ENV, TrainDataFormat, TrainingData, finetune_dir};
pub use job::{FinetuneJob, FinetunedModel, start_finetune};
#[cfg(feature = "openai")]
pub use openai::{OpenAiFinetune, openai_status};

use crate::error::LmError;
use crate::lm::SharedLm;

/// A job's state, as DSPy's `TrainingStatus` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrainingStatus {
    /// No job.
    NotStarted,
    /// Accepted, not training yet (OpenAI: `validating_files`, `queued`).
    Pending,
    /// Training.
    Running,
    /// Done; the model is ready.
    Succeeded,
    /// Ended in error.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl TrainingStatus {
    /// DSPy's value (`not_started`, `pending`, `running`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            TrainingStatus::NotStarted => "not_started",
            TrainingStatus::Pending => "pending",
            TrainingStatus::Running => "running",
            TrainingStatus::Succeeded => "succeeded",
            TrainingStatus::Failed => "failed",
            TrainingStatus::Cancelled => "cancelled",
        }
    }

    /// Succeeded, failed or cancelled: polling again changes nothing.
    pub fn is_terminal(self) -> bool {
        matches!(self, TrainingStatus::Succeeded | TrainingStatus::Failed | TrainingStatus::Cancelled)
    }
}

impl fmt::Display for TrainingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event a backend reported for a job (OpenAI's job events; a local
/// trainer's step losses).
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    /// The backend's event id.
    pub id: String,
    /// Unix seconds, when known.
    pub created_at: Option<i64>,
    /// The event's text.
    pub message: String,
}

/// What a backend knows about a job at one poll.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobProgress {
    /// The backend's job id.
    pub job_id: String,
    /// The status, mapped as DSPy maps it.
    pub status: TrainingStatus,
    /// The backend's own status word (`validating_files`, `queued`, …).
    pub provider_status: String,
    /// The trained model's name, once the job has succeeded.
    pub fine_tuned_model: Option<String>,
    /// Events so far, oldest first (as many as the backend returns).
    pub events: Vec<JobEvent>,
    /// Tokens trained on, when the backend reports them.
    pub trained_tokens: Option<u64>,
    /// Cost in US dollars, when the backend reports it.
    pub cost_usd: Option<f64>,
    /// The backend's error message for a failed job.
    pub error: Option<String>,
    /// Unix seconds at which the backend expects the job to end.
    pub estimated_finish: Option<i64>,
}

impl JobProgress {
    /// A progress record with only the id and status set.
    pub fn new(job_id: impl Into<String>, status: TrainingStatus, provider_status: impl Into<String>) -> Self {
        Self {
            job_id: job_id.into(),
            status,
            provider_status: provider_status.into(),
            fine_tuned_model: None,
            events: Vec::new(),
            trained_tokens: None,
            cost_usd: None,
            error: None,
            estimated_finish: None,
        }
    }
}

/// What a job is asked to train.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FinetuneRequest {
    /// The model to train, as the LM names it (`openai/gpt-4o-mini`); a
    /// backend strips its own prefix.
    pub base_model: String,
    /// The records, checked.
    pub data: TrainingData,
    /// Where [`start_finetune`] wrote them (the file a remote backend
    /// uploads).
    pub data_path: PathBuf,
    /// DSPy's `train_kwargs` (OpenAI sends them as `hyperparameters`).
    pub train_kwargs: Map<String, Value>,
}

impl FinetuneRequest {
    /// A request for `base_model` on `data` saved at `data_path`, with no
    /// training options.
    pub fn new(base_model: impl Into<String>, data: TrainingData, data_path: PathBuf) -> Self {
        Self { base_model: base_model.into(), data, data_path, train_kwargs: Map::new() }
    }

    /// Builder: DSPy's `train_kwargs`.
    pub fn train_kwargs(mut self, kwargs: Map<String, Value>) -> Self {
        self.train_kwargs = kwargs;
        self
    }
}

/// A fine-tuning backend: remote (OpenAI-compatible) or local.
///
/// Calls are single attempts or retried inside the backend as its transport
/// needs; every failure is a typed [`LmError`].
#[async_trait]
pub trait FinetuneBackend: Send + Sync + fmt::Debug {
    /// A short description for errors and reports (`openai http://…/v1`).
    fn name(&self) -> &str;

    /// Whether the backend trains on `format` (OpenAI: chat and completion).
    fn supports(&self, format: TrainDataFormat) -> bool;

    /// Start a job; the progress returned carries its id.
    async fn start(&self, request: &FinetuneRequest) -> Result<JobProgress, LmError>;

    /// The job's current progress.
    async fn poll(&self, job_id: &str) -> Result<JobProgress, LmError>;

    /// Cancel a job that has not ended (DSPy refuses to cancel a finished
    /// job: [`LmError::Finetune`]); returns the progress after cancelling.
    async fn cancel(&self, job_id: &str) -> Result<JobProgress, LmError>;

    /// An LM answering as the trained model `fine_tuned_model` (the name a
    /// succeeded job reported).
    fn finetuned_lm(&self, fine_tuned_model: &str) -> Result<SharedLm, LmError>;
}

/// The handle programs and optimizers hold.
pub type SharedFinetuneBackend = Arc<dyn FinetuneBackend>;
