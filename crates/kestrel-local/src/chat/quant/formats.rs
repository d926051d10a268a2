//! The GGUF weight block formats our kernels read — Q4_1 and Q5_0, the two
//! candle 0.9 runs as scalar code on x86 (every matrix of SmolLM2's Q4_1
//! file; Qwen2.5-0.5B Q4_K_M's 896-wide ones): each one's byte layout, how
//! one block unpacks to small integers, and how one unpacked block is
//! dotted with one activation block.
//!
//! Integer sums are exact whatever the order; the float accumulation is
//! candle's scalar loop, term for term, so the results equal candle's bit
//! for bit and greedy decoding keeps its tokens.

use half::f16;

use super::activations::{ActBlock, ActQ8_0, ActQ8_1};

/// A weight block format: `BYTES` bytes hold `A::N` weights.
pub(crate) trait Format: Send + Sync + 'static {
    /// Bytes per block.
    const BYTES: usize;
    /// The activation blocks it is dotted with.
    type Act: ActBlock;
    /// One block unpacked.
    type Unpacked: Copy + Send + Sync;
    /// A fresh unpacked block to unpack into.
    const EMPTY: Self::Unpacked;
    /// Unpacks one block (`bytes` is exactly `BYTES` long).
    fn unpack(bytes: &[u8], out: &mut Self::Unpacked);
    /// Adds one block's products to a row's running sum (candle's order).
    fn accumulate(w: &Self::Unpacked, a: &Self::Act, acc: &mut f32);
}

fn half(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// The sum of 32 products.
#[inline(always)]
fn dot32(w: &[i8], a: &[i8]) -> i32 {
    let mut sum = 0i32;
    for (&w, &a) in w[..32].iter().zip(&a[..32]) {
        sum += i32::from(i16::from(w) * i16::from(a));
    }
    sum
}

/// Q4_1: f16 scale, f16 minimum, 32 nibbles; `w = d * q + m`.
#[derive(Debug)]
pub(crate) struct Q4_1;

/// An unpacked 32-weight block with its scale (and minimum).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Small {
    q: [i8; 32],
    d: f32,
    m: f32,
}

impl Format for Q4_1 {
    const BYTES: usize = 20;
    type Act = ActQ8_1;
    type Unpacked = Small;
    const EMPTY: Small = Small { q: [0; 32], d: 0.0, m: 0.0 };

    #[inline(always)]
    fn unpack(bytes: &[u8], out: &mut Small) {
        out.d = half(bytes, 0);
        out.m = half(bytes, 2);
        let qs = &bytes[4..20];
        for (j, &byte) in qs.iter().enumerate() {
            out.q[j] = (byte & 0x0F) as i8;
            out.q[j + 16] = (byte >> 4) as i8;
        }
    }

    #[inline(always)]
    fn accumulate(w: &Small, a: &ActQ8_1, acc: &mut f32) {
        let sumi = dot32(&w.q, &a.qs);
        *acc += sumi as f32 * w.d * a.d + w.m * a.s;
    }
}

/// Q5_0: f16 scale, 32 high bits, 32 nibbles; `w = d * (q - 16)`.
#[derive(Debug)]
pub(crate) struct Q5_0;

impl Format for Q5_0 {
    const BYTES: usize = 22;
    type Act = ActQ8_0;
    type Unpacked = Small;
    const EMPTY: Small = Small { q: [0; 32], d: 0.0, m: 0.0 };

    #[inline(always)]
    fn unpack(bytes: &[u8], out: &mut Small) {
        out.d = half(bytes, 0);
        let qh = u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
        let qs = &bytes[6..22];
        for (j, &byte) in qs.iter().enumerate() {
            let h0 = (((qh >> j) & 1) << 4) as u8;
            let h1 = (((qh >> (j + 16)) & 1) << 4) as u8;
            out.q[j] = ((byte & 0x0F) | h0) as i8 - 16;
            out.q[j + 16] = ((byte >> 4) | h1) as i8 - 16;
        }
    }

    #[inline(always)]
    fn accumulate(w: &Small, a: &ActQ8_0, acc: &mut f32) {
        let sumi = dot32(&w.q, &a.qs);
        *acc += sumi as f32 * w.d * a.d;
    }
}
