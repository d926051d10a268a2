//! The engine's own quantized matmul over GGUF weight blocks (see
//! docs/PERFORMANCE.md, "Local models"): [`Linear`] runs a weight matrix
//! either through our weight-stationary batched kernel (`kernel.rs`) when
//! its block format is one we read (`formats.rs`: Q4_1, Q5_0, Q8_0, Q4_K,
//! Q6_K — every matrix of SmolLM2's and Qwen2.5-0.5B's files), or through
//! candle's `QMatMul` otherwise. Activations are quantized as candle does
//! (`activations.rs`) and the float sums follow candle's order, so the
//! outputs are candle's, bit for bit on the build's kernels.

mod activations;
mod formats;
mod kernel;

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Module, Tensor};

use formats::{Format, Q4_1, Q4K, Q5_0, Q6K, Q8_0};

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
    data: Vec<u8>,
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

    /// Whether our kernel runs this matrix.
    #[cfg(test)]
    pub(crate) fn is_own(&self) -> bool {
        matches!(self, Self::Own(_))
    }
}

impl OwnMatrix {
    fn new(tensor: &QTensor) -> candle_core::Result<Option<Self>> {
        let (block, bytes) = match tensor.dtype() {
            GgmlDType::Q4_1 => (32, Q4_1::BYTES),
            GgmlDType::Q5_0 => (32, Q5_0::BYTES),
            GgmlDType::Q8_0 => (32, Q8_0::BYTES),
            GgmlDType::Q4K => (256, Q4K::BYTES),
            GgmlDType::Q6K => (256, Q6K::BYTES),
            _ => return Ok(None),
        };
        let [n, k] = tensor.shape().dims() else { return Ok(None) };
        let (n, k) = (*n, *k);
        if k == 0 || k % block != 0 || tensor.dtype().type_size() != bytes || tensor.dtype().block_size() != block {
            return Ok(None);
        }
        let data = tensor.data()?.into_owned();
        if data.len() != n * (k / block) * bytes {
            return Ok(None);
        }
        Ok(Some(Self { dtype: tensor.dtype(), n, k, data }))
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        let Some((&k, batch)) = dims.split_last() else { candle_core::bail!("matmul of a scalar") };
        if k != self.k {
            candle_core::bail!("matmul: input width {k}, matrix width {}", self.k);
        }
        let xs = x.flatten_all()?.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
        let m = xs.len() / k;
        let mut out = vec![0f32; m * self.n];
        let (data, n) = (&self.data[..], self.n);
        match self.dtype {
            GgmlDType::Q4_1 => kernel::matmul::<Q4_1>(data, n, k, &xs, &mut out),
            GgmlDType::Q5_0 => kernel::matmul::<Q5_0>(data, n, k, &xs, &mut out),
            GgmlDType::Q8_0 => kernel::matmul::<Q8_0>(data, n, k, &xs, &mut out),
            GgmlDType::Q4K => kernel::matmul::<Q4K>(data, n, k, &xs, &mut out),
            GgmlDType::Q6K => kernel::matmul::<Q6K>(data, n, k, &xs, &mut out),
            other => candle_core::bail!("no kernel for {other:?}"),
        }
        let mut shape = batch.to_vec();
        shape.push(self.n);
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
