//! The transformer forward pass of llama and qwen2 GGUF models over
//! candle's quantized tensors: RMS norm, rotary embeddings, grouped-query
//! attention (qwen2: with q/k/v biases), SwiGLU. The KV cache lives outside
//! the model ([`KvCache`], one per sequence); one call runs a ragged batch —
//! any number of sequences, each with any number of new tokens — through
//! every matmul at once, attention per sequence.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};

use super::attention::{Heads, Rope, RopeStyle, attend};
use super::gguf::{GgufFile, invalid};
use super::kv_cache::KvCache;
use super::quant::Linear;
use crate::LocalError;

mod lora;
#[cfg(feature = "finetune")]
pub(crate) use lora::DenseModel;

/// The largest context the rotary tables are built for.
const MAX_POSITIONS: usize = 32_768;

/// The architectures the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Architecture {
    /// Llama (SmolLM2): no attention biases, interleaved rotary pairs.
    Llama,
    /// Qwen2: q/k/v biases, rotary halves.
    Qwen2,
}

/// Hyper-parameters read from GGUF metadata.
#[derive(Debug, Clone)]
pub(crate) struct ModelConfig {
    pub(crate) architecture: Architecture,
    pub(crate) layers: usize,
    pub(crate) heads: Heads,
    pub(crate) rms_eps: f32,
    pub(crate) rope_base: f32,
    pub(crate) rope_dims: usize,
    pub(crate) context_length: usize,
    pub(crate) vocab_size: usize,
}

impl ModelConfig {
    fn read(file: &GgufFile) -> Result<Self, LocalError> {
        let name = file.str("general.architecture")?;
        let architecture = match name {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            other => {
                return Err(LocalError::UnsupportedArchitecture {
                    path: file.path().to_owned(),
                    architecture: other.to_owned(),
                });
            }
        };
        let key = |suffix: &str| format!("{name}.{suffix}");
        let usize_of = |suffix: &str| file.u32(&key(suffix)).map(|n| n as usize);
        let layers = usize_of("block_count")?;
        let hidden = usize_of("embedding_length")?;
        let n_head = usize_of("attention.head_count")?;
        let n_kv = file.opt_u32(&key("attention.head_count_kv"))?.map_or(n_head, |n| n as usize);
        let bad = |message: &str| invalid(file.path(), message.to_owned());
        if n_head == 0 || n_kv == 0 || hidden % n_head != 0 || n_head % n_kv != 0 || layers == 0 {
            return Err(bad("inconsistent head counts or sizes"));
        }
        let head_dim = hidden / n_head;
        let rope_dims = file.opt_u32(&key("rope.dimension_count"))?.map_or(head_dim, |n| n as usize);
        if rope_dims > head_dim || rope_dims % 2 != 0 {
            return Err(bad("rope.dimension_count does not fit the heads"));
        }
        let rms_eps = file.opt_f32(&key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5);
        let rope_base = file.opt_f32(&key("rope.freq_base"))?.unwrap_or(10_000.0);
        let context_length = file.opt_u32(&key("context_length"))?.map_or(4096, |n| n as usize);
        let embed_dims =
            file.tensor_dims("token_embd.weight").ok_or_else(|| bad("missing tensor token_embd.weight"))?;
        let vocab_size = match embed_dims.as_slice() {
            [rows, cols] if *cols == hidden => *rows,
            _ => return Err(bad("token_embd.weight does not match embedding_length")),
        };
        Ok(Self {
            architecture,
            layers,
            heads: Heads { n_head, n_kv, head_dim },
            rms_eps,
            rope_base,
            rope_dims,
            context_length: context_length.min(MAX_POSITIONS),
            vocab_size,
        })
    }
}

#[derive(Debug)]
struct Layer {
    attn_norm: Tensor,
    wq: Linear,
    wk: Linear,
    wv: Linear,
    bq: Option<Tensor>,
    bk: Option<Tensor>,
    bv: Option<Tensor>,
    wo: Linear,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// The weights of one model.
#[derive(Debug)]
pub(crate) struct Model {
    config: ModelConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    output: Linear,
    rope: Rope,
}

/// One sequence's share of a batched forward: its new tokens and its cache
/// (which the forward extends).
#[derive(Debug)]
pub(crate) struct SeqStep<'a> {
    pub(crate) tokens: &'a [u32],
    pub(crate) cache: &'a mut KvCache,
}

