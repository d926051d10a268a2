//! [`EvalError`]: the one error type of `kestrel-eval` (metrics, evaluation,
//! datasets and exports).

use std::path::PathBuf;
use std::sync::Arc;

use kestrel_modules::ModuleError;

/// Everything that can go wrong in `kestrel-eval`.
///
/// Cheap to clone (I/O errors are shared), so optimizers can keep the errors
/// they skip over in their reports.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// `Evaluate` was given no examples (DSPy 3.4.1 raises `ValueError` here).
    #[error("cannot evaluate on an empty devset")]
    EmptyDevset,
    /// A builder or function argument is out of range.
    #[error("invalid argument `{name}`: {message}")]
    InvalidArgument {
        /// The argument.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A metric needs a field the example or prediction does not have.
    #[error("the {on} has no field `{field}` (it has {available:?})")]
    MissingField {
        /// The field name.
        field: String,
        /// `"example"` or `"prediction"`.
        on: &'static str,
        /// The fields it does have.
        available: Vec<String>,
    },
    /// A field holds a value of a type the metric cannot use.
    #[error("field `{field}` of the {on} must be {expected}, got {got}")]
    FieldType {
        /// The field name.
        field: String,
        /// `"example"` or `"prediction"`.
        on: &'static str,
        /// What the metric accepts.
        expected: &'static str,
        /// The JSON value found (shortened).
        got: String,
    },
    /// A user metric failed (see [`EvalError::metric`]).
    #[error("metric failed: {0}")]
    Metric(String),
    /// A module call made by a metric (e.g. `SemanticF1`'s judge) failed.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// A callback in scope failed under
    /// [`kestrel_lm::CallbackErrorPolicy::Fail`].
    #[error(transparent)]
    Callback(#[from] kestrel_lm::CallbackError),
    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`"cannot read"`, `"cannot write"`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A dataset file is malformed at a given place.
    #[error("{}:{line}{}: {message}", path.display(), column.map(|c| format!(":{c}")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (for CSV: the line where the record starts).
        line: u64,
        /// 1-based column, when known.
        column: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// Results could not be serialized for export.
    #[error("cannot export results to {}: {message}", path.display())]
    Export {
        /// The target file.
        path: PathBuf,
        /// The serializer's message.
        message: String,
    },
}

impl EvalError {
    /// A failure of a user-written metric, with a message.
    pub fn metric(message: impl Into<String>) -> Self {
        EvalError::Metric(message.into())
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io { action, path: path.into(), source: Arc::new(source) }
    }

    pub(crate) fn invalid(name: &'static str, message: impl Into<String>) -> Self {
        EvalError::InvalidArgument { name, message: message.into() }
    }
}
