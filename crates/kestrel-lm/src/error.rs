//! [`LmError`]: everything that can go wrong between a prompt and a parsed
//! prediction, with the provider's own message kept.

use std::time::Duration;

use kestrel_core::{AdapterParseError, CoreError};

/// Errors of the LM layer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LmError {
    /// No LM was given to the predictor, none is in scope and no process
    /// default is set.
    #[error(
        "no LM configured: give the predictor an LM, wrap the call in `with_lm(lm, ...)`, or set a process default with `set_default_lm`"
    )]
    NotConfigured,
    /// A model string or builder setting is invalid (unknown provider prefix,
    /// missing API key...). The message says what to set.
    #[error("LM configuration: {0}")]
    Config(String),
    /// HTTP 429: the provider asks us to slow down.
    #[error("rate limited by {model}{}: {message}", retry_after_text(*.retry_after))]
    RateLimited {
        /// The model that was asked.
        model: String,
        /// The provider's message.
        message: String,
        /// The provider's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The request (or the connection) timed out.
    #[error("request to {model} timed out: {message}")]
    Timeout {
        /// The model that was asked.
        model: String,
        /// What timed out.
        message: String,
    },
    /// The connection failed or was dropped before a full response arrived.
    #[error("connection to {model} failed: {message}")]
    Connection {
        /// The model that was asked.
        model: String,
        /// The transport's message.
        message: String,
    },
    /// HTTP 401/403: the key is missing, wrong or not allowed.
    #[error("authentication with {model} failed: {message}")]
    Auth {
        /// The model that was asked.
        model: String,
        /// The provider's message.
        message: String,
    },
    /// The prompt does not fit the model's context window.
    #[error("context window of {model} exceeded: {message}")]
    ContextWindowExceeded {
        /// The model that was asked.
        model: String,
        /// The provider's message.
        message: String,
    },
    /// HTTP 400/404/422: the provider rejected the request as invalid.
    #[error("{model} rejected the request ({status}): {message}")]
    BadRequest {
        /// The model that was asked.
        model: String,
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// HTTP 5xx: the provider failed.
    #[error("{model} server error ({status}){}: {message}", retry_after_text(*.retry_after))]
    Server {
        /// The model that was asked.
        model: String,
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
        /// The provider's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The provider answered, but the body could not be read (truncated or
    /// malformed JSON, missing fields).
    #[error("bad response from {model}: {message}")]
    BadResponse {
        /// The model that was asked.
        model: String,
        /// What was wrong.
        message: String,
    },
    /// Any other provider failure; `message` keeps its words.
    #[error("LM provider error ({model}): {message}")]
    Provider {
        /// The model that was asked.
        model: String,
        /// The provider's message.
        message: String,
    },
    /// The provider answered with no completion.
    #[error("LM {model} returned no completion")]
    EmptyResponse {
        /// The model that was asked.
        model: String,
    },
    /// A `Retrieve` module has no retriever of its own and none is in scope.
    #[error(
        "no retriever configured: give the Retrieve module a retriever, or wrap the call in `with_retriever(retriever, ...)`"
    )]
    NoRetriever,
    /// A retriever could not answer: a bad `k` or corpus, mismatched
    /// embedding dimensions, or a retrieval server's own error body.
    #[error("retriever {retriever}: {message}")]
    Retrieval {
        /// The retriever (`embeddings`, `bm25`, `colbertv2 <url>`).
        retriever: String,
        /// What was wrong.
        message: String,
    },
    /// The reply could not be parsed (after the JSON fallback, if enabled).
    /// Boxed: it carries the raw completion.
    #[error(transparent)]
    Parse(Box<AdapterParseError>),
    /// A budget in scope (`kestrel_lm::with_budget`) is spent: the call was
    /// not sent. Never retried.
    #[error("LM call refused: {0}")]
    BudgetExhausted(crate::budget::BudgetExceeded),
    /// A fine-tuning job ended without a usable model: it failed, was
    /// cancelled, or succeeded without naming one. `status` is the
    /// provider's own status word.
    #[error("fine-tuning job {job_id} ({backend}) ended {status}: {message}")]
    Finetune {
        /// The backend (`openai http://…/v1`, `local`).
        backend: String,
        /// The provider's job id.
        job_id: String,
        /// The job's last status (`failed`, `cancelled`, `succeeded`).
        status: String,
        /// The provider's error message, or what was missing.
        message: String,
    },
    /// Training data that breaks its format (DSPy's `validate_data_format`:
    /// the first bad record and what is wrong), or a format the backend
    /// cannot train on.
    #[error("fine-tuning data: {0}")]
    FinetuneData(String),
    /// A core error (missing inputs, conversion...).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A callback in scope failed under
    /// [`crate::callback::CallbackErrorPolicy::Fail`].
    #[error(transparent)]
    Callback(#[from] crate::callback::CallbackError),
}

impl LmError {
    /// True for failures worth retrying with backoff: rate limits, server
    /// errors, timeouts, dropped connections and unreadable bodies. Auth,
    /// bad requests and context-window errors fail at once.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LmError::RateLimited { .. }
                | LmError::Server { .. }
                | LmError::Timeout { .. }
                | LmError::Connection { .. }
                | LmError::BadResponse { .. }
        )
    }

    /// The delay the provider asked for (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LmError::RateLimited { retry_after, .. } | LmError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

fn retry_after_text(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (retry after {:.1}s)", d.as_secs_f64()),
        None => String::new(),
    }
}

impl From<AdapterParseError> for LmError {
    fn from(e: AdapterParseError) -> Self {
        LmError::Parse(Box::new(e))
    }
}
