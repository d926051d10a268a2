//! The engine's own quantized matmul over GGUF weight blocks (see
//! docs/PERFORMANCE.md, "Local models"): [`Linear`] runs a weight matrix
//! either through our weight-stationary batched kernel (`kernel.rs`) when
//! its block format is one candle has no SIMD kernel for (`formats.rs`:
//! Q4_1, Q5_0 — every matrix of SmolLM2's file, the 896-wide ones of
//! Qwen2.5-0.5B Q4_K_M's), or through candle's `QMatMul` otherwise (its
//! AVX2 kernels for Q8_0 and the k-quants were faster than what this crate,
//! which forbids `unsafe` and so has no `std::arch` intrinsics, gets from
//! the compiler's auto-vectorization; see docs/PERFORMANCE.md).
//! Activations are quantized as candle does (`activations.rs`) and the
//! float sums follow candle's order, so the outputs are candle's, bit for
//! bit.

mod activations;
mod formats;
mod kernel;

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Module, Tensor};

use formats::{Format, Q4_1, Q5_0};

/// A weight matrix `[n][k]` applied to the last dimension of its input.
#[derive(Debug)]
pub(crate) enum Linear {
    /// Our kernel over the raw blocks.
    Own(OwnMatrix),
    /// candle's quantized matmul (block formats we do not read).
    Candle(QMatMul),
}

/// A matrix in one of the formats [`formats`] reads, as its raw blocks.
#[derive(Debug)]
pub(crate) struct OwnMatrix {
    dtype: GgmlDType,
    n: usize,
    k: usize,
    /// The blocks (borrowed from here on each call, not copied).
    tensor: Arc<QTensor>,
    /// candle's matmul of the same blocks, for the one case where ours was
    /// not faster (Q5_0, a single row: unpacking its fifth bits costs as much
    /// as candle's fused scalar loop). Both give the same bits.
    single_row: Option<QMatMul>,
}

impl Linear {
    /// The matrix, through our kernel when `own` and its format is one we
    /// read, through candle's otherwise.
    pub(crate) fn new(tensor: Arc<QTensor>, own: bool) -> candle_core::Result<Self> {
        if own && let Some(matrix) = OwnMatrix::new(&tensor)? {
            return Ok(Self::Own(matrix));
        }
        QMatMul::from_arc(tensor).map(Self::Candle)
    }

    /// The matrix as dense `f32` (`[n, k]`; LoRA merging and training).
    pub(crate) fn dequantize(&self) -> candle_core::Result<Tensor> {
        match self {
            Self::Own(matrix) => matrix.tensor.dequantize(&candle_core::Device::Cpu),
            Self::Candle(QMatMul::QTensor(q)) => q.dequantize(&candle_core::Device::Cpu),
            Self::Candle(QMatMul::Tensor(t) | QMatMul::TensorF16(t)) => t.to_dtype(candle_core::DType::F32),
        }
    }

    /// A dense `f32` matrix, through candle's matmul.
    pub(crate) fn dense(weight: Tensor) -> Self {
        Self::Candle(QMatMul::Tensor(weight))
    }

    /// Whether our kernel runs this matrix.
    #[cfg(test)]
    pub(crate) fn is_own(&self) -> bool {
        matches!(self, Self::Own(_))
    }
}

impl OwnMatrix {
    fn new(tensor: &Arc<QTensor>) -> candle_core::Result<Option<Self>> {
        let (block, bytes) = match tensor.dtype() {
            GgmlDType::Q4_1 => (32, Q4_1::BYTES),
            GgmlDType::Q5_0 => (32, Q5_0::BYTES),
            _ => return Ok(None),
        };
        let [n, k] = tensor.shape().dims() else { return Ok(None) };
        let (n, k) = (*n, *k);
        if k == 0 || k % block != 0 || tensor.dtype().type_size() != bytes || tensor.dtype().block_size() != block {
            return Ok(None);
        }
        if tensor.data()?.len() != n * (k / block) * bytes {
            return Ok(None);
        }
        let single_row = match tensor.dtype() {
            GgmlDType::Q5_0 => Some(QMatMul::from_arc(Arc::clone(tensor))?),
            _ => None,
        };
        Ok(Some(Self { dtype: tensor.dtype(), n, k, tensor: Arc::clone(tensor), single_row }))
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        let Some((&k, batch)) = dims.split_last() else { candle_core::bail!("matmul of a scalar") };
        if k != self.k {
            candle_core::bail!("matmul: input width {k}, matrix width {}", self.k);
        }
        let m = batch.iter().product::<usize>();
        let mut shape = batch.to_vec();
        shape.push(self.n);
        if m == 0 {
            return Tensor::zeros(shape, candle_core::DType::F32, x.device());
        }
        if let (1, Some(matmul)) = (m, &self.single_row) {
            return matmul.forward(x);
        }
        let xs = x.flatten_all()?.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
        let mut out = vec![0f32; m * self.n];
        let data = self.tensor.data()?;
        let (data, n) = (&data[..], self.n);
        match self.dtype {
            GgmlDType::Q4_1 => kernel::matmul::<Q4_1>(data, n, k, &xs, &mut out),
            GgmlDType::Q5_0 => kernel::matmul::<Q5_0>(data, n, k, &xs, &mut out),
            other => candle_core::bail!("no kernel for {other:?}"),
        }
        Tensor::from_vec(out, shape, x.device())
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Own(matrix) => matrix.forward(x),
            Self::Candle(matmul) => matmul.forward(x),
        }
    }
}

#[cfg(test)]
mod tests;
