//! The differentiable forward pass used for training: the same llama /
//! qwen2 computation as the engine (RMS norm, rotary embeddings, grouped-
//! query causal attention, SwiGLU), written with candle tensor operations
//! that have a backward pass, over the dense `f32` weights, plus a LoRA
//! branch `dropout(x)·Aᵀ·Bᵀ·scale` on each adapted projection. Only the
//! LoRA matrices are [`Var`]s.

use candle_core::{D, Device, Tensor, Var};

use crate::chat::model::DenseModel;

/// A small seeded generator (SplitMix64) for initialisation, shuffling
/// and dropout masks.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Fisher–Yates.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// The LoRA matrices of one projection: `a` is `[r, in]`, `b` `[out, r]`
/// (GGUF row order).
#[derive(Debug)]
pub(crate) struct LoraVars {
    pub(crate) a: Var,
    pub(crate) b: Var,
}

/// The model being trained.
#[derive(Debug)]
pub(crate) struct LoraNet {
    pub(crate) dense: DenseModel,
    /// Per layer, per [`crate::chat::peft::TARGET_MODULES`] index.
    pub(crate) lora: Vec<[Option<LoraVars>; 7]>,
    pub(crate) scale: f64,
    pub(crate) dropout: f32,
    cos: Tensor,
    sin: Tensor,
}

impl LoraNet {
    /// LoRA on the `targets` modules of every layer: `A` uniform in
    /// `±1/sqrt(in)` (PEFT's Kaiming-uniform default), `B` zero, so
    /// training starts from the base model.
    pub(crate) fn new(
        dense: DenseModel,
        targets: &[usize],
        rank: usize,
        scale: f64,
        dropout: f32,
        max_len: usize,
        rng: &mut Rng,
    ) -> candle_core::Result<Self> {
        let device = Device::Cpu;
        let mut lora = Vec::with_capacity(dense.layers.len());
        for layer in &dense.layers {
            let mut slots: [Option<LoraVars>; 7] = Default::default();
            for &module in targets {
                let (out, input) = layer.weights[module].dims2()?;
                let bound = 1.0 / (input as f32).sqrt();
                let values: Vec<f32> = (0..rank * input).map(|_| (rng.unit() * 2.0 - 1.0) * bound).collect();
                let a = Var::from_tensor(&Tensor::from_vec(values, (rank, input), &device)?)?;
                let b = Var::zeros((out, rank), candle_core::DType::F32, &device)?;
                slots[module] = Some(LoraVars { a, b });
            }
            lora.push(slots);
        }
        let config = &dense.config;
        let half = config.rope_dims / 2;
        let theta: Vec<f32> =
            (0..half).map(|i| 1f32 / config.rope_base.powf((2 * i) as f32 / config.rope_dims as f32)).collect();
        let angles: Vec<f32> = (0..max_len).flat_map(|p| theta.iter().map(move |t| p as f32 * t)).collect();
        let angles = Tensor::from_vec(angles, (max_len, half), &device)?;
        Ok(Self { cos: angles.cos()?, sin: angles.sin()?, dense, lora, scale, dropout })
    }

    /// Every trained variable.
    pub(crate) fn vars(&self) -> Vec<Var> {
        self.lora.iter().flatten().flatten().flat_map(|v| [v.a.clone(), v.b.clone()]).collect()
    }

