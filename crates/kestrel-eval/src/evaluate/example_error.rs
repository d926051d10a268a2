//! [`ExampleError`]: why one example failed — the program or the metric —
//! kept as the typed error, so callers can tell a rate limit from a parse
//! failure. Shown (and serialized in JSON/CSV reports) as text.

use kestrel_lm::LmError;
use kestrel_modules::ModuleError;
use serde::{Serialize, Serializer};

use crate::error::EvalError;

/// The failure of one example in an evaluation or an optimizer's run.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ExampleError {
    /// The program failed (LM error, unparsable reply, tool failure...).
    #[error("program error: {0}")]
    Program(ModuleError),
    /// The metric failed (a missing field, a judge call that failed...).
    #[error("metric error: {0}")]
    Metric(EvalError),
}

impl ExampleError {
    /// The LM-layer error at the root of this failure, if it is one
    /// (`LmError::RateLimited`, `LmError::Parse`, ...), looking through
    /// module wrappers (`AttemptsFailed`) and a metric's module call.
    pub fn lm_error(&self) -> Option<&LmError> {
        match self {
            ExampleError::Program(e) | ExampleError::Metric(EvalError::Module(e)) => lm_error_of(e),
            ExampleError::Metric(_) => None,
        }
    }

    /// The program's error, when the program failed.
    pub fn program_error(&self) -> Option<&ModuleError> {
        match self {
            ExampleError::Program(e) => Some(e),
            ExampleError::Metric(_) => None,
        }
    }

    /// The metric's error, when the metric failed.
    pub fn metric_error(&self) -> Option<&EvalError> {
        match self {
            ExampleError::Metric(e) => Some(e),
            ExampleError::Program(_) => None,
        }
    }
}

fn lm_error_of(error: &ModuleError) -> Option<&LmError> {
    match error {
        ModuleError::Lm(e) => Some(e),
        ModuleError::AttemptsFailed { last, .. } => lm_error_of(last),
        ModuleError::TooManyErrors { first, .. } => lm_error_of(first),
        _ => None,
    }
}

/// Errors compare by their text (the wrapped errors are not `PartialEq`).
impl PartialEq for ExampleError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other) && self.to_string() == other.to_string()
    }
}

/// Serialized as its text (`"program error: ..."`), as the reports show it.
impl Serialize for ExampleError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
