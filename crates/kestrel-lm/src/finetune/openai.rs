//! [`OpenAiFinetune`]: the OpenAI-compatible fine-tuning API over reqwest —
//! `POST {base}/files` (multipart, `purpose=fine-tune`), `POST
//! {base}/fine_tuning/jobs`, `GET {base}/fine_tuning/jobs/{id}` (and its
//! `/events`), `POST {base}/fine_tuning/jobs/{id}/cancel`, `DELETE
//! {base}/files/{id}` — as DSPy 3.4.1's `OpenAIProvider` drives it, each
//! request retried with Kestrel's [`RetryPolicy`] (429, 5xx, timeouts,
//! dropped connections) and every failure a typed [`LmError`] with the key
//! scrubbed.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{FinetuneBackend, FinetuneRequest, JobEvent, JobProgress, TrainDataFormat, TrainingStatus};
use crate::client::LmBuilder;
use crate::error::LmError;
use crate::lm::SharedLm;
use crate::providers::OpenAiProvider;
use crate::providers::http_errors::json_reply;
use crate::providers::secret::{check_key, redact};
use crate::providers::{DEFAULT_TIMEOUT, check_tls, env_var};
use crate::registry::LmConstructor;
use crate::retry::RetryPolicy;

/// DSPy's map from OpenAI's job status to [`TrainingStatus`]
/// (`validating_files` and `queued` are pending); `None` for a word it does
/// not know.
pub fn openai_status(status: &str) -> Option<TrainingStatus> {
    Some(match status {
        "validating_files" | "queued" => TrainingStatus::Pending,
        "running" => TrainingStatus::Running,
        "succeeded" => TrainingStatus::Succeeded,
        "failed" => TrainingStatus::Failed,
        "cancelled" => TrainingStatus::Cancelled,
        _ => return None,
    })
}

/// The OpenAI-compatible fine-tuning backend.
///
/// ```no_run
/// # use kestrel_lm::finetune::OpenAiFinetune;
/// let backend = OpenAiFinetune::new("http://127.0.0.1:8000/v1");
/// ```
pub struct OpenAiFinetune {
    name: String,
    base_url: String,
    api_key: Option<String>,
    timeout: Duration,
    retry: RetryPolicy,
    events_limit: u32,
    training_price_per_million: Option<f64>,
    lm_factory: Option<LmConstructor>,
    http: reqwest::Client,
}

impl OpenAiFinetune {
    /// A backend on `base_url` (up to and including `/v1`), no key, the
    /// default retry policy and timeout.
    pub fn new(base_url: impl Into<String>) -> Self {
        let base_url = base_url.into().trim().trim_end_matches('/').to_string();
        Self {
            name: format!("openai {base_url}"),
            base_url,
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            events_limit: 10,
            training_price_per_million: None,
            lm_factory: None,
            http: reqwest::Client::new(),
        }
    }

    /// From the environment, as [`OpenAiProvider::from_env`]: `OPENAI_BASE_URL`
    /// (default `https://api.openai.com/v1`) and `OPENAI_API_KEY`.
    pub fn from_env() -> Result<Self, LmError> {
        let base = env_var("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".to_string());
        let mut backend = Self::new(base);
        if let Some(key) = env_var("OPENAI_API_KEY") {
            backend = backend.api_key(key);
        }
        backend.check()?;
        Ok(backend)
    }

    /// Builder: the API key (`Authorization: Bearer …`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Builder: the time one request may take (default 600 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builder: how each request is retried (default: 3 retries, backoff
    /// from 1 s, `Retry-After` honoured).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Builder: how many of the newest job events each poll fetches
    /// (default 10; 0 fetches none).
    pub fn events_limit(mut self, limit: u32) -> Self {
        self.events_limit = limit;
        self
    }

    /// Builder: the price of a million trained tokens, so that a job's
    /// `trained_tokens` gives [`JobProgress::cost_usd`] (the API reports no
    /// cost).
    pub fn training_price_per_million(mut self, usd: f64) -> Self {
        self.training_price_per_million = Some(usd);
        self
    }

    /// Builder: how the trained model becomes an LM (default: an
    /// [`OpenAiProvider`] for it on the same base URL and key, with the
    /// default client layers — DSPy's `lm.copy(model=…)`).
    pub fn lm_factory(mut self, factory: LmConstructor) -> Self {
        self.lm_factory = Some(factory);
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn check(&self) -> Result<(), LmError> {
        check_tls(&self.base_url)?;
        if let Some(key) = &self.api_key {
            check_key(&self.name, key)?;
        }
        Ok(())
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, LmError> {
        let Some(key) = &self.api_key else { return Ok(request) };
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| LmError::Config(format!("the API key for {} cannot be sent as a header", self.name)))?;
        value.set_sensitive(true);
        Ok(request.header(reqwest::header::AUTHORIZATION, value))
    }

    /// One request, retried; `build` makes a fresh request per attempt.
    async fn send<F>(&self, build: F) -> Result<Value, LmError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.check()?;
        let result = self
            .retry
            .run(|| async {
                let request = self.authorized(build(&self.http).timeout(self.timeout))?;
                json_reply(request.send().await, &self.name).await
            })
            .await;
        result.map_err(|e| redact(e, self.api_key.as_deref()))
    }

    fn bad(&self, message: String) -> LmError {
        LmError::BadResponse { model: self.name.clone(), message }
    }

