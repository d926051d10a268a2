//! The local chat engine (feature `chat`): GGUF chat models (llama, qwen2)
//! run in-process on the CPU with candle's quantized kernels.
//!
//! - `gguf.rs` — reading the file (header checked before candle parses it).
//! - `model.rs` — the forward pass over a ragged batch; `attention.rs` —
//!   rotary embeddings and causal attention on plain slices; `kv_cache.rs` —
//!   one sequence's keys and values; `quant/` — the engine's own
//!   weight-stationary quantized matmul (candle's as the fallback).
//! - `tokenizer.rs` — the tokenizer (tokenizer.json, or built from the
//!   GGUF metadata); `template.rs` — the Jinja chat template;
//!   [`vocab`] — token bytes for detokenizing and constraints.
//! - `engine.rs` — the engine thread (batching, chunked prefill, `n > 1`,
//!   stop sequences); `prefix_cache.rs`; `sampler.rs`.
//! - `lm.rs` — [`LocalLm`], kestrel-lm's `Lm`.
//! - [`peft`] — LoRA adapters in PEFT's format, merged at load
//!   ([`LocalLmOptions::lora_adapter`]; `model/lora.rs`).

mod attention;
mod engine;
pub(crate) mod gguf;
mod kv_cache;
pub(crate) mod lm;
pub(crate) mod model;
pub mod peft;
mod prefix_cache;
mod quant;
mod sampler;
mod template;
mod tokenizer;
pub mod vocab;

pub use lm::{ConstraintFactory, LocalLm, LocalLmOptions, LocalResponse};
pub use template::{CHATML_TEMPLATE, ChatTemplate};
pub use vocab::Vocab;
