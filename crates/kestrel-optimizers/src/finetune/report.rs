//! The fine-tuning part of a [`crate::CompileReport`]: one entry per job
//! BootstrapFinetune ran (base model, records, training file, job id, the
//! fine-tuned model, trained tokens and cost when the backend reports them).

use std::path::PathBuf;

use serde::Serialize;

/// The jobs of one BootstrapFinetune compile, in start order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FinetuneReport {
    /// One per distinct (LM, data) pair.
    pub jobs: Vec<FinetuneJobReport>,
}

/// One fine-tuning job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FinetuneJobReport {
    /// The model trained (`openai/gpt-4o-mini`).
    pub base_model: String,
    /// The predictor whose calls made the data (`None`: all, `multitask`).
    pub predictor: Option<usize>,
    /// Training records.
    pub records: usize,
    /// The JSONL file written.
    pub data_path: PathBuf,
    /// The backend's job id.
    pub job_id: String,
    /// The trained model's name.
    pub fine_tuned_model: String,
    /// Tokens trained on, when reported.
    pub trained_tokens: Option<u64>,
    /// Cost in US dollars, when known.
    pub cost_usd: Option<f64>,
}

impl std::fmt::Display for FinetuneReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for job in &self.jobs {
            let predictor = job.predictor.map_or_else(|| "all predictors".to_string(), |i| format!("predictor {i}"));
            writeln!(
                f,
                "  job {} ({}, {predictor}): {} records -> {}",
                job.job_id, job.base_model, job.records, job.fine_tuned_model
            )?;
        }
        Ok(())
    }
}
