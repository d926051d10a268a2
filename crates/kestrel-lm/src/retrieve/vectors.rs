//! Dense-vector helpers of [`super::Embeddings`]: a row-major matrix of
//! corpus vectors, L2 normalization (DSPy's, with its `1e-10` floor), dot
//! products and the exact top-k.

use std::cmp::Ordering;

/// Row-major `rows × dim` vectors.
#[derive(Debug, Clone, Default)]
pub(super) struct Matrix {
    pub(super) dim: usize,
    pub(super) data: Vec<f32>,
}

impl Matrix {
    /// Number of rows.
    pub(super) fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Row `i`.
    pub(super) fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The dot product of `query` with every row, in row order.
    pub(super) fn scores(&self, query: &[f32]) -> Vec<f32> {
        self.data.chunks_exact(self.dim.max(1)).map(|row| dot(row, query)).collect()
    }
}

/// `v / max(‖v‖, 1e-10)`, as DSPy's `Embeddings._normalize`.
pub(super) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-10);
    v.iter_mut().for_each(|x| *x /= norm);
}

/// The dot product (4 independent accumulators, so the compiler vectorizes).
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Order of two `(index, score)` pairs: higher score first, then lower
/// index (NaN scores last).
pub(super) fn best_first(a: &(usize, f32), b: &(usize, f32)) -> Ordering {
    match (a.1.is_nan(), b.1.is_nan()) {
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal).then(a.0.cmp(&b.0)),
    }
}

/// The `k` best `(index, score)` pairs, best first.
pub(super) fn top_k(scored: impl IntoIterator<Item = (usize, f32)>, k: usize) -> Vec<(usize, f32)> {
    let mut all: Vec<(usize, f32)> = scored.into_iter().collect();
    if k < all.len() {
        all.select_nth_unstable_by(k, best_first);
        all.truncate(k);
    }
    all.sort_unstable_by(best_first);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_plain_sum_at_every_length() {
        for len in 0..11 {
            let a: Vec<f32> = (0..len).map(|i| i as f32 + 0.5).collect();
            let b: Vec<f32> = (0..len).map(|i| 2.0 - i as f32).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-4, "{len}");
        }
    }

    #[test]
    fn top_k_breaks_ties_by_index_and_puts_nan_last() {
        let scored = vec![(0, 1.0), (1, 3.0), (2, f32::NAN), (3, 3.0), (4, 2.0)];
        assert_eq!(top_k(scored.clone(), 3), vec![(1, 3.0), (3, 3.0), (4, 2.0)]);
        let all = top_k(scored, 10);
        assert_eq!(all.len(), 5);
        assert!(all[4].1.is_nan());
    }

    #[test]
    fn normalize_has_dspy_floor() {
        let mut zero = vec![0.0f32; 3];
        normalize(&mut zero);
        assert_eq!(zero, vec![0.0; 3]);
        let mut v = vec![3.0f32, 4.0];
        normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
    }
}
