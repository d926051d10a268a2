//! [`Error`]: one error type for programs that use the facade, wrapping each
//! crate's own error.

/// Any Kestrel error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From `kestrel-core` (signature syntax, missing inputs, parsing...).
    #[error(transparent)]
    Core(#[from] kestrel_core::CoreError),
    /// From `kestrel-lm` (no LM configured, provider errors...).
    #[error(transparent)]
    Lm(#[from] kestrel_lm::LmError),
    /// From `kestrel-modules` (module calls, tools, save/load).
    #[error(transparent)]
    Module(#[from] kestrel_modules::ModuleError),
    /// From `kestrel-eval` (evaluation settings, datasets, metrics).
    #[error(transparent)]
    Eval(#[from] kestrel_eval::EvalError),
    /// From `kestrel-optimizers`.
    #[error(transparent)]
    Optimizer(#[from] kestrel_optimizers::OptimizerError),
}

/// Result alias using [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
