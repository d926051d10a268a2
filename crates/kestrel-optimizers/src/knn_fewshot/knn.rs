//! [`Knn`]: DSPy's `dspy.KNN` — the `k` training examples nearest to a
//! call's inputs by an [`Embedder`]. Each example is embedded as its input
//! fields written `key: value` and joined by ` | ` (the query likewise,
//! from the call's inputs in order); the score is the dot product (in
//! `f32`), the best first. Ties go to the later training example, as
//! numpy's `argsort()[-k:][::-1]` orders them on small sets.
//!
//! Up to [`ANN_MIN_TRAINSET`] examples every one is scored (brute force);
//! from that size on an HNSW graph proposes candidates (see `ann`), which
//! are then re-ranked by exact dot product — approximate, far faster on
//! large sets.

use std::sync::Arc;

use kestrel_core::Example;
use kestrel_core::types::python_literal_repr;
use kestrel_lm::{Embedder, LmError};
use serde_json::Value;

use super::ann::AnnIndex;
use crate::error::OptimizerError;

/// Trainset size from which [`Knn`] searches an HNSW graph instead of
/// scoring every example.
pub const ANN_MIN_TRAINSET: usize = 10_000;

/// Candidates the graph proposes per query (at least `k`).
const ANN_EF_SEARCH: usize = 128;

/// The nearest training examples by embedding.
#[derive(Clone)]
pub struct Knn {
    k: usize,
    trainset: Arc<Vec<Example>>,
    embedder: Arc<dyn Embedder>,
    vectors: Arc<Vec<Vec<f32>>>,
    ann: Option<Arc<AnnIndex>>,
}

impl std::fmt::Debug for Knn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knn")
            .field("k", &self.k)
            .field("trainset", &self.trainset.len())
            .field("embedder", &self.embedder.model())
            .field("ann", &self.ann.is_some())
            .finish()
    }
}

/// `str(value)` as Python writes it in DSPy's f-string.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_literal_repr(other),
    }
}

/// DSPy's text of an example: its input fields as `key: value`, joined by
/// ` | `. An example with no input keys marked (DSPy fails on one) is
/// embedded with all its fields.
pub fn example_text(example: &Example) -> String {
    let inputs = match example.input_keys() {
        Some(_) => example.inputs(),
        None => example.clone(),
    };
    query_text(&inputs)
}

/// DSPy's text of a call: every input as `key: value`, joined by ` | `.
pub fn query_text(inputs: &Example) -> String {
    inputs.iter().map(|(k, v)| format!("{k}: {}", text_of(v))).collect::<Vec<_>>().join(" | ")
}

fn embed_error(e: LmError) -> OptimizerError {
    OptimizerError::Module(e.into())
}

impl Knn {
    /// Embed `trainset` (one request of every example's text) and index it.
    /// `k` of 0 is an [`OptimizerError::InvalidArgument`]; a `k` above the
    /// trainset size returns the whole trainset, ranked.
    pub async fn new(k: usize, trainset: Vec<Example>, embedder: Arc<dyn Embedder>) -> Result<Self, OptimizerError> {
        Self::with_ann_min_trainset(k, trainset, embedder, ANN_MIN_TRAINSET).await
    }

    /// [`Knn::new`], searching an HNSW graph from `ann_min_trainset`
    /// examples on instead of [`ANN_MIN_TRAINSET`].
    pub async fn with_ann_min_trainset(
        k: usize,
        trainset: Vec<Example>,
        embedder: Arc<dyn Embedder>,
        ann_min_trainset: usize,
    ) -> Result<Self, OptimizerError> {
        if k == 0 {
            return Err(OptimizerError::InvalidArgument { name: "k", message: "must be at least 1".into() });
        }
        let texts: Vec<String> = trainset.iter().map(example_text).collect();
        let vectors = if texts.is_empty() { Vec::new() } else { embedder.embed(&texts).await.map_err(embed_error)? };
        if vectors.len() != trainset.len() {
            return Err(OptimizerError::Config(format!(
                "the embedder returned {} vectors for {} examples",
                vectors.len(),
                trainset.len()
            )));
        }
        let vectors = Arc::new(vectors);
        let ann = if trainset.len() >= ann_min_trainset {
            let for_build = Arc::clone(&vectors);
            let ef = ANN_EF_SEARCH.max(k);
            let index = tokio::task::spawn_blocking(move || AnnIndex::build(&for_build, ef, 0))
                .await
                .map_err(|e| OptimizerError::Config(format!("building the HNSW index failed: {e}")))?;
            Some(Arc::new(index))
        } else {
            None
        };
        Ok(Self { k, trainset: Arc::new(trainset), embedder, vectors, ann })
    }

    /// How many neighbours a call gets.
    pub fn get_k(&self) -> usize {
        self.k
    }

    /// The indexed training examples.
    pub fn trainset(&self) -> &[Example] {
        &self.trainset
    }

    /// Whether searches go through the HNSW graph.
    pub fn is_approximate(&self) -> bool {
        self.ann.is_some()
    }

    /// Every training example's score for `inputs` (dot products), in
    /// trainset order.
    pub async fn scores(&self, inputs: &Example) -> Result<Vec<f32>, OptimizerError> {
        let query = self.embed_query(inputs).await?;
        Ok(self.vectors.iter().map(|v| dot(v, &query)).collect())
    }

    /// Indices of the `k` nearest training examples, nearest first.
    pub async fn neighbour_indices(&self, inputs: &Example) -> Result<Vec<usize>, OptimizerError> {
        let query = self.embed_query(inputs).await?;
        let candidates: Vec<usize> = match &self.ann {
            Some(index) => index.candidates(&query),
            None => (0..self.vectors.len()).collect(),
        };
        let mut scored: Vec<(usize, f32)> =
            candidates.into_iter().map(|i| (i, dot(&self.vectors[i], &query))).collect();
        // Ascending and stable, then from the end: ties go to the later index.
        scored.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        Ok(scored.iter().rev().take(self.k).map(|(i, _)| *i).collect())
    }

    /// The `k` nearest training examples, nearest first (DSPy's
    /// `KNN.__call__`).
    pub async fn neighbours(&self, inputs: &Example) -> Result<Vec<Example>, OptimizerError> {
        Ok(self.neighbour_indices(inputs).await?.into_iter().map(|i| self.trainset[i].clone()).collect())
    }

    async fn embed_query(&self, inputs: &Example) -> Result<Vec<f32>, OptimizerError> {
        let vectors = self.embedder.embed(&[query_text(inputs)]).await.map_err(embed_error)?;
        vectors.into_iter().next().ok_or_else(|| OptimizerError::Config("the embedder returned no vector".into()))
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
