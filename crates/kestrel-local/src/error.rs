//! [`LocalError`]: what can go wrong loading or running a local model.

use std::path::PathBuf;

use kestrel_lm::LmError;

/// A local model failure. Converts into [`LmError`] (`Config` for a model
/// that cannot be found or loaded, `Provider` for a failure while running).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// The model string is not `local/<name>` or a path.
    #[error("`{model}` is not a local model string (expected `local/<name>` or a path)")]
    NotLocal {
        /// The model string given.
        model: String,
    },
    /// No model directory: neither `$KESTREL_MODEL_DIR` nor a user cache directory.
    #[error("no model directory: set KESTREL_MODEL_DIR or pass a path")]
    NoModelDir,
    /// A file the model needs is absent.
    #[error("missing model file {path} (fetch it with `cargo xtask fetch-models`, or pass the model's directory)")]
    MissingFile {
        /// The file looked for.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is there but malformed (bad JSON, not safetensors, wrong shapes).
    #[error("invalid model file {path}: {message}")]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A model's vocabulary is inconsistent (token types, EOS ids, sizes).
    #[error("invalid vocabulary: {message}")]
    Vocab {
        /// What is wrong.
        message: String,
    },
    /// A GGUF file holds a model architecture the engine does not run.
    #[error("{path}: unsupported model architecture `{architecture}` (supported: llama, qwen2)")]
    UnsupportedArchitecture {
        /// The file.
        path: PathBuf,
        /// `general.architecture` of the file.
        architecture: String,
    },
    /// A chat template failed to parse or render.
    #[error("chat template: {message}")]
    Template {
        /// What failed.
        message: String,
    },
    /// A constrained-decoding grammar cannot be built or followed (bad
    /// `response_format`, unsupported structure, a token the grammar
    /// rejects).
    #[error("constrained decoding: {message}")]
    Constraint {
        /// What is wrong.
        message: String,
    },
    /// A LoRA adapter (PEFT format) that cannot be read or does not fit
    /// the model (layers, shapes, rank, unsupported options).
    #[error("LoRA adapter {path}: {message}")]
    Adapter {
        /// The adapter directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Fine-tuning failed: unusable training data or a failing step.
    #[error("fine-tuning: {message}")]
    Finetune {
        /// What failed.
        message: String,
    },
    /// Tokenizing or running the model failed.
    #[error("local model {model}: {message}")]
    Inference {
        /// The model string.
        model: String,
        /// What failed.
        message: String,
    },
}

impl From<LocalError> for LmError {
    fn from(error: LocalError) -> Self {
        match error {
            LocalError::Inference { model, message } => LmError::Provider { model, message },
            other => LmError::Config(other.to_string()),
        }
    }
}
