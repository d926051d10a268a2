//! LoRA adapters in Hugging Face PEFT's format: a directory holding
//! `adapter_config.json` (`peft_type: LORA`, `r`, `lora_alpha`,
//! `target_modules`, …) and `adapter_model.safetensors` with keys such as
//! `base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight`
//! (`lora_A`: `[r, in]`, `lora_B`: `[out, r]`, the update being
//! `B·A·alpha/r`).
//!
//! Adapters are kept in the Hugging Face layout. llama.cpp stores llama's
//! q/k projections with each head's rows permuted (so that rotary pairs are
//! adjacent); [`gguf_rows_from_hf`] and [`hf_rows_from_gguf`] convert the
//! rows of a `lora_B` between the two, so an adapter trained here applies
//! to the Hugging Face model and one trained with PEFT applies here.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde_json::{Value, json};

use super::gguf::io_error;
use crate::LocalError;

/// The projections LoRA can target, by their PEFT (Hugging Face) names.
pub const TARGET_MODULES: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// The adapter's weights file.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// The adapter's configuration file.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";

/// One adapted projection: `a` is `[r, in]`, `b` is `[out, r]`, in the
/// Hugging Face row order.
#[derive(Debug, Clone)]
pub(crate) struct LoraPair {
    pub(crate) layer: usize,
    /// Index into [`TARGET_MODULES`].
    pub(crate) module: usize,
    pub(crate) a: Tensor,
    pub(crate) b: Tensor,
}

/// A loaded adapter.
#[derive(Debug, Clone)]
pub(crate) struct PeftAdapter {
    /// `alpha / r` (or `alpha / sqrt(r)` with `use_rslora`).
    pub(crate) scale: f64,
    pub(crate) pairs: Vec<LoraPair>,
}

/// What `adapter_config.json` records besides the weights.
// Writing adapters is the trainer's (feature `finetune`); loading is always built.
#[cfg_attr(not(feature = "finetune"), allow(dead_code))]
#[derive(Debug, Clone)]
pub(crate) struct AdapterMeta {
    pub(crate) r: usize,
    pub(crate) alpha: f64,
    pub(crate) dropout: f64,
    pub(crate) target_modules: Vec<String>,
    pub(crate) base_model: String,
}

/// The PEFT key of one matrix (`which`: `A` or `B`).
pub(crate) fn peft_key(layer: usize, module: usize, which: char) -> String {
    let block = if module < 4 { "self_attn" } else { "mlp" };
    format!("base_model.model.model.layers.{layer}.{block}.{}.lora_{which}.weight", TARGET_MODULES[module])
}

/// Parses a PEFT key into (layer, module, `A`/`B`).
fn parse_key(key: &str) -> Option<(usize, usize, char)> {
    let rest = key.strip_prefix("base_model.model.model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer = layer.parse().ok()?;
    let rest = rest.strip_prefix("self_attn.").or_else(|| rest.strip_prefix("mlp."))?;
    let (name, rest) = rest.split_once('.')?;
    let module = TARGET_MODULES.iter().position(|m| *m == name)?;
    let which = match rest {
        "lora_A.weight" => 'A',
        "lora_B.weight" => 'B',
        _ => return None,
    };
    (peft_key(layer, module, which) == key).then_some((layer, module, which))
}

pub(crate) fn adapter_error(path: &Path, message: impl Into<String>) -> LocalError {
    LocalError::Adapter { path: path.to_owned(), message: message.into() }
}

/// Reads an adapter directory. Only plain LoRA is supported: DoRA,
/// `fan_in_fan_out` layouts and per-module rank or alpha patterns are
/// [`LocalError::Adapter`].
pub(crate) fn load(dir: &Path) -> Result<PeftAdapter, LocalError> {
    let config_path = dir.join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&config_path).map_err(|error| io_error(&config_path, error))?;
    let bad = |message: String| adapter_error(dir, message);
    let config: Value = serde_json::from_str(&text).map_err(|error| bad(format!("{ADAPTER_CONFIG}: {error}")))?;
    if config.get("peft_type").and_then(Value::as_str) != Some("LORA") {
        return Err(bad("peft_type is not LORA".to_owned()));
    }
    let r = config.get("r").and_then(Value::as_u64).filter(|&r| r > 0).ok_or_else(|| bad("no rank `r`".to_owned()))?;
    let alpha = config.get("lora_alpha").and_then(Value::as_f64).unwrap_or(8.0);
    let flag = |name: &str| config.get(name).and_then(Value::as_bool).unwrap_or(false);
    if flag("use_dora") || flag("fan_in_fan_out") {
        return Err(bad("DoRA and fan_in_fan_out adapters are not supported".to_owned()));
    }
    for pattern in ["rank_pattern", "alpha_pattern"] {
        if config.get(pattern).and_then(Value::as_object).is_some_and(|m| !m.is_empty()) {
            return Err(bad(format!("{pattern} is not supported")));
        }
    }
    let scale = if flag("use_rslora") { alpha / (r as f64).sqrt() } else { alpha / r as f64 };
    let weights_path = dir.join(ADAPTER_WEIGHTS);
    if !weights_path.is_file() {
        return Err(LocalError::MissingFile { path: weights_path });
    }
    let tensors = candle_core::safetensors::load(&weights_path, &Device::Cpu)
        .map_err(|error| bad(format!("{ADAPTER_WEIGHTS}: {error}")))?;
    let mut halves: HashMap<(usize, usize), (Option<Tensor>, Option<Tensor>)> = HashMap::new();
    for (key, tensor) in tensors {
        let (layer, module, which) = parse_key(&key).ok_or_else(|| bad(format!("unexpected tensor `{key}`")))?;
        let tensor = tensor.to_dtype(candle_core::DType::F32).map_err(|error| bad(format!("{key}: {error}")))?;
        let entry = halves.entry((layer, module)).or_default();
        if which == 'A' { entry.0 = Some(tensor) } else { entry.1 = Some(tensor) }
    }
    let mut pairs = Vec::with_capacity(halves.len());
    for ((layer, module), pair) in halves {
        let (Some(a), Some(b)) = pair else {
            return Err(bad(format!("layer {layer} {} has only one of lora_A / lora_B", TARGET_MODULES[module])));
        };
        let rank_ok = matches!((a.dims(), b.dims()), ([ra, _], [_, rb]) if *ra as u64 == r && *rb as u64 == r);
        if !rank_ok {
            return Err(bad(format!(
                "layer {layer} {}: lora_A {:?} and lora_B {:?} do not have rank {r}",
                TARGET_MODULES[module],
                a.dims(),
                b.dims()
            )));
        }
        pairs.push(LoraPair { layer, module, a, b });
    }
    if pairs.is_empty() {
        return Err(bad("no LoRA weights".to_owned()));
    }
    pairs.sort_by_key(|p| (p.layer, p.module));
    Ok(PeftAdapter { scale, pairs })
}

