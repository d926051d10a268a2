//! Deterministic offline embedders for tests and benchmarks:
//! [`LetterCountEmbedder`] (26 letter counts, the `letter_counts`
//! vectorizer of the DSPy KNNFewShot fixture) and [`HashedWordsEmbedder`]
//! (a hashed bag of words, unit length, so texts sharing words are near).
//! Neither calls anything; both count the texts they embed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use kestrel_lm::{Embedder, LmError};
use sha2::{Digest, Sha256};

/// Value `i` of a text's vector is how often the letter `a + i` occurs in
/// its lowercase form (`text.lower()`; other characters are ignored).
#[derive(Debug, Clone, Default)]
pub struct LetterCountEmbedder {
    embedded: Arc<AtomicUsize>,
}

impl LetterCountEmbedder {
    /// A new embedder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Texts embedded so far (shared by clones).
    pub fn embedded(&self) -> usize {
        self.embedded.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Embedder for LetterCountEmbedder {
    fn model(&self) -> &str {
        "test/letter-counts"
    }

    async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, LmError> {
        self.embedded.fetch_add(inputs.len(), Ordering::SeqCst);
        Ok(inputs
            .iter()
            .map(|text| {
                let mut counts = vec![0f32; 26];
                for c in text.to_lowercase().chars() {
                    if c.is_ascii_lowercase() {
                        counts[(c as u8 - b'a') as usize] += 1.0;
                    }
                }
                counts
            })
            .collect())
    }
}

/// Each lowercase alphanumeric word adds 1 to the dimension its SHA-256
/// picks; the vector is then scaled to unit length (an empty text stays
/// zero). The same text gets the same vector on every platform.
#[derive(Debug, Clone)]
pub struct HashedWordsEmbedder {
    dimensions: usize,
    embedded: Arc<AtomicUsize>,
}

impl HashedWordsEmbedder {
    /// Vectors of `dimensions` values (at least 1).
    pub fn new(dimensions: usize) -> Self {
        Self { dimensions: dimensions.max(1), embedded: Arc::default() }
    }

    /// Texts embedded so far (shared by clones).
    pub fn embedded(&self) -> usize {
        self.embedded.load(Ordering::SeqCst)
    }

    fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dimensions];
        let lower = text.to_lowercase();
        for word in lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let digest = Sha256::digest(word.as_bytes());
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&digest[..8]);
            v[(u64::from_le_bytes(bytes) % self.dimensions as u64) as usize] += 1.0;
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

#[async_trait]
impl Embedder for HashedWordsEmbedder {
    fn model(&self) -> &str {
        "test/hashed-words"
    }

    async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, LmError> {
        self.embedded.fetch_add(inputs.len(), Ordering::SeqCst);
        Ok(inputs.iter().map(|text| self.vector(text)).collect())
    }
}
