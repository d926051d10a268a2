//! [`Embedder`]: turns texts into vectors (DSPy's `dspy.Embedder`), for
//! retrieval and similarity metrics. [`crate::providers::OpenAiProvider`]
//! implements it on any OpenAI-compatible `/embeddings` endpoint; build one
//! from a model string with [`crate::providers::embedder_for_model`]
//! (`openai/text-embedding-3-small`).

use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::LmError;

/// An embedding model.
#[async_trait]
pub trait Embedder: Send + Sync + Debug {
    /// The model string, DSPy style (`openai/text-embedding-3-small`).
    fn model(&self) -> &str;

    /// One vector per input, in input order (no request for no input).
    async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, LmError>;
}
