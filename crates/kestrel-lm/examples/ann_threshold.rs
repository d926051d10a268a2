//! Where brute force stops being faster than the HNSW index of
//! `Embeddings`: per-query search time of both, the index build time, and
//! HNSW recall@10 against brute force, on seeded clustered 384-dimensional
//! vectors (all-MiniLM-L6-v2's size) at growing corpus sizes.
//!
//! ```sh
//! cargo run --release -p kestrel-lm --no-default-features --features retrieval --example ann_threshold
//! ```

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use kestrel_lm::retrieve::{Embeddings, SearchMode};
use kestrel_lm::{Embedder, LmError};

const DIM: usize = 384;
const QUERIES: usize = 200;
const K: usize = 10;

/// SplitMix64 in [-1, 1).
fn next(state: &mut u64) -> f32 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
}

/// `"p<i>"` → the i-th precomputed vector.
#[derive(Debug)]
struct Table(Vec<Vec<f32>>);

#[async_trait]
impl Embedder for Table {
    fn model(&self) -> &str {
        "table"
    }
    async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, LmError> {
        Ok(inputs.iter().map(|t| self.0[t[1..].parse::<usize>().unwrap_or(0)].clone()).collect())
    }
}

#[tokio::main]
async fn main() -> Result<(), LmError> {
    println!("{:>7} {:>12} {:>12} {:>10} {:>9}", "corpus", "brute ms/q", "hnsw ms/q", "build s", "recall@10");
    for n in [1_000usize, 2_000, 5_000, 10_000, 20_000, 50_000] {
        let mut state = n as u64;
        let clusters = (n / 50).max(1);
        let centres: Vec<Vec<f32>> = (0..clusters).map(|_| (0..DIM).map(|_| next(&mut state)).collect()).collect();
        let mut vectors: Vec<Vec<f32>> =
            (0..n).map(|i| centres[i % clusters].iter().map(|x| x + 0.5 * next(&mut state)).collect()).collect();
        let queries: Vec<Vec<f32>> = (0..QUERIES)
            .map(|i| centres[(i * 7) % clusters].iter().map(|x| x + 0.5 * next(&mut state)).collect())
            .collect();
        vectors.extend(queries.iter().cloned());
        let corpus: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        let table: Arc<dyn Embedder> = Arc::new(Table(vectors));

        let exact = Embeddings::builder(corpus.clone(), table.clone()).build().await?;
        let started = Instant::now();
        let ann = Embeddings::builder(corpus, table).brute_force_threshold(0).build().await?;
        let build = started.elapsed().as_secs_f64();
        assert_eq!(ann.search_mode(), SearchMode::Hnsw);

        let started = Instant::now();
        let reference: Vec<_> = queries.iter().map(|q| exact.search_vector_exact(q, K)).collect::<Result<_, _>>()?;
        let brute = started.elapsed().as_secs_f64() * 1e3 / QUERIES as f64;
        let started = Instant::now();
        let approximate: Vec<_> = queries.iter().map(|q| ann.search_vector(q, K)).collect::<Result<_, _>>()?;
        let hnsw = started.elapsed().as_secs_f64() * 1e3 / QUERIES as f64;
        let found: usize = approximate
            .iter()
            .zip(&reference)
            .map(|(got, want)| got.iter().filter(|p| want.iter().any(|w| w.pid == p.pid)).count())
            .sum();
        let recall = found as f64 / (K * QUERIES) as f64;
        println!("{n:>7} {brute:>12.3} {hnsw:>12.3} {build:>10.2} {recall:>9.3}");
    }
    Ok(())
}
