//! The OpenAI embeddings wire format: `POST /v1/embeddings` answered with
//! deterministic unit vectors derived from a hash of each input.
//!
//! The same text always gets the same vector (across runs and platforms);
//! different texts get unrelated vectors. `dimensions` is honoured (default
//! [`DEFAULT_DIMENSIONS`]) and `encoding_format: "base64"` returns
//! little-endian `f32` bytes in base64, as OpenAI does.

use hyper::StatusCode;
use serde_json::{Value, json};

use super::wire::{Flavor, JsonReply, error, ok, required_str, words};

/// Vector length when the request names no `dimensions`.
pub const DEFAULT_DIMENSIONS: usize = 16;

/// Largest `dimensions` accepted.
const MAX_DIMENSIONS: u64 = 4096;

/// Answer one embeddings request, or a 400 for a malformed body.
pub(super) fn embeddings(body: &Value) -> JsonReply {
    match build(body) {
        Ok(reply) => ok(reply),
        Err(message) => error(Flavor::OpenAi, StatusCode::BAD_REQUEST, &message),
    }
}

fn build(body: &Value) -> Result<Value, String> {
    let model = required_str(body, "model")?;
    let inputs = inputs(body.get("input").ok_or("you must provide an `input` parameter")?)?;
    let dimensions = match body.get("dimensions") {
        None | Some(Value::Null) => DEFAULT_DIMENSIONS,
        Some(v) => match v.as_u64() {
            Some(d) if (1..=MAX_DIMENSIONS).contains(&d) => d as usize,
            _ => return Err(format!("`dimensions` must be an integer between 1 and {MAX_DIMENSIONS}, got {v}")),
        },
    };
    let base64 = match body.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => return Err(format!("unknown `encoding_format` `{other}`")),
    };
    let mut tokens = 0;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            tokens += words(text);
            let vector = embed(text, dimensions);
            let embedding = if base64 { Value::from(encode_base64(&vector)) } else { json!(vector) };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
}

/// The texts to embed: a string, a list of strings, or token arrays (which
/// are embedded by their JSON text).
fn inputs(input: &Value) -> Result<Vec<String>, String> {
    match input {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => Err("`input` must not be empty".to_string()),
        Value::Array(items) if items.iter().all(Value::is_number) => Ok(vec![input.to_string()]),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Array(_) => Ok(item.to_string()),
                other => Err(format!("`input` items must be strings or token arrays, got {other}")),
            })
            .collect(),
        other => Err(format!("`input` must be a string or a list, got {other}")),
    }
}

/// The deterministic unit vector of `text` (FNV-1a seed, SplitMix64 stream).
pub fn embed(text: &str, dimensions: usize) -> Vec<f32> {
    let seed = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let raw: Vec<f64> = (0..dimensions as u64)
        .map(|i| {
            let bits = splitmix64(seed.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
            (bits >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    raw.iter().map(|x| if norm > 0.0 { (x / norm) as f32 } else { 0.0 }).collect()
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Standard base64 (with padding) of the little-endian `f32` bytes.
fn encode_base64(vector: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_deterministic_and_unit_length() {
        let a = embed("hello world", 16);
        assert_eq!(a, embed("hello world", 16));
        assert_ne!(a, embed("hello world!", 16));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        // 1.0f32 is 00 00 80 3f little-endian.
        assert_eq!(encode_base64(&[1.0]), "AACAPw==");
        assert_eq!(encode_base64(&[1.0, 1.0]), "AACAPwAAgD8=");
    }
}
