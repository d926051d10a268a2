//! Activation rows quantized to 8 bits per value, the way candle 0.9
//! (and ggml) does before a quantized dot product: `Q8_0` (32 values, one
//! f16 scale) and `Q8_1` (the same plus the scaled sum, for formats with a
//! minimum). The
//! rounding mirrors candle's `from_float` step by step, so that our kernels
//! see the very integers candle's do.

use half::f16;

/// 32 activations as `round(x / d)` with `d = amax / 127` (f16-rounded).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActQ8_0 {
    /// The block scale, already rounded through f16.
    pub(crate) d: f32,
    /// The quantized values.
    pub(crate) qs: [i8; 32],
}

/// [`ActQ8_0`] plus `s = sum(qs) * d` (f16-rounded), for Q4_1/Q5_1 weights.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActQ8_1 {
    /// The block scale, already rounded through f16.
    pub(crate) d: f32,
    /// The scaled sum of the quantized values, rounded through f16.
    pub(crate) s: f32,
    /// The quantized values.
    pub(crate) qs: [i8; 32],
}

/// An activation block type: quantized from `N` floats.
pub(crate) trait ActBlock: Copy + Send + Sync {
    /// Values per block.
    const N: usize;
    /// The all-zero block.
    const ZERO: Self;
    /// Quantizes `xs` (exactly `Self::N` values).
    fn quantize(xs: &[f32]) -> Self;
}

/// `amax / 127` and its inverse (0 for an all-zero block), as candle.
fn scale_127(xs: &[f32]) -> (f32, f32) {
    let amax = xs.iter().fold(0f32, |m, x| m.max(x.abs()));
    let d = amax / 127.0;
    (d, if d != 0.0 { 1.0 / d } else { 0.0 })
}

impl ActBlock for ActQ8_0 {
    const N: usize = 32;
    const ZERO: Self = Self { d: 0.0, qs: [0; 32] };

    fn quantize(xs: &[f32]) -> Self {
        let (d, id) = scale_127(xs);
        let mut qs = [0i8; 32];
        for (q, &x) in qs.iter_mut().zip(xs) {
            *q = (x * id).round() as i8;
        }
        Self { d: f16::from_f32(d).to_f32(), qs }
    }
}

impl ActBlock for ActQ8_1 {
    const N: usize = 32;
    const ZERO: Self = Self { d: 0.0, s: 0.0, qs: [0; 32] };

    fn quantize(xs: &[f32]) -> Self {
        let (d, id) = scale_127(xs);
        let d16 = f16::from_f32(d);
        let mut qs = [0i8; 32];
        let mut sum = 0i32;
        for j in 0..16 {
            qs[j] = (xs[j] * id).round() as i8;
            qs[j + 16] = (xs[j + 16] * id).round() as i8;
            sum += i32::from(qs[j]) + i32::from(qs[j + 16]);
        }
        let s = f16::from_f32(sum as f32) * d16;
        Self { d: d16.to_f32(), s: s.to_f32(), qs }
    }
}

/// Quantizes `m` rows of `k` values (`k` a multiple of `A::N`) into
/// `m * k / A::N` blocks, row after row.
pub(crate) fn quantize_rows<A: ActBlock>(xs: &[f32], out: &mut Vec<A>) {
    out.clear();
    out.extend(xs.chunks_exact(A::N).map(A::quantize));
}
