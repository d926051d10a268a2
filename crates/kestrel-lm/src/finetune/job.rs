//! A started fine-tuning job ([`FinetuneJob`]) and DSPy's `LM.finetune`
//! ([`start_finetune`]): check, save, start; then poll until the job ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::{FinetuneRequest, JobProgress, SharedFinetuneBackend, TrainingData, TrainingStatus, finetune_dir};
use crate::error::LmError;
use crate::lm::SharedLm;

/// A trained model, usable as an LM.
#[derive(Debug, Clone)]
pub struct FinetunedModel {
    /// The name the backend gave it (`ft:gpt-4o-mini:org::abc123`).
    pub model: String,
    /// An LM answering as that model.
    pub lm: SharedLm,
    /// The job's last progress (events, trained tokens, cost).
    pub progress: JobProgress,
}

/// A job started on a backend.
#[derive(Debug, Clone)]
pub struct FinetuneJob {
    backend: SharedFinetuneBackend,
    progress: JobProgress,
    data_path: PathBuf,
}

/// DSPy's `LM.finetune(train_data, train_data_format, train_kwargs)` for the
/// LM named `base_model`: the backend must take the data's format, the
/// records are written to `dir` (default [`finetune_dir`]) under DSPy's file
/// name, and the job is started.
pub async fn start_finetune(
    backend: SharedFinetuneBackend,
    base_model: &str,
    data: TrainingData,
    train_kwargs: Map<String, Value>,
    dir: Option<&Path>,
) -> Result<FinetuneJob, LmError> {
    if !backend.supports(data.format()) {
        return Err(LmError::FinetuneData(format!(
            "{} does not support the data format {}",
            backend.name(),
            data.format()
        )));
    }
    let data_path = match dir {
        Some(dir) => data.save_in(dir)?,
        None => data.save_in(&finetune_dir())?,
    };
    tracing::info!(path = %data_path.display(), records = data.len(), model = base_model, "fine-tuning data saved");
    let request = FinetuneRequest::new(base_model, data, data_path.clone()).train_kwargs(train_kwargs);
    let progress = backend.start(&request).await?;
    tracing::info!(job = %progress.job_id, backend = backend.name(), "fine-tuning job started");
    Ok(FinetuneJob { backend, progress, data_path })
}

impl FinetuneJob {
    /// A handle on a job already started (by id), for polling or cancelling.
    pub fn resume(backend: SharedFinetuneBackend, job_id: impl Into<String>) -> Self {
        let progress = JobProgress::new(job_id, TrainingStatus::Pending, "");
        Self { backend, progress, data_path: PathBuf::new() }
    }

    /// The backend's job id.
    pub fn id(&self) -> &str {
        &self.progress.job_id
    }

    /// The progress seen at the last start, poll or cancel.
    pub fn progress(&self) -> &JobProgress {
        &self.progress
    }

    /// The training file (empty for a resumed job).
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// Ask the backend for the job's progress now.
    pub async fn poll(&mut self) -> Result<&JobProgress, LmError> {
        let id = self.progress.job_id.clone();
        self.progress = self.backend.poll(&id).await?;
        Ok(&self.progress)
    }

    /// Cancel the job (an ended job cannot be: [`LmError::Finetune`]).
    pub async fn cancel(&mut self) -> Result<&JobProgress, LmError> {
        let id = self.progress.job_id.clone();
        self.progress = self.backend.cancel(&id).await?;
        Ok(&self.progress)
    }

    /// Poll every `interval` until the job ends (DSPy polls every 20 s).
    /// A succeeded job with a model name gives the [`FinetunedModel`]; a
    /// failed or cancelled one, or a success naming no model, is
    /// [`LmError::Finetune`] with the backend's message.
    pub async fn wait(mut self, interval: Duration) -> Result<FinetunedModel, LmError> {
        let mut seen_events = 0;
        loop {
            if !self.progress.status.is_terminal() {
                tokio::time::sleep(interval).await;
                self.poll().await?;
            }
            for event in self.progress.events.iter().skip(seen_events) {
                tracing::info!(job = %self.progress.job_id, "{}", event.message);
            }
            seen_events = seen_events.max(self.progress.events.len());
            if self.progress.status.is_terminal() {
                return self.finish();
            }
        }
    }

    fn finish(self) -> Result<FinetunedModel, LmError> {
        let p = self.progress;
        let fail = |message: String| LmError::Finetune {
            backend: self.backend.name().to_string(),
            job_id: p.job_id.clone(),
            status: p.provider_status.clone(),
            message,
        };
        match (p.status, &p.fine_tuned_model) {
            (TrainingStatus::Succeeded, Some(model)) => {
                let lm = self.backend.finetuned_lm(model)?;
                Ok(FinetunedModel { model: model.clone(), lm, progress: p })
            }
            (TrainingStatus::Succeeded, None) => Err(fail("the job succeeded but named no fine-tuned model".into())),
            (status, _) => Err(fail(p.error.clone().unwrap_or_else(|| format!("job status is {status}")))),
        }
    }
}