impl Model {
    /// Loads the weights of a GGUF file. With `requantize`, matrices in a
    /// block format that candle has no SIMD dot product for
    /// ([`needs_requantize`]) are converted to Q8_0 once, here. With
    /// `own_kernels`, the matrices run through the engine's own
    /// weight-stationary kernels ([`Linear`]) instead of candle's `QMatMul`.
    pub(crate) fn load(file: &mut GgufFile, requantize: bool, own_kernels: bool) -> Result<Self, LocalError> {
        let config = ModelConfig::read(file)?;
        let path = file.path().to_owned();
        let candle = |error: candle_core::Error| invalid(&path, error.to_string());
        let embed_q = Arc::new(file.tensor("token_embd.weight")?);
        let embed = embed_q.dequantize(&Device::Cpu).map_err(candle)?;
        let output = if file.has_tensor("output.weight") {
            Linear::new(Arc::new(file.tensor("output.weight")?), own_kernels).map_err(candle)?
        } else {
            Linear::new(embed_q, own_kernels).map_err(candle)?
        };
        let norm = dense(file, "output_norm.weight")?;
        let bias = config.architecture == Architecture::Qwen2;
        let mut layers = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let name = |part: &str| format!("blk.{i}.{part}");
            let mut matmul = |part: &str| -> Result<Linear, LocalError> {
                let tensor: QTensor = file.tensor(&name(part))?;
                let tensor = if requantize && needs_requantize(&tensor) { to_q8_0(&tensor) } else { Ok(tensor) };
                tensor
                    .and_then(|tensor| Linear::new(Arc::new(tensor), own_kernels))
                    .map_err(|error| invalid(&path, error.to_string()))
            };
            let wq = matmul("attn_q.weight")?;
            let wk = matmul("attn_k.weight")?;
            let wv = matmul("attn_v.weight")?;
            let wo = matmul("attn_output.weight")?;
            let gate = matmul("ffn_gate.weight")?;
            let up = matmul("ffn_up.weight")?;
            let down = matmul("ffn_down.weight")?;
            let optional_bias = |file: &mut GgufFile, part: &str| -> Result<Option<Tensor>, LocalError> {
                if bias || file.has_tensor(&name(part)) { dense(file, &name(part)).map(Some) } else { Ok(None) }
            };
            let bq = optional_bias(file, "attn_q.bias")?;
            let bk = optional_bias(file, "attn_k.bias")?;
            let bv = optional_bias(file, "attn_v.bias")?;
            layers.push(Layer {
                attn_norm: dense(file, &name("attn_norm.weight"))?,
                wq,
                wk,
                wv,
                bq,
                bk,
                bv,
                wo,
                ffn_norm: dense(file, &name("ffn_norm.weight"))?,
                gate,
                up,
                down,
            });
        }
        let style = match config.architecture {
            Architecture::Llama => RopeStyle::Interleaved,
            Architecture::Qwen2 => RopeStyle::Halves,
        };
        let rope = Rope::new(style, config.rope_dims, config.rope_base, config.context_length);
        Ok(Self { config, embed, layers, norm, output, rope })
    }

    /// The hyper-parameters.
    pub(crate) fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The longest sequence (prompt + completion) the model runs.
    pub(crate) fn max_positions(&self) -> usize {
        self.rope.max_positions()
    }

    /// An empty cache for one sequence.
    pub(crate) fn new_cache(&self) -> KvCache {
        KvCache::new(self.config.layers)
    }

    /// Runs a ragged batch: every sequence's new tokens go through the
    /// matmuls together; each sequence's cache is extended. Returns the
    /// logits after each sequence's last new token, in batch order.
    pub(crate) fn forward(&self, batch: &mut [SeqStep<'_>]) -> candle_core::Result<Vec<Vec<f32>>> {
        let total: usize = batch.iter().map(|s| s.tokens.len()).sum();
        if total == 0 || batch.iter().any(|s| s.tokens.is_empty()) {
            candle_core::bail!("every sequence of a batch needs at least one new token");
        }
        if let Some(step) = batch.iter().find(|s| s.cache.len() + s.tokens.len() > self.max_positions()) {
            candle_core::bail!(
                "sequence of {} tokens is longer than the model's context ({})",
                step.cache.len() + step.tokens.len(),
                self.max_positions()
            );
        }
        let device = Device::Cpu;
        let Heads { n_head, n_kv, head_dim } = self.config.heads;
        let (q_width, kv_width) = (n_head * head_dim, n_kv * head_dim);
        let ids: Vec<u32> = batch.iter().flat_map(|s| s.tokens.iter().copied()).collect();
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.config.vocab_size) {
            candle_core::bail!("token id {bad} is outside the vocabulary ({})", self.config.vocab_size);
        }
        let ids = Tensor::from_vec(ids, total, &device)?;
        let mut x = self.embed.index_select(&ids, 0)?;
        for (l, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, self.config.rms_eps)?;
            let project = |w: &Linear, b: &Option<Tensor>| -> candle_core::Result<Vec<f32>> {
                let y = h.apply(w)?;
                let y = match b {
                    Some(b) => y.broadcast_add(b)?,
                    None => y,
                };
                y.flatten_all()?.to_vec1::<f32>()
            };
            let mut q = project(&layer.wq, &layer.bq)?;
            let mut k = project(&layer.wk, &layer.bk)?;
            let v = project(&layer.wv, &layer.bv)?;
            let mut out = vec![0f32; total * q_width];
            let mut row = 0;
            for step in batch.iter_mut() {
                let start = step.cache.len();
                let t = step.tokens.len();
                for i in 0..t {
                    self.rope.apply(&mut q[(row + i) * q_width..(row + i + 1) * q_width], head_dim, start + i);
                    self.rope.apply(&mut k[(row + i) * kv_width..(row + i + 1) * kv_width], head_dim, start + i);
                }
                step.cache.append(
                    l,
                    &k[row * kv_width..(row + t) * kv_width],
                    &v[row * kv_width..(row + t) * kv_width],
                );
                let (keys, values) = step.cache.layer(l);
                attend(
                    &q[row * q_width..(row + t) * q_width],
                    keys,
                    values,
                    start,
                    self.config.heads,
                    &mut out[row * q_width..(row + t) * q_width],
                );
                row += t;
            }
            let attn = Tensor::from_vec(out, (total, q_width), &device)?.apply(&layer.wo)?;
            x = (x + attn)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, self.config.rms_eps)?;
            let gate = candle_nn::ops::silu(&h.apply(&layer.gate)?)?;
            let up = h.apply(&layer.up)?;
            x = (x + (gate * up)?.apply(&layer.down)?)?;
        }
        let mut last = Vec::with_capacity(batch.len());
        let mut row = 0u32;
        for step in batch.iter_mut() {
            row += step.tokens.len() as u32;
            last.push(row - 1);
            step.cache.advance(step.tokens.len());
        }
        let last = Tensor::from_vec(last, batch.len(), &device)?;
        let x = x.index_select(&last, 0)?;
        let x = candle_nn::ops::rms_norm(&x, &self.norm, self.config.rms_eps)?;
        x.apply(&self.output)?.to_dtype(DType::F32)?.to_vec2::<f32>()
    }
}

