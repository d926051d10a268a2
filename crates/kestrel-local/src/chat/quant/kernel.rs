//! The weight-stationary quantized matmul: `y = x · Wᵀ` for `m` activation
//! rows and a weight matrix of `n` rows (outputs) by `k` columns in a GGUF
//! block format.
//!
//! candle 0.9's `k_quants::matmul` loops over the activation rows outside
//! and over all the weights inside, so a batch of 8 decoding sequences
//! streams every weight matrix from memory 8 times and unpacks each block 8
//! times. Here the weights are the outer loop: each weight block is read and
//! unpacked once per tile of up to [`ROW_TILE`] activation rows and dotted
//! with every row of the tile. Work is split over rayon's pool by output
//! rows. Each output is the same sequence of operations whatever the other
//! rows of the batch, so batched and sequential decoding agree exactly.

use rayon::prelude::*;

use super::activations::{ActBlock, quantize_rows};
use super::formats::Format;

/// Activation rows that share one unpacking of a weight block (the batch
/// is padded with zero rows to a multiple, so that the tile loops have
/// constant bounds and their sums stay in registers).
const ROW_TILE: usize = 4;

/// Weight rows unpacked and dotted side by side: independent sums for the
/// CPU to overlap (one decoding row would otherwise wait on one chain).
const COLS: usize = 4;

/// Outputs (weight rows) per rayon task (a multiple of [`COLS`]).
const OUTPUTS_PER_TASK: usize = 32;

/// Computes `out[r * n + j] = x[r] · w[j]` for `m = x.len() / k` rows.
/// `weights` holds `n` rows of `k / F::Act::N` blocks of `F::BYTES`;
/// the caller checked the sizes.
pub(crate) fn matmul<F: Format>(weights: &[u8], n: usize, k: usize, x: &[f32], out: &mut [f32]) {
    let blocks = k / F::Act::N;
    let m = x.len() / k;
    let row_bytes = blocks * F::BYTES;
    let tiles = m.div_ceil(ROW_TILE);
    let mut acts = Vec::with_capacity(tiles * ROW_TILE * blocks);
    quantize_rows::<F::Act>(x, &mut acts);
    acts.resize(tiles * ROW_TILE * blocks, <F::Act as ActBlock>::ZERO);
    // Outputs transposed (`[j][r]`) so that each task owns a contiguous slice.
    let mut transposed = vec![0f32; n * m];
    transposed.par_chunks_mut(OUTPUTS_PER_TASK * m).enumerate().for_each(|(task, chunk)| {
        let mut unpacked = [F::EMPTY; COLS];
        for (group, outputs) in chunk.chunks_mut(COLS * m).enumerate() {
            let first = task * OUTPUTS_PER_TASK + group * COLS;
            let cols = outputs.len() / m;
            let rows_of: [&[u8]; COLS] = std::array::from_fn(|c| {
                let j = first + c.min(cols - 1);
                &weights[j * row_bytes..][..row_bytes]
            });
            if m == 1 {
                // One row (single-stream decode): the sums stay in registers.
                let mut sums = [0f32; COLS];
                for (b, act) in acts[..blocks].iter().enumerate() {
                    for (unpacked, row) in unpacked.iter_mut().zip(&rows_of) {
                        F::unpack(&row[b * F::BYTES..][..F::BYTES], unpacked);
                    }
                    for (sum, unpacked) in sums.iter_mut().zip(&unpacked) {
                        F::accumulate(unpacked, act, sum);
                    }
                }
                outputs.copy_from_slice(&sums[..cols]);
                continue;
            }
            for tile in 0..tiles {
                let first_row = tile * ROW_TILE;
                let mut sums = [[0f32; COLS]; ROW_TILE];
                for b in 0..blocks {
                    for (unpacked, row) in unpacked.iter_mut().zip(&rows_of) {
                        F::unpack(&row[b * F::BYTES..][..F::BYTES], unpacked);
                    }
                    for (t, sums) in sums.iter_mut().enumerate() {
                        let act = &acts[(first_row + t) * blocks + b];
                        for (sum, unpacked) in sums.iter_mut().zip(&unpacked) {
                            F::accumulate(unpacked, act, sum);
                        }
                    }
                }
                for (t, sums) in sums.iter().enumerate().take(m - first_row) {
                    for (c, &sum) in sums.iter().enumerate().take(cols) {
                        outputs[c * m + first_row + t] = sum;
                    }
                }
            }
        }
    });
    for (j, column) in transposed.chunks_exact(m).enumerate() {
        for (r, &value) in column.iter().enumerate() {
            out[r * n + j] = value;
        }
    }
}
