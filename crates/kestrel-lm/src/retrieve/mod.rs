//! Retrieval: the [`Retriever`] trait (a query and `k` → scored passages,
//! also for a batch of queries), the task-local retriever scope
//! ([`with_retriever`], DSPy's `dspy.configure(rm=..)` without global state)
//! and, with the `retrieval` cargo feature, DSPy's retrievers:
//!
//! - [`Embeddings`]: DSPy's `dspy.retrievers.Embeddings` — a corpus embedded
//!   once with any [`crate::Embedder`], exact dot-product search for small
//!   corpora and an HNSW index (`instant-distance`) with exact re-ranking at
//!   or above [`DEFAULT_BRUTE_FORCE_THRESHOLD`] passages.
//! - [`Bm25`]: BM25 (the `bm25` crate's English tokenizer: Unicode words,
//!   lower case, stop words removed, Snowball stemming).
//! - [`ColBertV2`]: a client of DSPy's ColBERTv2 HTTP API (`GET ?query=&k=`
//!   or the JSON `POST` variant).
//!
//! A retriever's scores are its own: dot products (cosine when normalized),
//! BM25 scores, or whatever the ColBERT server sends. Passages come best
//! first; equal scores keep corpus order.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::LmError;

mod scope;

#[cfg(feature = "retrieval")]
mod ann;
#[cfg(feature = "retrieval")]
mod bm25;
#[cfg(feature = "retrieval")]
mod colbert;
#[cfg(feature = "retrieval")]
mod embeddings;
#[cfg(feature = "retrieval")]
mod vectors;

pub use scope::{current_retriever, resolve_retriever, with_retriever};

#[cfg(feature = "retrieval")]
pub use self::bm25::{Bm25, Bm25Builder};
#[cfg(feature = "retrieval")]
pub use colbert::{COLBERT_GET_MAX_K, ColBertV2};
#[cfg(feature = "retrieval")]
pub use embeddings::{DEFAULT_BRUTE_FORCE_THRESHOLD, Embeddings, EmbeddingsBuilder, SearchMode};

/// One retrieved passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// The passage text (ColBERT's `long_text`, else its `text`).
    pub text: String,
    /// The retriever's score (higher is better).
    pub score: f32,
    /// The passage's id: its index in the corpus, or ColBERT's `pid`.
    pub pid: Option<u64>,
    /// Anything else the retriever returned (ColBERT's `rank`, `prob`...).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl Passage {
    /// A passage with a text, a score and an id.
    pub fn new(text: impl Into<String>, score: f32, pid: Option<u64>) -> Self {
        Self { text: text.into(), score, pid, extra: Map::new() }
    }
}

/// A search over some corpus: DSPy's retrieval model (`rm`).
#[async_trait]
pub trait Retriever: Send + Sync + Debug {
    /// A short name for errors and traces (`embeddings`, `bm25`,
    /// `colbertv2 <url>`).
    fn name(&self) -> &str;

    /// The `k` best passages for `query`, best first (fewer when the corpus
    /// has fewer matches).
    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, LmError>;

    /// The `k` best passages of each query, in query order. The default asks
    /// [`Retriever::retrieve`] once per query, one after another; retrievers
    /// that can do better (one embedding request for every query) override
    /// it.
    async fn retrieve_batch(&self, queries: &[String], k: usize) -> Result<Vec<Vec<Passage>>, LmError> {
        let mut out = Vec::with_capacity(queries.len());
        for query in queries {
            out.push(self.retrieve(query, k).await?);
        }
        Ok(out)
    }
}

/// The cheap-to-clone handle programs and scopes hold.
pub type SharedRetriever = Arc<dyn Retriever>;

/// The error for a retriever that cannot answer (bad `k`, a server's error
/// body, an empty corpus...).
#[cfg(feature = "retrieval")]
pub(crate) fn retrieval_error(retriever: &str, message: impl Into<String>) -> LmError {
    LmError::Retrieval { retriever: retriever.to_string(), message: message.into() }
}