    async fn upload(&self, request: &FinetuneRequest) -> Result<String, LmError> {
        let bytes = request.data.to_jsonl();
        let file_name = request
            .data_path
            .file_name()
            .map_or_else(|| request.data.file_name(), |n| n.to_string_lossy().into_owned());
        let (content_type, body) = multipart(&file_name, &bytes);
        let url = format!("{}/files", self.base_url);
        let reply = self
            .send(|http| {
                http.post(&url).header(reqwest::header::CONTENT_TYPE, content_type.as_str()).body(body.clone())
            })
            .await?;
        str_field(&reply, "id").ok_or_else(|| self.bad(format!("the file upload returned no id: {reply}")))
    }

    async fn job(&self, job_id: &str) -> Result<Value, LmError> {
        let url = format!("{}/fine_tuning/jobs/{job_id}", self.base_url);
        self.send(|http| http.get(&url)).await
    }

    async fn events(&self, job_id: &str) -> Result<Vec<JobEvent>, LmError> {
        if self.events_limit == 0 {
            return Ok(Vec::new());
        }
        let url = format!("{}/fine_tuning/jobs/{job_id}/events?limit={}", self.base_url, self.events_limit);
        let reply = self.send(|http| http.get(&url)).await?;
        let mut events: Vec<JobEvent> = reply
            .get("data")
            .and_then(Value::as_array)
            .map(|data| {
                data.iter()
                    .map(|e| JobEvent {
                        id: str_field(e, "id").unwrap_or_default(),
                        created_at: e.get("created_at").and_then(Value::as_i64),
                        message: str_field(e, "message").unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        // The API lists newest first.
        events.reverse();
        Ok(events)
    }

    fn progress(&self, job: &Value) -> Result<JobProgress, LmError> {
        let id = str_field(job, "id").ok_or_else(|| self.bad(format!("a fine-tuning job without an id: {job}")))?;
        let word = str_field(job, "status").unwrap_or_default();
        let status = openai_status(&word)
            .ok_or_else(|| self.bad(format!("fine-tuning job {id} has an unknown status `{word}`")))?;
        let mut p = JobProgress::new(id, status, word);
        p.fine_tuned_model = str_field(job, "fine_tuned_model").filter(|m| !m.is_empty());
        p.trained_tokens = job.get("trained_tokens").and_then(Value::as_u64);
        p.cost_usd = p.trained_tokens.zip(self.training_price_per_million).map(|(t, usd)| t as f64 * usd / 1e6);
        p.error = job.get("error").and_then(|e| str_field(e, "message")).filter(|m| !m.is_empty());
        p.estimated_finish = job.get("estimated_finish").and_then(Value::as_i64);
        Ok(p)
    }
}

fn str_field(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A `multipart/form-data` body with `purpose=fine-tune` and the file.
fn multipart(file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "kestrel-finetune-6f1c2b9e8d4a";
    let safe_name: String = file_name.chars().filter(|c| !matches!(c, '"' | '\r' | '\n')).collect();
    let mut body = Vec::with_capacity(bytes.len() + 400);
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n").as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe_name}\"\r\n\
             Content-Type: application/jsonl\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl fmt::Debug for OpenAiFinetune {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiFinetune")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl FinetuneBackend for OpenAiFinetune {
    fn name(&self) -> &str {
        &self.name
    }

    fn supports(&self, format: TrainDataFormat) -> bool {
        matches!(format, TrainDataFormat::Chat | TrainDataFormat::Completion)
    }

    async fn start(&self, request: &FinetuneRequest) -> Result<JobProgress, LmError> {
        let model = request.base_model.strip_prefix("openai/").unwrap_or(&request.base_model).to_string();
        let file_id = self.upload(request).await?;
        let body = json!({
            "model": model,
            "training_file": file_id,
            "hyperparameters": Value::Object(request.train_kwargs.clone()),
        });
        let url = format!("{}/fine_tuning/jobs", self.base_url);
        let job = self.send(|http| http.post(&url).json(&body)).await?;
        self.progress(&job)
    }

    async fn poll(&self, job_id: &str) -> Result<JobProgress, LmError> {
        let job = self.job(job_id).await?;
        let mut progress = self.progress(&job)?;
        progress.events = self.events(job_id).await?;
        Ok(progress)
    }

    async fn cancel(&self, job_id: &str) -> Result<JobProgress, LmError> {
        let job = self.job(job_id).await?;
        let before = self.progress(&job)?;
        if before.status.is_terminal() {
            return Err(LmError::Finetune {
                backend: self.name.clone(),
                job_id: job_id.to_string(),
                status: before.provider_status,
                message: format!("Jobs that are complete cannot be canceled. Job with ID {job_id} is done."),
            });
        }
        let url = format!("{}/fine_tuning/jobs/{job_id}/cancel", self.base_url);
        let job = self.send(|http| http.post(&url)).await?;
        let after = self.progress(&job)?;
        // DSPy also deletes the uploaded file; a file already gone is fine.
        if let Some(file) = str_field(&job, "training_file") {
            let url = format!("{}/files/{file}", self.base_url);
            match self.send(|http| http.delete(&url)).await {
                Ok(_) | Err(LmError::BadRequest { status: 404, .. }) => {}
                Err(e) => tracing::warn!(error = %e, "deleting the training file of a cancelled job failed"),
            }
        }
        Ok(after)
    }

    fn finetuned_lm(&self, fine_tuned_model: &str) -> Result<SharedLm, LmError> {
        if let Some(factory) = &self.lm_factory {
            return factory(fine_tuned_model);
        }
        let mut provider = OpenAiProvider::new(fine_tuned_model).base_url(&self.base_url).timeout(self.timeout);
        if let Some(key) = &self.api_key {
            provider = provider.api_key(key);
        }
        Ok(LmBuilder::new(provider).build()?.into())
    }
}
