//! [`OptimizerError`]: why a compile could not produce a program.

use kestrel_eval::EvalError;
use kestrel_modules::ModuleError;

/// Errors of `kestrel-optimizers`.
///
/// Failures of single training or validation examples are not errors: they
/// are counted against the optimizer's error budget and listed in the
/// [`crate::CompileReport`]. These are the failures that leave nothing to
/// return.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum OptimizerError {
    /// A module-level failure outside any single example (predictor access,
    /// a signature that cannot be set...).
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// Evaluation failed as a whole.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A builder argument is out of range (a zero count).
    #[error("invalid argument `{name}`: {message}")]
    InvalidArgument {
        /// The argument (the builder's name).
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The optimizer's settings are inconsistent.
    #[error("optimizer configuration: {0}")]
    Config(String),
    /// A report file could not be written.
    #[error("writing {}: {message}", path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        message: String,
    },
    /// A resumable compile was cancelled (Ctrl-C): in-flight work was
    /// dropped, finished work is in the journal and the LM cache.
    #[error("interrupted; finished work is kept in the journal {}: run the same command again to resume", journal.display())]
    Interrupted {
        /// The run's journal.
        journal: std::path::PathBuf,
    },
    /// A fine-tuning job could not be started or ended without a model
    /// (BootstrapFinetune).
    #[error("fine-tuning: {0}")]
    Finetune(kestrel_lm::LmError),
    /// The teacher program does not have the student's structure.
    #[error("teacher and student differ: {0}")]
    Structure(String),
}
