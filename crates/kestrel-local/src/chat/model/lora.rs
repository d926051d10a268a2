//! LoRA and the loaded model: merging a PEFT adapter into the weights at
//! load time, and (feature `finetune`) a dense `f32` copy of the weights
//! for training.
//!
//! A merged projection is kept as a dense `f32` matrix: `W + B·A·scale` is
//! computed from the dequantized weights and not re-quantized, because a
//! LoRA update is usually smaller than one quantization step of Q4/Q8
//! blocks and re-rounding would erase much of it. Only adapted matrices
//! grow (SmolLM2-135M with all seven projections adapted: about 420 MB of
//! `f32` instead of 60 MB of Q4_1).

use std::path::Path;

use candle_core::Tensor;

use super::{Architecture, Layer, Model};
use crate::LocalError;
use crate::chat::peft::{PeftAdapter, TARGET_MODULES, adapter_error, gguf_rows_from_hf};
use crate::chat::quant::Linear;

/// A projection matrix as dense `f32` (`[out, in]`).
pub(crate) fn dense_matrix(matmul: &Linear) -> candle_core::Result<Tensor> {
    matmul.dequantize()
}

impl Layer {
    /// The projection a [`TARGET_MODULES`] index names.
    fn projection_mut(&mut self, module: usize) -> Option<&mut Linear> {
        Some(match module {
            0 => &mut self.wq,
            1 => &mut self.wk,
            2 => &mut self.wv,
            3 => &mut self.wo,
            4 => &mut self.gate,
            5 => &mut self.up,
            6 => &mut self.down,
            _ => return None,
        })
    }
}

impl Model {
    /// Adds every `B·A·scale` of `adapter` to its projection. An adapter
    /// for another model (layer out of range, shapes that do not fit) is
    /// [`LocalError::Adapter`] and leaves the model unchanged.
    pub(crate) fn merge_lora(&mut self, adapter: &PeftAdapter, dir: &Path) -> Result<(), LocalError> {
        let head_dim = self.config.heads.head_dim;
        let llama = self.config.architecture == Architecture::Llama;
        let layers = self.layers.len();
        let mut merged = Vec::with_capacity(adapter.pairs.len());
        for pair in &adapter.pairs {
            let name = TARGET_MODULES.get(pair.module).copied().unwrap_or("?");
            let bad = |message: String| adapter_error(dir, format!("layer {} {name}: {message}", pair.layer));
            let layer = self.layers.get_mut(pair.layer).ok_or_else(|| bad(format!("the model has {layers} layers")))?;
            let slot = layer.projection_mut(pair.module).ok_or_else(|| bad("unknown module".to_owned()))?;
            let weight = dense_matrix(slot).map_err(|error| bad(error.to_string()))?;
            let (out, input) = weight.dims2().map_err(|error| bad(error.to_string()))?;
            let (a_rows, a_cols) = pair.a.dims2().map_err(|error| bad(error.to_string()))?;
            let (b_rows, b_cols) = pair.b.dims2().map_err(|error| bad(error.to_string()))?;
            if a_cols != input || b_rows != out || a_rows != b_cols {
                return Err(bad(format!(
                    "lora_A [{a_rows}, {a_cols}] and lora_B [{b_rows}, {b_cols}] do not fit a [{out}, {input}] weight"
                )));
            }
            let merge = || -> candle_core::Result<Tensor> {
                let b = if llama && pair.module < 2 { gguf_rows_from_hf(&pair.b, head_dim)? } else { pair.b.clone() };
                weight + (b.matmul(&pair.a)? * adapter.scale)?
            };
            merged.push((pair.layer, pair.module, merge().map_err(|error| bad(error.to_string()))?));
        }
        for (layer, module, weight) in merged {
            if let Some(slot) = self.layers.get_mut(layer).and_then(|l| l.projection_mut(module)) {
                *slot = Linear::dense(weight);
            }
        }
        Ok(())
    }
}

/// One layer of [`DenseModel`].
#[cfg(feature = "finetune")]
#[derive(Debug)]
pub(crate) struct DenseLayer {
    pub(crate) attn_norm: Tensor,
    pub(crate) ffn_norm: Tensor,
    /// q, k, v biases (qwen2).
    pub(crate) biases: [Option<Tensor>; 3],
    /// The projections in [`TARGET_MODULES`] order, `[out, in]`, GGUF rows.
    pub(crate) weights: [Tensor; 7],
}

/// The weights of a model as dense `f32` tensors (for training: quantized
/// matmuls have no backward pass).
#[cfg(feature = "finetune")]
#[derive(Debug)]
pub(crate) struct DenseModel {
    pub(crate) config: super::ModelConfig,
    pub(crate) embed: Tensor,
    pub(crate) norm: Tensor,
    pub(crate) output: Tensor,
    pub(crate) layers: Vec<DenseLayer>,
}

#[cfg(feature = "finetune")]
impl Model {
    /// Dequantizes every weight to `f32`.
    pub(crate) fn to_dense(&self) -> candle_core::Result<DenseModel> {
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let weights = [
                dense_matrix(&layer.wq)?,
                dense_matrix(&layer.wk)?,
                dense_matrix(&layer.wv)?,
                dense_matrix(&layer.wo)?,
                dense_matrix(&layer.gate)?,
                dense_matrix(&layer.up)?,
                dense_matrix(&layer.down)?,
            ];
            layers.push(DenseLayer {
                attn_norm: layer.attn_norm.clone(),
                ffn_norm: layer.ffn_norm.clone(),
                biases: [layer.bq.clone(), layer.bk.clone(), layer.bv.clone()],
                weights,
            });
        }
        Ok(DenseModel {
            config: self.config.clone(),
            embed: self.embed.clone(),
            norm: self.norm.clone(),
            output: dense_matrix(&self.output)?,
            layers,
        })
    }
}
