//! Sentence pooling as sentence-transformers does it for all-MiniLM-L6-v2:
//! the mean of the token vectors over the attention mask (padding excluded),
//! then L2 normalization.

use candle_core::{D, DType, Result, Tensor};

/// Mean of `hidden` (`batch × seq × dim`) over the positions where `mask`
/// (`batch × seq`, 1 for tokens, 0 for padding) is 1. The token count is
/// clamped at 1e-9 as sentence-transformers does, so an all-padding row is zero.
pub fn masked_mean(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(D::Minus1)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::INFINITY)?;
    summed.broadcast_div(&counts)
}

/// Each row divided by its L2 norm (clamped at 1e-12, as torch's
/// `F.normalize`).
pub fn l2_normalize(rows: &Tensor) -> Result<Tensor> {
    let norms = rows.to_dtype(DType::F32)?.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::INFINITY)?;
    rows.broadcast_div(&norms)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn padding_positions_do_not_count() {
        let hidden =
            Tensor::new(&[[[1f32, 2.], [3., 4.], [100., 100.]], [[5., 5.], [7., 9.], [9., 13.]]], &Device::Cpu)
                .unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0], [1, 1, 1]], &Device::Cpu).unwrap();
        let mean = masked_mean(&hidden, &mask).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(mean, vec![vec![2., 3.], vec![7., 9.]]);
        let all_padding = Tensor::new(&[[0u32, 0, 0]], &Device::Cpu).unwrap();
        let zero = masked_mean(&hidden.narrow(0, 0, 1).unwrap(), &all_padding).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(zero, vec![vec![0., 0.]]);
    }

    #[test]
    fn rows_get_unit_length_and_zero_stays_zero() {
        let rows = Tensor::new(&[[3f32, 4.], [0., 0.]], &Device::Cpu).unwrap();
        let unit = l2_normalize(&rows).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(unit, vec![vec![0.6, 0.8], vec![0., 0.]]);
    }
}
