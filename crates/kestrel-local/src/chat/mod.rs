//! The local chat engine (feature `chat`): GGUF chat models (llama, qwen2)
//! run in-process on the CPU with candle's quantized kernels.

pub mod vocab;

pub use vocab::Vocab;
