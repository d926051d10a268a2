//! The GGUF weight block formats our kernels read (Q4_1, Q5_0, Q8_0, Q4_K,
//! Q6_K): each one's byte layout, how one block unpacks to small integers,
//! and how one unpacked block is dotted with one activation block.
//!
//! Integer sums are exact whatever the order; the float accumulation
//! mirrors candle 0.9's kernel for the same format on this build (its AVX2
//! kernel's eight lanes and final horizontal sum where candle has one, its
//! scalar loop for Q4_1 and Q5_0, which it has no SIMD kernel for), so the
//! results equal candle's bit for bit and greedy decoding keeps its tokens.

use half::f16;

use super::activations::{ActBlock, ActQ8_0, ActQ8_1, ActQ8K};

/// Whether candle's SIMD kernels are the AVX2 ones on this build (they are
/// chosen at compile time).
const AVX2: bool = cfg!(target_feature = "avx2");

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
    /// Adds one block's products to a row's accumulator.
    fn accumulate(w: &Self::Unpacked, a: &Self::Act, acc: &mut Acc);
    /// The row's dot product.
    fn finish(acc: &Acc) -> f32;
}

/// One output's running sums: eight lanes (AVX2 kernels), four more for
/// Q4_K's minimums, or one scalar.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Acc {
    lanes: [f32; 8],
    mins: [f32; 4],
    scalar: f32,
}

fn half(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// `a * b + c`, fused when the build has FMA (as `_mm256_fmadd_ps`).
#[inline(always)]
fn fma(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_feature = "fma") { a.mul_add(b, c) } else { a * b + c }
}

/// `_mm256`-style horizontal sum of eight lanes (candle's `hsum_float_8`).
#[inline(always)]
fn hsum8(x: &[f32; 8]) -> f32 {
    ((x[0] + x[4]) + (x[2] + x[6])) + ((x[1] + x[5]) + (x[3] + x[7]))
}

/// Products of 32 pairs summed in eight lanes of four neighbours (the
/// lanes of `maddubs` + `madd`).
#[inline(always)]
fn lanes32(w: &[i8], a: &[i8]) -> [i32; 8] {
    let mut p = [0i16; 32];
    for ((p, &w), &a) in p.iter_mut().zip(&w[..32]).zip(&a[..32]) {
        *p = i16::from(w) * i16::from(a);
    }
    let mut lanes = [0i32; 8];
    for (lane, p) in lanes.iter_mut().zip(p.chunks_exact(4)) {
        *lane = (i32::from(p[0]) + i32::from(p[1])) + (i32::from(p[2]) + i32::from(p[3]));
    }
    lanes
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

    fn unpack(bytes: &[u8], out: &mut Small) {
        out.d = half(bytes, 0);
        out.m = half(bytes, 2);
        let qs = &bytes[4..20];
        for j in 0..16 {
            out.q[j] = (qs[j] & 0x0F) as i8;
            out.q[j + 16] = (qs[j] >> 4) as i8;
        }
    }

    #[inline(always)]
    fn accumulate(w: &Small, a: &ActQ8_1, acc: &mut Acc) {
        let sumi = dot32(&w.q, &a.qs);
        acc.scalar += sumi as f32 * w.d * a.d + w.m * a.s;
    }

    fn finish(acc: &Acc) -> f32 {
        acc.scalar
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

    fn unpack(bytes: &[u8], out: &mut Small) {
        out.d = half(bytes, 0);
        let qh = u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
        let qs = &bytes[6..22];
        for j in 0..16 {
            let h0 = (((qh >> j) & 1) << 4) as u8;
            let h1 = (((qh >> (j + 16)) & 1) << 4) as u8;
            out.q[j] = ((qs[j] & 0x0F) | h0) as i8 - 16;
            out.q[j + 16] = ((qs[j] >> 4) | h1) as i8 - 16;
        }
    }

    #[inline(always)]
    fn accumulate(w: &Small, a: &ActQ8_0, acc: &mut Acc) {
        let sumi = dot32(&w.q, &a.qs);
        acc.scalar += sumi as f32 * w.d * a.d;
    }

    fn finish(acc: &Acc) -> f32 {
        acc.scalar
    }
}

/// Q8_0: f16 scale, 32 signed bytes; `w = d * q`.
#[derive(Debug)]
pub(crate) struct Q8_0;

impl Format for Q8_0 {
    const BYTES: usize = 34;
    type Act = ActQ8_0;
    type Unpacked = Small;
    const EMPTY: Small = Small { q: [0; 32], d: 0.0, m: 0.0 };

    fn unpack(bytes: &[u8], out: &mut Small) {
        out.d = half(bytes, 0);
        for (q, &b) in out.q.iter_mut().zip(&bytes[2..34]) {
            *q = b as i8;
        }
    }

    #[inline(always)]
    fn accumulate(w: &Small, a: &ActQ8_0, acc: &mut Acc) {
        if AVX2 {
            let d = w.d * a.d;
            let lanes = lanes32(&w.q, &a.qs);
            for (acc, &lane) in acc.lanes.iter_mut().zip(&lanes) {
                *acc = fma(d, lane as f32, *acc);
            }
        } else {
            acc.scalar += dot32(&w.q, &a.qs) as f32 * w.d * a.d;
        }
    }

    fn finish(acc: &Acc) -> f32 {
        if AVX2 { hsum8(&acc.lanes) } else { acc.scalar }
    }
}

/// An unpacked 256-weight k-quant block: the integers and the sub-block
/// scales (and minimums).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Super {
    q: [i8; 256],
    d: f32,
    dmin: f32,
    scales: [i8; 16],
    mins: [u8; 8],
}

