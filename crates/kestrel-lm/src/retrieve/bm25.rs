//! [`Bm25`]: lexical retrieval with Okapi BM25 from the `bm25` crate.
//!
//! Tokens are the crate's English tokenizer: Unicode normalization to ASCII,
//! lower case, Unicode word boundaries, English stop words removed, Snowball
//! stemming (the preprocessing of DSPy's BM25 tutorials with `bm25s`). Scores
//! are `Σ idf(t) · tf(t)·(k1+1) / (tf(t) + k1·(1 − b + b·|d|/avgdl))` over the
//! query's tokens (a repeated query token counts each time), with
//! `idf(t) = ln(1 + (N − df + 0.5)/(df + 0.5))` and `avgdl` fitted to the
//! corpus. Only passages sharing a token with the query are returned.

use std::sync::Arc;

use async_trait::async_trait;
use bm25::{DefaultTokenizer, EmbedderBuilder, Language, Scorer};

use super::vectors::top_k;
use super::{Passage, Retriever, retrieval_error};
use crate::error::LmError;

/// Default `k` (DSPy's `Embeddings` default).
const DEFAULT_K: usize = 5;

/// Settings of a [`Bm25`] retriever.
#[derive(Debug, Clone)]
pub struct Bm25Builder {
    corpus: Vec<String>,
    k: usize,
    k1: f32,
    b: f32,
}

impl Bm25Builder {
    /// Passages [`Bm25::search`] returns (default 5).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Term-frequency saturation (default 1.2).
    pub fn k1(mut self, k1: f32) -> Self {
        self.k1 = k1;
        self
    }

    /// Length normalization, 0 to 1 (default 0.75).
    pub fn b(mut self, b: f32) -> Self {
        self.b = b;
        self
    }

    /// Tokenize and index the corpus. An empty corpus, or `k1`/`b` out of
    /// range (negative, NaN, `b > 1`), is [`LmError::Retrieval`].
    pub fn build(self) -> Result<Bm25, LmError> {
        if self.corpus.is_empty() {
            return Err(retrieval_error("bm25", "the corpus is empty"));
        }
        let k1_ok = self.k1 >= 0.0 && self.k1.is_finite();
        if !(k1_ok && (0.0..=1.0).contains(&self.b)) {
            return Err(retrieval_error(
                "bm25",
                format!("k1 must be ≥ 0 and b in [0, 1], got k1={} b={}", self.k1, self.b),
            ));
        }
        let texts: Vec<&str> = self.corpus.iter().map(String::as_str).collect();
        let embedder = EmbedderBuilder::<u32, DefaultTokenizer>::with_fit_to_corpus(Language::English, &texts)
            .k1(self.k1)
            .b(self.b)
            .build();
        let mut scorer = Scorer::<usize, u32>::new();
        for (i, text) in texts.iter().enumerate() {
            scorer.upsert(&i, embedder.embed(text));
        }
        Ok(Bm25 { corpus: self.corpus.into(), index: Arc::new(Index { embedder, scorer }), k: self.k })
    }
}

/// The tokenizer-embedder and the inverted index.
struct Index {
    embedder: bm25::Embedder<u32, DefaultTokenizer>,
    scorer: Scorer<usize, u32>,
}

/// A BM25 retriever over a fixed corpus. Cheap to clone.
#[derive(Clone)]
pub struct Bm25 {
    corpus: Arc<[String]>,
    index: Arc<Index>,
    k: usize,
}

impl std::fmt::Debug for Bm25 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25")
            .field("passages", &self.corpus.len())
            .field("avgdl", &self.index.embedder.avgdl())
            .field("k", &self.k)
            .finish()
    }
}

impl Bm25 {
    /// Settings for a retriever over `corpus` (k 5, k1 1.2, b 0.75).
    pub fn builder(corpus: impl IntoIterator<Item = impl Into<String>>) -> Bm25Builder {
        Bm25Builder { corpus: corpus.into_iter().map(Into::into).collect(), k: DEFAULT_K, k1: 1.2, b: 0.75 }
    }

    /// The `k` [`Bm25::search`] uses.
    pub fn get_k(&self) -> usize {
        self.k
    }

    /// The corpus, in index order.
    pub fn corpus(&self) -> &[String] {
        &self.corpus
    }

    /// The average passage length in tokens.
    pub fn avgdl(&self) -> f32 {
        self.index.embedder.avgdl()
    }

    /// The retriever's own `k` best passages.
    pub fn search(&self, query: &str) -> Vec<Passage> {
        self.search_k(query, self.k)
    }

    /// The `k` best passages for `query`: corpus index as `pid`, BM25 score,
    /// equal scores in corpus order.
    pub fn search_k(&self, query: &str, k: usize) -> Vec<Passage> {
        let query = self.index.embedder.embed(query);
        let matches = self.index.scorer.matches(&query);
        top_k(matches.into_iter().map(|m| (m.id, m.score)), k)
            .into_iter()
            .map(|(i, score)| Passage::new(self.corpus[i].clone(), score, Some(i as u64)))
            .collect()
    }
}

#[async_trait]
impl Retriever for Bm25 {
    fn name(&self) -> &str {
        "bm25"
    }

    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, LmError> {
        Ok(self.search_k(query, k))
    }
}