    /// The summed cross-entropy of predicting `ids[first_target..]`, each
    /// from the tokens before it. With `rng`, dropout is on (training).
    pub(crate) fn target_loss(
        &self,
        ids: &[u32],
        first_target: usize,
        mut rng: Option<&mut Rng>,
    ) -> candle_core::Result<Tensor> {
        let t = ids.len();
        if first_target == 0 || first_target >= t || t > self.cos.dim(0)? {
            candle_core::bail!("a sample of {t} tokens with targets from {first_target}");
        }
        let device = Device::Cpu;
        let config = &self.dense.config;
        let heads = config.heads;
        let eps = config.rms_eps;
        let input = Tensor::from_vec(ids.to_vec(), t, &device)?;
        let mut x = self.dense.embed.index_select(&input, 0)?;
        let mask: Vec<f32> = (0..t * t).map(|i| if i % t > i / t { f32::NEG_INFINITY } else { 0.0 }).collect();
        let mask = Tensor::from_vec(mask, (t, t), &device)?;
        let cos = self.cos.narrow(0, 0, t)?;
        let sin = self.sin.narrow(0, 0, t)?;
        for (layer, lora) in self.dense.layers.iter().zip(&self.lora) {
            let h = candle_nn::ops::rms_norm_slow(&x, &layer.attn_norm, eps)?;
            let project = |module: usize, x: &Tensor, rng: &mut Option<&mut Rng>| -> candle_core::Result<Tensor> {
                let mut y = x.matmul(&layer.weights[module].t()?)?;
                if let Some(bias) = layer.biases.get(module).and_then(Option::as_ref) {
                    y = y.broadcast_add(bias)?;
                }
                if let Some(vars) = &lora[module] {
                    let x = match rng.as_deref_mut() {
                        Some(rng) if self.dropout > 0.0 => dropout(x, self.dropout, rng)?,
                        _ => x.clone(),
                    };
                    let delta = x.matmul(&vars.a.as_tensor().t()?)?.matmul(&vars.b.as_tensor().t()?)?;
                    y = (y + (delta * self.scale)?)?;
                }
                Ok(y)
            };
            let split = |y: Tensor, n: usize| -> candle_core::Result<Tensor> {
                y.reshape((t, n, heads.head_dim))?.transpose(0, 1)?.contiguous()
            };
            let q = self.rope(&split(project(0, &h, &mut rng)?, heads.n_head)?, &cos, &sin)?;
            let k = self.rope(&split(project(1, &h, &mut rng)?, heads.n_kv)?, &cos, &sin)?;
            let v = split(project(2, &h, &mut rng)?, heads.n_kv)?;
            let group = heads.n_head / heads.n_kv;
            let repeat = |y: Tensor| -> candle_core::Result<Tensor> {
                if group == 1 {
                    return Ok(y);
                }
                y.unsqueeze(1)?.broadcast_as((heads.n_kv, group, t, heads.head_dim))?.contiguous()?.reshape((
                    heads.n_head,
                    t,
                    heads.head_dim,
                ))
            };
            let (k, v) = (repeat(k)?, repeat(v)?);
            let scores = (q.matmul(&k.t()?)? / (heads.head_dim as f64).sqrt())?.broadcast_add(&mask)?;
            let attn = candle_nn::ops::softmax(&scores, D::Minus1)?.matmul(&v)?;
            let attn = attn.transpose(0, 1)?.contiguous()?.reshape((t, heads.n_head * heads.head_dim))?;
            x = (x + project(3, &attn, &mut rng)?)?;
            let h = candle_nn::ops::rms_norm_slow(&x, &layer.ffn_norm, eps)?;
            let gate = project(4, &h, &mut rng)?.silu()?;
            let up = project(5, &h, &mut rng)?;
            x = (x + project(6, &(gate * up)?, &mut rng)?)?;
        }
        let rows: Vec<u32> = (first_target as u32 - 1..t as u32 - 1).collect();
        let targets: Vec<u32> = ids[first_target..].to_vec();
        let n = targets.len();
        let x = x.index_select(&Tensor::from_vec(rows, n, &device)?, 0)?;
        let x = candle_nn::ops::rms_norm_slow(&x, &self.dense.norm, eps)?;
        let logits = x.matmul(&self.dense.output.t()?)?;
        let targets = Tensor::from_vec(targets, n, &device)?;
        candle_nn::loss::cross_entropy(&logits, &targets)? * n as f64
    }

    /// Rotary embeddings on `[heads, t, head_dim]`, the engine's layout
    /// (llama: adjacent pairs; qwen2: halves) on the first `rope_dims`.
    fn rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
        let (n, t, head_dim) = x.dims3()?;
        let dims = self.dense.config.rope_dims;
        let half = dims / 2;
        let rotated = x.narrow(2, 0, dims)?;
        let rotate = |x0: &Tensor, x1: &Tensor| -> candle_core::Result<(Tensor, Tensor)> {
            let a = (x0.broadcast_mul(cos)? - x1.broadcast_mul(sin)?)?;
            let b = (x0.broadcast_mul(sin)? + x1.broadcast_mul(cos)?)?;
            Ok((a, b))
        };
        let out = match self.dense.config.architecture {
            crate::chat::model::Architecture::Llama => {
                let pairs = rotated.reshape((n, t, half, 2))?;
                let x0 = pairs.narrow(3, 0, 1)?.squeeze(3)?;
                let x1 = pairs.narrow(3, 1, 1)?.squeeze(3)?;
                let (a, b) = rotate(&x0, &x1)?;
                Tensor::stack(&[a, b], 3)?.reshape((n, t, dims))?
            }
            crate::chat::model::Architecture::Qwen2 => {
                let (a, b) = rotate(&rotated.narrow(2, 0, half)?, &rotated.narrow(2, half, half)?)?;
                Tensor::cat(&[a, b], 2)?
            }
        };
        if dims == head_dim { Ok(out) } else { Tensor::cat(&[out, x.narrow(2, dims, head_dim - dims)?], 2) }
    }
}

/// Inverted dropout with a seeded mask.
fn dropout(x: &Tensor, p: f32, rng: &mut Rng) -> candle_core::Result<Tensor> {
    let keep = 1.0 / (1.0 - p);
    let mask: Vec<f32> = (0..x.elem_count()).map(|_| if rng.unit() < p { 0.0 } else { keep }).collect();
    x * Tensor::from_vec(mask, x.shape(), x.device())?
}