const EMPTY_SUPER: Super = Super { q: [0; 256], d: 0.0, dmin: 0.0, scales: [0; 16], mins: [0; 8] };

/// Q4_K: f16 scale and minimum, eight 6-bit sub-block scales and minimums,
/// 256 nibbles; `w = d * sc * q - dmin * m` per 32 weights.
#[derive(Debug)]
pub(crate) struct Q4K;

/// The 6-bit scale and minimum of sub-block `j` (ggml's `get_scale_min_k4`).
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

impl Format for Q4K {
    const BYTES: usize = 144;
    type Act = ActQ8K;
    type Unpacked = Super;
    const EMPTY: Super = EMPTY_SUPER;

    fn unpack(bytes: &[u8], out: &mut Super) {
        out.d = half(bytes, 0);
        out.dmin = half(bytes, 2);
        let scales = &bytes[4..16];
        for j in 0..8 {
            let (sc, m) = scale_min_k4(j, scales);
            out.scales[j] = sc as i8; // 6 bits: fits
            out.mins[j] = m;
        }
        let qs = &bytes[16..144];
        for j in 0..4 {
            for l in 0..32 {
                out.q[64 * j + l] = (qs[32 * j + l] & 0xF) as i8;
                out.q[64 * j + 32 + l] = (qs[32 * j + l] >> 4) as i8;
            }
        }
    }

    #[inline(always)]
    fn accumulate(w: &Super, a: &ActQ8K, acc: &mut Acc) {
        let d = a.d * w.d;
        let dmin = -a.d * w.dmin;
        let mut q8s = [0i32; 8];
        for (i, s) in q8s.iter_mut().enumerate() {
            *s = i32::from(a.bsums[2 * i]) + i32::from(a.bsums[2 * i + 1]);
        }
        for i in 0..4 {
            let prod = i32::from(w.mins[2 * i]) * q8s[2 * i] + i32::from(w.mins[2 * i + 1]) * q8s[2 * i + 1];
            acc.mins[i] = fma(dmin, prod as f32, acc.mins[i]);
        }
        let mut sumi = [0i32; 8];
        for s in 0..8 {
            let lanes = lanes32(&w.q[32 * s..], &a.qs[32 * s..]);
            let scale = i32::from(w.scales[s]);
            for (sum, lane) in sumi.iter_mut().zip(lanes) {
                *sum += scale * lane;
            }
        }
        for (acc, &sum) in acc.lanes.iter_mut().zip(&sumi) {
            *acc = fma(d, sum as f32, *acc);
        }
    }

    fn finish(acc: &Acc) -> f32 {
        let m = &acc.mins;
        hsum8(&acc.lanes) + ((m[0] + m[2]) + (m[1] + m[3]))
    }
}

/// Q6_K: 256 6-bit weights (low nibbles, high bit pairs), sixteen signed
/// 8-bit sub-block scales, an f16 scale; `w = d * sc * (q - 32)` per 16.
#[derive(Debug)]
pub(crate) struct Q6K;

impl Format for Q6K {
    const BYTES: usize = 210;
    type Act = ActQ8K;
    type Unpacked = Super;
    const EMPTY: Super = EMPTY_SUPER;

    fn unpack(bytes: &[u8], out: &mut Super) {
        let (ql, qh) = (&bytes[0..128], &bytes[128..192]);
        for (s, &b) in out.scales.iter_mut().zip(&bytes[192..208]) {
            *s = b as i8;
        }
        out.d = half(bytes, 208);
        for j in 0..2 {
            let (ql, qh, q) = (&ql[64 * j..], &qh[32 * j..], &mut out.q[128 * j..]);
            for l in 0..32 {
                q[l] = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i8 - 32;
                q[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
                q[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
                q[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
            }
        }
    }

    #[inline(always)]
    fn accumulate(w: &Super, a: &ActQ8K, acc: &mut Acc) {
        let d = a.d * w.d;
        let mut sumi = [0i32; 8];
        for v in 0..8 {
            let lanes = lanes32(&w.q[32 * v..], &a.qs[32 * v..]);
            let (lo, hi) = (i32::from(w.scales[2 * v]), i32::from(w.scales[2 * v + 1]));
            for l in 0..4 {
                sumi[l] += lo * lanes[l];
                sumi[l + 4] += hi * lanes[l + 4];
            }
        }
        for (acc, &sum) in acc.lanes.iter_mut().zip(&sumi) {
            *acc = fma(d, sum as f32, *acc);
        }
    }

    fn finish(acc: &Acc) -> f32 {
        hsum8(&acc.lanes)
    }
}
