//! Causal attention over one sequence's KV cache, and rotary position
//! embeddings, on plain `f32` slices.
//!
//! Every output row is computed by the same fixed-order loops whatever the
//! batch, the chunking of a prefill or a prefix-cache hit around it, so the
//! engine's output does not depend on how requests were scheduled (batched
//! greedy decoding equals sequential; a warm prefix equals a cold run).

/// Rotary embedding layout: GGUF llama weights rotate interleaved pairs
/// `(2i, 2i+1)`; qwen2 rotates halves `(i, i + d/2)` (GPT-NeoX style).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RopeStyle {
    /// Pairs `(2i, 2i+1)`.
    Interleaved,
    /// Pairs `(i, i + d/2)`.
    Halves,
}

/// Precomputed rotary angles: `cos`/`sin` of position × frequency, one row
/// of `dims / 2` per position.
#[derive(Debug)]
pub(crate) struct Rope {
    style: RopeStyle,
    dims: usize,
    max_positions: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl Rope {
    /// Tables for `max_positions` positions, rotating the first `dims`
    /// values of each head with frequency base `base`.
    pub(crate) fn new(style: RopeStyle, dims: usize, base: f32, max_positions: usize) -> Self {
        let half = dims / 2;
        let theta: Vec<f32> = (0..half).map(|i| 1f32 / base.powf((2 * i) as f32 / dims as f32)).collect();
        let mut cos = Vec::with_capacity(max_positions * half);
        let mut sin = Vec::with_capacity(max_positions * half);
        for pos in 0..max_positions {
            for &t in &theta {
                let angle = pos as f32 * t;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Self { style, dims, max_positions, cos, sin }
    }

    /// The number of positions the tables cover.
    pub(crate) fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Rotates every head of one row (`heads × head_dim` values) in place
    /// for position `pos` (below [`Self::max_positions`]).
    pub(crate) fn apply(&self, row: &mut [f32], head_dim: usize, pos: usize) {
        let half = self.dims / 2;
        let cos = &self.cos[pos * half..(pos + 1) * half];
        let sin = &self.sin[pos * half..(pos + 1) * half];
        for head in row.chunks_exact_mut(head_dim) {
            for i in 0..half {
                let (a, b) = match self.style {
                    RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                    RopeStyle::Halves => (i, i + half),
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * cos[i] - x1 * sin[i];
                head[b] = x0 * sin[i] + x1 * cos[i];
            }
        }
    }
}

/// Shapes of one attention call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    /// Query heads.
    pub(crate) n_head: usize,
    /// Key/value heads (grouped-query attention: `n_head` is a multiple).
    pub(crate) n_kv: usize,
    /// Values per head.
    pub(crate) head_dim: usize,
}

/// Causal attention of `t` new rows at positions `start..start + t` of one
/// sequence. `q` and `out` are `[t][n_head][head_dim]`; `k` and `v` are the
/// sequence's whole cache `[positions][n_kv][head_dim]`, new rows included.
pub(crate) fn attend(q: &[f32], k: &[f32], v: &[f32], start: usize, heads: Heads, out: &mut [f32]) {
    let Heads { n_head, n_kv, head_dim } = heads;
    let group = n_head / n_kv.max(1);
    let scale = 1.0 / (head_dim as f32).sqrt();
    let row_width = n_head * head_dim;
    let kv_width = n_kv * head_dim;
    let mut scores = Vec::new();
    for (i, (q_row, out_row)) in q.chunks_exact(row_width).zip(out.chunks_exact_mut(row_width)).enumerate() {
        let positions = start + i + 1;
        for h in 0..n_head {
            let kv_head = h / group.max(1);
            let q_head = &q_row[h * head_dim..(h + 1) * head_dim];
            scores.clear();
            let mut max = f32::NEG_INFINITY;
            for j in 0..positions {
                let key = &k[j * kv_width + kv_head * head_dim..][..head_dim];
                let s = dot(q_head, key) * scale;
                max = max.max(s);
                scores.push(s);
            }
            let mut sum = 0f32;
            for s in &mut scores {
                *s = (*s - max).exp();
                sum += *s;
            }
            let out_head = &mut out_row[h * head_dim..(h + 1) * head_dim];
            out_head.fill(0.0);
            for (j, &p) in scores.iter().enumerate() {
                let value = &v[j * kv_width + kv_head * head_dim..][..head_dim];
                let weight = p / sum;
                for (o, &x) in out_head.iter_mut().zip(value) {
                    *o += weight * x;
                }
            }
        }
    }
}

/// A dot product with eight independent accumulators (vectorizes; the
/// order depends only on the length).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut a_chunks = a.chunks_exact(8);
    let mut b_chunks = b.chunks_exact(8);
    for (x, y) in (&mut a_chunks).zip(&mut b_chunks) {
        for lane in 0..8 {
            acc[lane] += x[lane] * y[lane];
        }
    }
    let mut tail = 0f32;
    for (x, y) in a_chunks.remainder().iter().zip(b_chunks.remainder()) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_position_attends_to_itself() {
        let heads = Heads { n_head: 2, n_kv: 1, head_dim: 2 };
        let q = [1.0, 0.0, 0.0, 1.0];
        let k = [1.0, 1.0];
        let v = [3.0, -2.0];
        let mut out = [0.0; 4];
        attend(&q, &k, &v, 0, heads, &mut out);
        assert_eq!(out, [3.0, -2.0, 3.0, -2.0]);
    }

    #[test]
    fn rows_do_not_depend_on_how_the_prefill_was_split() {
        let heads = Heads { n_head: 2, n_kv: 1, head_dim: 8 };
        let k: Vec<f32> = (0..5 * 8).map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0).collect();
        let v: Vec<f32> = (0..5 * 8).map(|i| ((i * 3) % 13) as f32 / 6.0 - 1.0).collect();
        let q: Vec<f32> = (0..5 * 16).map(|i| ((i * 5) % 17) as f32 / 8.0 - 1.0).collect();
        let mut whole = vec![0.0; 5 * 16];
        attend(&q, &k, &v, 0, heads, &mut whole);
        let mut tail = vec![0.0; 2 * 16];
        attend(&q[3 * 16..], &k, &v, 3, heads, &mut tail);
        assert_eq!(&whole[3 * 16..], &tail[..]);
    }

    #[test]
    fn rope_rotates_pairs_by_position() {
        let rope = Rope::new(RopeStyle::Halves, 4, 10_000.0, 4);
        let mut row = [1.0, 0.0, 0.0, 0.0];
        rope.apply(&mut row, 4, 0);
        assert_eq!(row, [1.0, 0.0, 0.0, 0.0]);
        rope.apply(&mut row, 4, 1);
        assert!((row[0] - 1f32.cos()).abs() < 1e-6 && (row[2] - 1f32.sin()).abs() < 1e-6);
    }
}
