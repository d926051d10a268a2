//! KNN's approximate index for large trainsets: an HNSW graph
//! (`instant-distance`, pure Rust). Nearest by dot product is not a metric
//! search, so each trainset vector `x` gets one more coordinate
//! `sqrt(M² − |x|²)` (`M` the largest norm) and the query a `0`: then
//! `|q − x|² = |q|² + M² − 2·q·x`, and the nearest by Euclidean distance is
//! the largest dot product. The graph only proposes candidates; the caller
//! re-ranks them by exact dot product.

use instant_distance::{Builder, HnswMap, Point, Search};

/// A vector with its extra coordinate.
#[derive(Debug, Clone)]
struct Lifted(Vec<f32>);

impl Point for Lifted {
    fn distance(&self, other: &Self) -> f32 {
        self.0.iter().zip(&other.0).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt()
    }
}

/// The HNSW graph over the trainset's vectors.
pub(crate) struct AnnIndex {
    map: HnswMap<Lifted, usize>,
    ef_search: usize,
}

impl std::fmt::Debug for AnnIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnIndex").field("points", &self.map.values.len()).field("ef_search", &self.ef_search).finish()
    }
}

impl AnnIndex {
    /// Build the graph (CPU-bound: the caller runs it on a blocking
    /// thread). `ef_search` candidates are proposed per query; the seed
    /// makes the build repeatable.
    pub(crate) fn build(vectors: &[Vec<f32>], ef_search: usize, seed: u64) -> Self {
        let max_norm_sq = vectors.iter().map(|v| v.iter().map(|x| x * x).sum::<f32>()).fold(0f32, f32::max);
        let points: Vec<Lifted> = vectors
            .iter()
            .map(|v| {
                let norm_sq: f32 = v.iter().map(|x| x * x).sum();
                let mut lifted = v.clone();
                lifted.push((max_norm_sq - norm_sq).max(0.0).sqrt());
                Lifted(lifted)
            })
            .collect();
        let values: Vec<usize> = (0..points.len()).collect();
        let map = Builder::default().ef_search(ef_search).seed(seed).build(points, values);
        Self { map, ef_search }
    }

    /// Trainset indices near `query` (at most `ef_search`), nearest first.
    pub(crate) fn candidates(&self, query: &[f32]) -> Vec<usize> {
        let mut lifted = query.to_vec();
        lifted.push(0.0);
        let mut search = Search::default();
        self.map.search(&Lifted(lifted), &mut search).take(self.ef_search).map(|item| *item.value).collect()
    }
}
