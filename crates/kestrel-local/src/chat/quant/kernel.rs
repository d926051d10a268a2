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
use super::formats::{Acc, Format};

/// Activation rows that share one unpacking of a weight block.
const ROW_TILE: usize = 16;

/// Outputs (weight rows) per rayon task.
const OUTPUTS_PER_TASK: usize = 32;

/// Computes `out[r * n + j] = x[r] · w[j]` for `m = x.len() / k` rows.
/// `weights` holds `n` rows of `k / F::Act::N` blocks of `F::BYTES`;
/// the caller checked the sizes.
pub(crate) fn matmul<F: Format>(weights: &[u8], n: usize, k: usize, x: &[f32], out: &mut [f32]) {
    let blocks = k / F::Act::N;
    let m = x.len() / k;
    let row_bytes = blocks * F::BYTES;
    let mut acts = Vec::with_capacity(m * blocks);
    quantize_rows::<F::Act>(x, &mut acts);
    // Outputs transposed (`[j][r]`) so that each task owns a contiguous slice.
    let mut transposed = vec![0f32; n * m];
    transposed.par_chunks_mut(OUTPUTS_PER_TASK * m).enumerate().for_each(|(task, chunk)| {
        let first = task * OUTPUTS_PER_TASK;
        let mut unpacked = F::EMPTY;
        let mut accs = [Acc::default(); ROW_TILE];
        for (offset, outputs) in chunk.chunks_mut(m).enumerate() {
            let row = &weights[(first + offset) * row_bytes..][..row_bytes];
            for tile in 0..m.div_ceil(ROW_TILE) {
                let rows = tile * ROW_TILE..((tile + 1) * ROW_TILE).min(m);
                let accs = &mut accs[..rows.len()];
                accs.fill(Acc::default());
                for (b, bytes) in row.chunks_exact(F::BYTES).enumerate() {
                    F::unpack(bytes, &mut unpacked);
                    for (acc, r) in accs.iter_mut().zip(rows.clone()) {
                        F::accumulate(&unpacked, &acts[r * blocks + b], acc);
                    }
                }
                for (slot, acc) in outputs[rows].iter_mut().zip(accs.iter()) {
                    *slot = F::finish(acc);
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
