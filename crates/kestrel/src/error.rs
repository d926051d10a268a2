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
    /// From `kestrel-modules`.
    #[error(transparent)]
    Module(#[from] kestrel_modules::ModuleError),
}

/// Result alias using [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
