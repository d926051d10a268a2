//! In-process local models for Kestrel: no server, no network.
//!
//! - [`model_dir`] (always built): model strings `local/<name>` resolved in
//!   `$KESTREL_MODEL_DIR` (default: the user cache directory's
//!   `kestrel/models`, where `cargo xtask fetch-models` puts them) or a path.
//! - [`LocalEmbedder`] (cargo feature `embeddings`): all-MiniLM-L6-v2 style
//!   BERT sentence embeddings on the CPU via candle, implementing
//!   kestrel-lm's [`kestrel_lm::Embedder`].
//!
//! - [`LocalLm`] (cargo feature `chat`): GGUF chat models (llama, qwen2) on
//!   the CPU via candle's quantized kernels, with batching, a prefix cache
//!   and a [`constraint::TokenConstraint`] hook, implementing kestrel-lm's
//!   [`kestrel_lm::Lm`].
//!
//! - [`finetune`] (cargo feature `finetune`): LoRA fine-tuning of those
//!   chat models on the CPU, saving PEFT adapters that
//!   [`LocalLmOptions::lora_adapter`] loads.
//!
//! - [`register`]: routes `local/…` model strings through a kestrel-lm
//!   [`kestrel_lm::ProviderRegistry`].
//!
//! Without features the crate is only the path resolution and the error
//! type, so the default workspace build stays light.

#[cfg(feature = "chat")]
pub mod chat;
#[cfg(feature = "constrained")]
pub mod constrain;
#[cfg(feature = "chat")]
pub mod constraint;
mod error;
#[cfg(feature = "finetune")]
pub mod finetune;
pub mod model_dir;
pub mod registry;

#[cfg(feature = "embeddings")]
mod embedder;
#[cfg(feature = "embeddings")]
mod pooling;

#[cfg(feature = "chat")]
pub use chat::{ConstraintFactory, LocalLm, LocalLmOptions, LocalResponse, Vocab};
#[cfg(feature = "embeddings")]
pub use embedder::LocalEmbedder;
pub use error::LocalError;
#[cfg(feature = "embeddings")]
pub use pooling::{l2_normalize, masked_mean};
pub use registry::register;