/// Writes an adapter directory (created if needed).
#[cfg_attr(not(feature = "finetune"), allow(dead_code))]
pub(crate) fn save(dir: &Path, meta: &AdapterMeta, pairs: &[LoraPair]) -> Result<(), LocalError> {
    std::fs::create_dir_all(dir).map_err(|error| io_error(dir, error))?;
    let mut tensors = HashMap::new();
    for pair in pairs {
        tensors.insert(peft_key(pair.layer, pair.module, 'A'), pair.a.clone());
        tensors.insert(peft_key(pair.layer, pair.module, 'B'), pair.b.clone());
    }
    let weights_path = dir.join(ADAPTER_WEIGHTS);
    candle_core::safetensors::save(&tensors, &weights_path)
        .map_err(|error| adapter_error(dir, format!("writing {ADAPTER_WEIGHTS}: {error}")))?;
    let config = json!({
        "alpha_pattern": {},
        "auto_mapping": null,
        "base_model_name_or_path": meta.base_model,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "layers_pattern": null,
        "layers_to_transform": null,
        "lora_alpha": meta.alpha,
        "lora_dropout": meta.dropout,
        "modules_to_save": null,
        "peft_type": "LORA",
        "r": meta.r,
        "rank_pattern": {},
        "revision": null,
        "target_modules": meta.target_modules,
        "task_type": "CAUSAL_LM",
        "use_dora": false,
        "use_rslora": false,
    });
    let text = serde_json::to_string_pretty(&config).map_err(|error| adapter_error(dir, error.to_string()))?;
    let config_path = dir.join(ADAPTER_CONFIG);
    std::fs::write(&config_path, text).map_err(|error| io_error(&config_path, error))
}

/// Reorders the rows of a llama q/k `lora_B` (`[heads × head_dim, r]`)
/// from the Hugging Face order (rotary halves) to GGUF's (adjacent pairs).
pub(crate) fn gguf_rows_from_hf(b: &Tensor, head_dim: usize) -> candle_core::Result<Tensor> {
    permute_rows(b, head_dim, |j, half| (j % 2) * half + j / 2)
}

/// The inverse of [`gguf_rows_from_hf`].
#[cfg_attr(not(feature = "finetune"), allow(dead_code))]
pub(crate) fn hf_rows_from_gguf(b: &Tensor, head_dim: usize) -> candle_core::Result<Tensor> {
    permute_rows(b, head_dim, |j, half| 2 * (j % half) + j / half)
}

/// Row `h·d + j` of the result is row `h·d + source(j, d/2)` of `b`.
fn permute_rows(b: &Tensor, head_dim: usize, source: impl Fn(usize, usize) -> usize) -> candle_core::Result<Tensor> {
    let rows = b.dim(0)?;
    if head_dim < 2 || head_dim % 2 != 0 || rows % head_dim != 0 {
        candle_core::bail!("{rows} rows are not whole heads of {head_dim}");
    }
    let half = head_dim / 2;
    let index: Vec<u32> = (0..rows).map(|g| ((g / head_dim) * head_dim + source(g % head_dim, half)) as u32).collect();
    b.index_select(&Tensor::from_vec(index, rows, b.device())?, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_strangers_are_rejected() {
        for layer in [0, 17] {
            for module in 0..TARGET_MODULES.len() {
                for which in ['A', 'B'] {
                    assert_eq!(parse_key(&peft_key(layer, module, which)), Some((layer, module, which)));
                }
            }
        }
        assert_eq!(peft_key(3, 0, 'A'), "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight");
        assert_eq!(peft_key(0, 6, 'B'), "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight");
        assert_eq!(parse_key("base_model.model.model.layers.0.mlp.q_proj.lora_A.weight"), None);
        assert_eq!(parse_key("base_model.model.lm_head.lora_A.weight"), None);
    }

    #[test]
    fn the_row_permutations_are_inverse_and_match_llama_cpp() {
        let rows: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let b = Tensor::from_vec(rows, (8, 1), &Device::Cpu).unwrap();
        // llama.cpp: reshape(heads, 2, d/2).swapaxes(1, 2) — head of 4: [0, 2, 1, 3]
        let gguf = gguf_rows_from_hf(&b, 4).unwrap();
        assert_eq!(gguf.flatten_all().unwrap().to_vec1::<f32>().unwrap(), [0., 2., 1., 3., 4., 6., 5., 7.]);
        let back = hf_rows_from_gguf(&gguf, 4).unwrap();
        assert_eq!(back.flatten_all().unwrap().to_vec1::<f32>().unwrap(), [0., 1., 2., 3., 4., 5., 6., 7.]);
    }
}
