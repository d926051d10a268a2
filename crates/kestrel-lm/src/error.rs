//! [`LmError`]: everything that can go wrong between a prompt and a parsed
//! prediction.

use kestrel_core::{AdapterParseError, CoreError};

/// Errors of the LM layer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LmError {
    /// No LM was given to the predictor, none is in scope and no process
    /// default is set.
    #[error(
        "no LM configured: give the predictor an LM, wrap the call in `with_lm(lm, ...)`, or call `set_default_lm` once at start-up"
    )]
    NotConfigured,
    /// `set_default_lm` was called a second time.
    #[error("the process default LM is already set; use `with_lm` to override it for a task")]
    DefaultAlreadySet,
    /// The provider failed; `message` keeps its words.
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
    /// The reply could not be parsed (after the JSON fallback, if enabled).
    /// Boxed: it carries the raw completion.
    #[error(transparent)]
    Parse(Box<AdapterParseError>),
    /// A core error (missing inputs, conversion...).
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<AdapterParseError> for LmError {
    fn from(e: AdapterParseError) -> Self {
        LmError::Parse(Box::new(e))
    }
}
