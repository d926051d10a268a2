//! [`Embeddings`]: DSPy's `dspy.retrievers.Embeddings` — a corpus embedded
//! once with any [`Embedder`], queries embedded in one request per batch,
//! scored by dot product (cosine when `normalize`, the default).
//!
//! Below `brute_force_threshold` passages ([`DEFAULT_BRUTE_FORCE_THRESHOLD`])
//! every query is scored against every passage: exact. At or above it an
//! HNSW index proposes `ef_search` candidates per query and those are
//! re-ranked exactly (DSPy does the same with FAISS and `10·k` candidates):
//! the passages returned and their scores are exact dot products, but a
//! true top-k passage the graph misses is replaced by the next best
//! candidate. On clustered test corpora recall@10 is ≥ 0.98 at the default
//! `ef_search` (the integration test checks ≥ 0.95). A `k` larger than
//! `ef_search` is answered by brute force.

use std::sync::Arc;

use async_trait::async_trait;

use super::ann::{AnnIndex, AnnParams};
use super::vectors::{Matrix, normalize, top_k};
use super::{Passage, Retriever, retrieval_error};
use crate::embed::Embedder;
use crate::error::LmError;

/// Corpus size from which [`Embeddings`] builds an HNSW index. Measured on
/// 384-dimensional vectors (all-MiniLM-L6-v2's size) on 2 cores: a
/// brute-force query costs about 0.08 ms per 1,000 passages, an HNSW query
/// about 0.3 ms, so the index pays off per query from a few thousand
/// passages, but building it costs about 1 s per 5,000 passages; 20,000
/// (DSPy's own default) keeps small corpora exact and quick to load. See
/// `docs/MODULES.md` ("Retrievers") for the figures and the command.
pub const DEFAULT_BRUTE_FORCE_THRESHOLD: usize = 20_000;

/// Default `k` (DSPy's).
const DEFAULT_K: usize = 5;
/// Texts per embedding request while embedding the corpus (`dspy.Embedder`'s
/// default batch size).
const DEFAULT_BATCH_SIZE: usize = 200;
/// Default HNSW candidate counts (`instant-distance`'s).
const DEFAULT_EF: usize = 100;

/// How an [`Embeddings`] retriever searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchMode {
    /// Every passage scored: exact.
    BruteForce,
    /// HNSW candidates re-ranked exactly: approximate recall.
    Hnsw,
}

/// Settings of an [`Embeddings`] retriever; [`EmbeddingsBuilder::build`]
/// embeds the corpus.
#[derive(Debug, Clone)]
pub struct EmbeddingsBuilder {
    corpus: Vec<String>,
    embedder: Arc<dyn Embedder>,
    k: usize,
    normalize: bool,
    brute_force_threshold: usize,
    batch_size: usize,
    ef_search: usize,
    ef_construction: usize,
    seed: u64,
}

impl EmbeddingsBuilder {
    /// Passages [`Embeddings::search`] returns (default 5, DSPy's `k`).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Scale every vector to unit length, so scores are cosines (default
    /// true, DSPy's `normalize`).
    pub fn normalize(mut self, normalize: bool) -> Self {
        self.normalize = normalize;
        self
    }

    /// Corpus size from which an HNSW index is built (DSPy's
    /// `brute_force_threshold`; default [`DEFAULT_BRUTE_FORCE_THRESHOLD`]).
    pub fn brute_force_threshold(mut self, threshold: usize) -> Self {
        self.brute_force_threshold = threshold;
        self
    }

    /// Texts per embedding request while embedding the corpus (default 200;
    /// 0 is read as 1).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// HNSW candidates per query, re-ranked exactly (default 100; at least 1).
    pub fn ef_search(mut self, ef_search: usize) -> Self {
        self.ef_search = ef_search.max(1);
        self
    }

    /// HNSW candidates kept while building (default 100; at least 1).
    pub fn ef_construction(mut self, ef_construction: usize) -> Self {
        self.ef_construction = ef_construction.max(1);
        self
    }

    /// Seed of the HNSW build (default 0), so an index is rebuilt the same.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Embed the corpus (in `batch_size` requests, one after another) and,
    /// at or above the threshold, build the HNSW index on a blocking thread.
    /// An empty corpus, an embedder that returns the wrong number of vectors
    /// or vectors of different lengths is [`LmError::Retrieval`].
    pub async fn build(self) -> Result<Embeddings, LmError> {
        if self.corpus.is_empty() {
            return Err(retrieval_error("embeddings", "the corpus is empty"));
        }
        let mut matrix = Matrix::default();
        for batch in self.corpus.chunks(self.batch_size) {
            let vectors = self.embedder.embed(batch).await?;
            append(&mut matrix, vectors, batch.len(), self.normalize)?;
        }
        let index = if self.corpus.len() >= self.brute_force_threshold {
            let params =
                AnnParams { ef_construction: self.ef_construction, ef_search: self.ef_search, seed: self.seed };
            let (built, back) = tokio::task::spawn_blocking(move || {
                let index = AnnIndex::build(&matrix, params);
                (index, matrix)
            })
            .await
            .map_err(|e| retrieval_error("embeddings", format!("building the HNSW index failed: {e}")))?;
            matrix = back;
            Some(built)
        } else {
            None
        };
        Ok(Embeddings {
            corpus: self.corpus.into(),
            embedder: self.embedder,
            matrix: Arc::new(matrix),
            index: index.map(Arc::new),
            k: self.k,
            normalize: self.normalize,
        })
    }
}

