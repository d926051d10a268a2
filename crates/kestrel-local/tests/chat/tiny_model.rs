//! A tiny GGUF chat model written by the tests: random Q8_0, Q5_0 and Q4_1 weights
//! (llama or qwen2 layout), a byte-level BPE vocabulary with a few merges,
//! ChatML special tokens and a chat template in the metadata.

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

pub const HIDDEN: usize = 64;
pub const HEADS: u32 = 4;
pub const KV_HEADS: u32 = 2;
pub const FFN: usize = 128;
pub const LAYERS: u32 = 2;
pub const MERGES: [&str; 6] = ["h e", "l l", "he ll", "Ġ w", "o r", "Ġw or"];
pub const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
pub const TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are tiny.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// GPT-2's byte → printable character table.
pub fn byte_to_char(byte: u8) -> char {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let b = u32::from(byte);
    if printable(b) {
        return char::from(byte);
    }
    char::from_u32(256 + (0..b).filter(|&x| !printable(x)).count() as u32).unwrap()
}

/// The vocabulary: specials, the 256 byte tokens, then one token per merge.
pub fn tokens() -> Vec<String> {
    let mut tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    tokens.extend((0..=255u8).map(|b| byte_to_char(b).to_string()));
    tokens.extend(MERGES.iter().map(|m| m.replace(' ', "")));
    tokens
}

/// A deterministic pseudo-random tensor in `[-scale, scale)`.
fn random(shape: (usize, usize), seed: u64, scale: f32) -> Tensor {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let values: Vec<f32> = (0..shape.0 * shape.1)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn q8(t: &Tensor) -> QTensor {
    quantize(t, GgmlDType::Q8_0)
}

fn quantize(t: &Tensor, dtype: GgmlDType) -> QTensor {
    QTensor::quantize(t, dtype).unwrap()
}

fn f32_vec(values: Vec<f32>) -> QTensor {
    let n = values.len();
    QTensor::quantize(&Tensor::from_vec(values, n, &Device::Cpu).unwrap(), GgmlDType::F32).unwrap()
}

/// Writes the tiny model (`architecture` = `llama` or `qwen2`) into `dir`
/// and returns the file's path.
pub fn write_tiny_model(dir: &Path, architecture: &str) -> PathBuf {
    let tokens = tokens();
    let vocab = tokens.len();
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    tensors.push(("token_embd.weight".into(), q8(&random((vocab, HIDDEN), 1, 1.0))));
    tensors.push(("output_norm.weight".into(), f32_vec(vec![1.0; HIDDEN])));
    let head_dim = HIDDEN / HEADS as usize;
    let kv = head_dim * KV_HEADS as usize;
    for l in 0..LAYERS as usize {
        let seed = 100 + 20 * l as u64;
        let name = |part: &str| format!("blk.{l}.{part}");
        tensors.push((name("attn_norm.weight"), f32_vec(vec![1.0; HIDDEN])));
        tensors.push((name("ffn_norm.weight"), f32_vec(vec![1.0; HIDDEN])));
        // Q5_0 and Q4_1 (the engine's own kernels) as in Qwen2.5-0.5B's and SmolLM2's files.
        tensors.push((name("attn_q.weight"), quantize(&random((HIDDEN, HIDDEN), seed, 0.5), GgmlDType::Q5_0)));
        tensors.push((name("attn_k.weight"), q8(&random((kv, HIDDEN), seed + 1, 0.5))));
        tensors.push((name("attn_v.weight"), q8(&random((kv, HIDDEN), seed + 2, 0.5))));
        tensors.push((name("attn_output.weight"), quantize(&random((HIDDEN, HIDDEN), seed + 3, 0.3), GgmlDType::Q5_0)));
        tensors.push((name("ffn_gate.weight"), quantize(&random((FFN, HIDDEN), seed + 4, 0.3), GgmlDType::Q4_1)));
        tensors.push((name("ffn_up.weight"), quantize(&random((FFN, HIDDEN), seed + 5, 0.3), GgmlDType::Q4_1)));
        tensors.push((name("ffn_down.weight"), q8(&random((HIDDEN, FFN), seed + 6, 0.3))));
        if architecture == "qwen2" {
            let bias = |n: usize, s: u64| f32_vec(random((1, n), s, 0.1).flatten_all().unwrap().to_vec1().unwrap());
            tensors.push((name("attn_q.bias"), bias(HIDDEN, seed + 7)));
            tensors.push((name("attn_k.bias"), bias(kv, seed + 8)));
            tensors.push((name("attn_v.bias"), bias(kv, seed + 9)));
        }
    }
    let key = |k: &str| format!("{architecture}.{k}");
    let strings = |items: Vec<String>| Value::Array(items.into_iter().map(Value::String).collect());
    let types: Vec<Value> = (0..vocab).map(|i| Value::I32(if i < SPECIALS.len() { 3 } else { 1 })).collect();
    let metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(architecture.into())),
        (key("block_count"), Value::U32(LAYERS)),
        (key("context_length"), Value::U32(512)),
        (key("embedding_length"), Value::U32(HIDDEN as u32)),
        (key("feed_forward_length"), Value::U32(FFN as u32)),
        (key("attention.head_count"), Value::U32(HEADS)),
        (key("attention.head_count_kv"), Value::U32(KV_HEADS)),
        (key("rope.freq_base"), Value::F32(10_000.0)),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String(if architecture == "qwen2" { "qwen2" } else { "smollm" }.into())),
        ("tokenizer.ggml.tokens".into(), strings(tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        ("tokenizer.ggml.merges".into(), strings(MERGES.iter().map(|m| m.to_string()).collect())),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ("tokenizer.chat_template".into(), Value::String(TEMPLATE.into())),
    ];
    let path = dir.join(format!("tiny-{architecture}.gguf"));
    let mut file = std::fs::File::create(&path).unwrap();
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut file, &metadata, &tensors).unwrap();
    path
}
