//! What the optimizer runners of the like-for-like comparisons with Python
//! DSPy (`src/bin/{mipro,gepa,simba}_compare.rs`, driven by
//! `benches/dspy/compare_*.sh`) share: the flags every runner has (the same
//! as `dspy_bench.runner_parser` on the Python side), `auto` modes, the
//! serve-sim control port, the dataset's question examples and the LM
//! client on the external server.

use clap::ValueEnum;
use kestrel_core::Example;
use kestrel_eval::Dataset;
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{LmBuilder, LmClient, SharedLm};
use kestrel_optimizers::AutoMode;
use serde_json::Value;

use crate::MODEL;

/// The error type of the runners: anything, printed by `emit_result`.
pub type BoxError = Box<dyn std::error::Error>;

/// The flags of every optimizer runner (`#[command(flatten)]`).
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// OpenAI base URL, e.g. http://127.0.0.1:PORT/v1.
    #[arg(long)]
    pub base_url: String,
    /// serve-sim's control URL (`http://127.0.0.1:PORT/`): requests are read from its `/stats`.
    #[arg(long)]
    pub control: Option<String>,
    /// JSONL of {question, answer} (`cargo xtask serve-sim --write-dataset`; GEPA's also `how`: `--with-feedback`).
    #[arg(long)]
    pub dataset: String,
    /// Program calls in flight (DSPy's num_threads).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Training examples (the first ones of the dataset).
    #[arg(long, default_value_t = 100)]
    pub train: usize,
    /// Held-out dev examples (after the training ones, and GEPA's validation ones), scored after compiling.
    #[arg(long, default_value_t = 100)]
    pub dev: usize,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

impl ServerArgs {
    /// The dataset's examples (input `question`), at least `needed` of them;
    /// `splits` names the flags that need them in the error.
    pub fn examples(&self, needed: usize, splits: &str) -> Result<Vec<Example>, BoxError> {
        let examples = Dataset::jsonl(&self.dataset)?.with_inputs(["question"]).into_examples();
        if examples.len() < needed {
            return Err(format!("{} has too few examples for {splits}", self.dataset).into());
        }
        Ok(examples)
    }

    /// A client of the server's LM with a fresh memory-only cache (as DSPy's
    /// memory cache with the disk cache off), and the same as a `SharedLm`.
    pub fn lm(&self) -> Result<(LmClient, SharedLm), BoxError> {
        let provider = OpenAiProvider::new(MODEL).base_url(self.base_url.clone()).api_key("sk-bench");
        let client = LmBuilder::new(provider).cache(CacheConfig::memory_only()).build()?;
        let lm = SharedLm::new(client.clone());
        Ok((client, lm))
    }

    /// GET `{control}{route}` and parse the JSON body; `None` without `--control`.
    pub async fn control(&self, http: &reqwest::Client, route: &str) -> Result<Option<Value>, BoxError> {
        let Some(base) = &self.control else { return Ok(None) };
        let url = format!("{}/{route}", base.trim_end_matches('/'));
        let text = http.get(&url).send().await?.error_for_status()?.text().await?;
        Ok(Some(serde_json::from_str(&text)?))
    }
}

/// MIPROv2's and GEPA's `auto` mode.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Auto {
    /// `auto="light"`.
    Light,
    /// `auto="medium"`.
    Medium,
    /// `auto="heavy"`.
    Heavy,
}

impl From<Auto> for AutoMode {
    fn from(auto: Auto) -> Self {
        match auto {
            Auto::Light => AutoMode::Light,
            Auto::Medium => AutoMode::Medium,
            Auto::Heavy => AutoMode::Heavy,
        }
    }
}