/// Check and append one batch of vectors.
fn append(matrix: &mut Matrix, vectors: Vec<Vec<f32>>, expected: usize, unit: bool) -> Result<(), LmError> {
    if vectors.len() != expected {
        return Err(retrieval_error(
            "embeddings",
            format!("the embedder returned {} vectors for {expected} texts", vectors.len()),
        ));
    }
    for mut v in vectors {
        if matrix.dim == 0 {
            if v.is_empty() {
                return Err(retrieval_error("embeddings", "the embedder returned an empty vector"));
            }
            matrix.dim = v.len();
        }
        if v.len() != matrix.dim {
            return Err(retrieval_error(
                "embeddings",
                format!("the embedder returned vectors of {} and {} dimensions", matrix.dim, v.len()),
            ));
        }
        if unit {
            normalize(&mut v);
        }
        matrix.data.extend_from_slice(&v);
    }
    Ok(())
}

/// DSPy's `Embeddings` retriever. Cheap to clone (the corpus, its vectors and
/// the index are shared).
#[derive(Debug, Clone)]
pub struct Embeddings {
    corpus: Arc<[String]>,
    embedder: Arc<dyn Embedder>,
    matrix: Arc<Matrix>,
    index: Option<Arc<AnnIndex>>,
    k: usize,
    normalize: bool,
}

impl Embeddings {
    /// Settings for a retriever over `corpus`, embedded with `embedder`.
    pub fn builder(
        corpus: impl IntoIterator<Item = impl Into<String>>,
        embedder: Arc<dyn Embedder>,
    ) -> EmbeddingsBuilder {
        EmbeddingsBuilder {
            corpus: corpus.into_iter().map(Into::into).collect(),
            embedder,
            k: DEFAULT_K,
            normalize: true,
            brute_force_threshold: DEFAULT_BRUTE_FORCE_THRESHOLD,
            batch_size: DEFAULT_BATCH_SIZE,
            ef_search: DEFAULT_EF,
            ef_construction: DEFAULT_EF,
            seed: 0,
        }
    }

    /// The `k` [`Embeddings::search`] uses.
    pub fn get_k(&self) -> usize {
        self.k
    }

    /// Whether vectors are normalized.
    pub fn get_normalize(&self) -> bool {
        self.normalize
    }

    /// The corpus, in index order.
    pub fn corpus(&self) -> &[String] {
        &self.corpus
    }

    /// The vector length.
    pub fn dimension(&self) -> usize {
        self.matrix.dim
    }

    /// Brute force or HNSW.
    pub fn search_mode(&self) -> SearchMode {
        if self.index.is_some() { SearchMode::Hnsw } else { SearchMode::BruteForce }
    }

    /// The corpus vector of passage `i` (normalized when the retriever
    /// normalizes), if there is one.
    pub fn vector(&self, i: usize) -> Option<&[f32]> {
        (i < self.matrix.rows()).then(|| self.matrix.row(i))
    }

    /// DSPy's `forward(query)`: the retriever's own `k` best passages, with
    /// their corpus indices as `pid` and their scores.
    pub async fn search(&self, query: &str) -> Result<Vec<Passage>, LmError> {
        self.retrieve(query, self.k).await
    }

    /// The `k` best passages for an already embedded query vector (normalized
    /// here when the retriever normalizes). Exact below the threshold,
    /// HNSW candidates re-ranked exactly above it.
    pub fn search_vector(&self, query: &[f32], k: usize) -> Result<Vec<Passage>, LmError> {
        if query.len() != self.matrix.dim {
            return Err(retrieval_error(
                "embeddings",
                format!("the query vector has {} dimensions, the corpus {}", query.len(), self.matrix.dim),
            ));
        }
        let mut q = query.to_vec();
        if self.normalize {
            normalize(&mut q);
        }
        let best = match &self.index {
            Some(index) if k <= index.ef_search() => {
                let candidates = index.candidates(&q);
                top_k(candidates.into_iter().map(|i| (i, super::vectors::dot(self.matrix.row(i), &q))), k)
            }
            _ => top_k(self.matrix.scores(&q).into_iter().enumerate(), k),
        };
        Ok(best.into_iter().map(|(i, score)| Passage::new(self.corpus[i].clone(), score, Some(i as u64))).collect())
    }

    /// The exact `k` best passages (brute force whatever the corpus size): the
    /// reference the HNSW search is measured against.
    pub fn search_vector_exact(&self, query: &[f32], k: usize) -> Result<Vec<Passage>, LmError> {
        let exact = Embeddings { index: None, ..self.clone() };
        exact.search_vector(query, k)
    }
}

#[async_trait]
impl Retriever for Embeddings {
    fn name(&self) -> &str {
        "embeddings"
    }

    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, LmError> {
        let mut batch = self.retrieve_batch(&[query.to_string()], k).await?;
        Ok(batch.pop().unwrap_or_default())
    }

    /// One embedding request for every query, then one search per query.
    async fn retrieve_batch(&self, queries: &[String], k: usize) -> Result<Vec<Vec<Passage>>, LmError> {
        if queries.is_empty() {
            return Ok(Vec::new());
        }
        let vectors = self.embedder.embed(queries).await?;
        if vectors.len() != queries.len() {
            return Err(retrieval_error(
                "embeddings",
                format!("the embedder returned {} vectors for {} queries", vectors.len(), queries.len()),
            ));
        }
        vectors.iter().map(|v| self.search_vector(v, k)).collect()
    }
}