/// Whether a matrix is in a block format whose dot product candle 0.9 runs
/// as scalar code on x86 (`vec_dot_unopt`): Q4_1, Q5_0, Q5_1. SmolLM2's
/// Q4_1 file is all Q4_1; Qwen2.5-0.5B's Q4_K_M file keeps 133 matrices
/// (those 896 wide, not a multiple of the k-quants' 256) in Q5_0.
pub(crate) fn needs_requantize(tensor: &QTensor) -> bool {
    let k = tensor.shape().dims().last().copied().unwrap_or(0);
    matches!(tensor.dtype(), GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1) && k % 32 == 0
}

/// The same matrix in Q8_0 (32 weights per block, one f16 scale, AVX2 dot
/// product): dequantized exactly, then each block re-rounded to 8 bits.
fn to_q8_0(tensor: &QTensor) -> candle_core::Result<QTensor> {
    QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)
}

/// A small tensor (norm weights, biases) as dense `f32`.
fn dense(file: &mut GgufFile, name: &str) -> Result<Tensor, LocalError> {
    let path = file.path().to_owned();
    file.tensor(name)?.dequantize(&Device::Cpu).map_err(|error| invalid(&path, format!("{name}: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_block_formats_are_requantized_to_q8_0_closely() {
        let values: Vec<f32> = (0..4 * 64).map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 0.3).collect();
        let dense = Tensor::from_vec(values, (4, 64), &Device::Cpu).unwrap();
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1] {
            let stored = QTensor::quantize(&dense, dtype).unwrap();
            assert!(needs_requantize(&stored), "{dtype:?}");
            let q8 = to_q8_0(&stored).unwrap();
            assert_eq!(q8.dtype(), GgmlDType::Q8_0);
            assert_eq!(q8.shape().dims(), [4, 64]);
            let before = stored.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let after = q8.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let block_max = before.iter().fold(0f32, |m, x| m.max(x.abs()));
            let worst = before.iter().zip(&after).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            // half a step of 8 bits (amax / 254), plus the f16 rounding of the block scale
            assert!(worst <= block_max / 200.0, "{dtype:?}: {worst} vs {block_max}");
        }
        for dtype in [GgmlDType::Q8_0, GgmlDType::Q4_0] {
            assert!(!needs_requantize(&QTensor::quantize(&dense, dtype).unwrap()), "{dtype:?} has a SIMD kernel");
        }
    }
}
