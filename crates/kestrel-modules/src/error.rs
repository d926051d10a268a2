//! [`ModuleError`]: errors of module calls and predictor access.

use kestrel_core::CoreError;
use kestrel_lm::LmError;

/// Errors of `kestrel-modules`.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleError {
    /// The LM layer failed (no LM, provider error, unparsable reply...).
    #[error(transparent)]
    Lm(#[from] LmError),
    /// A core error (missing inputs, conversion...).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// No predictor at this path.
    #[error("no predictor at path `{path}`; the program has {available:?}")]
    UnknownPredictor {
        /// The path asked for.
        path: String,
        /// The paths the program has.
        available: Vec<String>,
    },
    /// A new signature for a predictor does not have the same fields.
    #[error("signature for `{path}` does not match: expected fields {expected:?}, got {got:?}")]
    SignatureMismatch {
        /// The predictor's path.
        path: String,
        /// Its current field names.
        expected: Vec<String>,
        /// The field names given.
        got: Vec<String>,
    },
    /// A module-specific failure (the module names itself in the message).
    #[error("{module}: {message}")]
    Module {
        /// The module's name.
        module: String,
        /// What went wrong.
        message: String,
    },
}
