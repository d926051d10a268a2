//! The approximate index of [`super::Embeddings`] for large corpora: an HNSW
//! graph (`instant-distance`, pure Rust) over the unit-length corpus vectors
//! with distance `1 − cosine`. It only proposes candidates; the caller
//! re-ranks them with exact dot products, as DSPy re-ranks FAISS's.

use instant_distance::{Builder, HnswMap, Point, Search};

use super::vectors::{Matrix, normalize};

/// One unit-length vector.
#[derive(Debug, Clone)]
struct Unit(Vec<f32>);

impl Point for Unit {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - super::vectors::dot(&self.0, &other.0)
    }
}

/// HNSW settings (`instant-distance`'s names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AnnParams {
    /// Candidates kept while building (`efConstruction`).
    pub(super) ef_construction: usize,
    /// Candidates a search returns (`ef`); the re-ranking pool.
    pub(super) ef_search: usize,
    /// Seed of the level draw, so a build is repeatable.
    pub(super) seed: u64,
}

/// An HNSW index mapping each graph point to its corpus row.
pub(super) struct AnnIndex {
    map: HnswMap<Unit, u32>,
    ef_search: usize,
}

impl std::fmt::Debug for AnnIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnIndex").field("points", &self.map.values.len()).field("ef_search", &self.ef_search).finish()
    }
}

impl AnnIndex {
    /// Build the graph over every row of `matrix` (CPU-bound: call it on a
    /// blocking thread). Rows are normalized for the graph whether or not
    /// the retriever normalizes its own vectors.
    pub(super) fn build(matrix: &Matrix, params: AnnParams) -> Self {
        let points: Vec<Unit> = (0..matrix.rows())
            .map(|i| {
                let mut v = matrix.row(i).to_vec();
                normalize(&mut v);
                Unit(v)
            })
            .collect();
        let values: Vec<u32> = (0..points.len() as u32).collect();
        let map = Builder::default()
            .ef_construction(params.ef_construction)
            .ef_search(params.ef_search)
            .seed(params.seed)
            .build(points, values);
        Self { map, ef_search: params.ef_search }
    }

    /// How many candidates a search returns (at most).
    pub(super) fn ef_search(&self) -> usize {
        self.ef_search
    }

    /// Corpus rows near `query`, nearest first.
    pub(super) fn candidates(&self, query: &[f32]) -> Vec<usize> {
        let mut unit = query.to_vec();
        normalize(&mut unit);
        let mut search = Search::default();
        self.map.search(&Unit(unit), &mut search).map(|item| *item.value as usize).collect()
    }
}
