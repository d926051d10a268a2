//! [`CacheKey`]: the SHA-256 of a canonical, versioned serialization of the
//! parts of a request that determine its answer.
//!
//! # Key format, version 1 (stable: changing it orphans every cached entry)
//!
//! The key is `SHA-256(bytes)` where `bytes` is the concatenation of:
//!
//! | part            | encoding                                                        |
//! |-----------------|-----------------------------------------------------------------|
//! | version tag     | the 23 ASCII bytes `kestrel-lm/cache-key/v1`                    |
//! | model           | `str`                                                           |
//! | messages        | `u64` count, then per message: role `str`, content `str`        |
//! | `n`             | `u32`                                                           |
//! | temperature     | `opt`, then the IEEE-754 bits of the `f32` as a `u32`           |
//! | `max_tokens`    | `opt`, then `u32`                                               |
//! | stop            | `u64` count, then each sequence as a `str`                      |
//! | response_format | `opt`, then the canonical JSON text as a `str`                  |
//! | `rollout_id`    | `opt`, then `u64`                                               |
//! | output structure| only when present: `str` `output_structure`, then its canonical JSON as a `str` |
//! | tools           | only when present: `str` `tools`, then the canonical JSON of the list as a `str` |
//!
//! where `u32`/`u64` are little-endian, `str` is a `u64` byte length followed
//! by the UTF-8 bytes, `opt` is one byte (`0` absent — nothing follows — or
//! `1` present), and roles are spelled `system`, `user`, `assistant`.
//! Temperatures are hashed by their exact bits (`0.7f32` is `0x3F33_3333` on
//! every platform), with `-0.0` folded into `0.0` and every NaN into the
//! canonical quiet NaN. Canonical JSON is compact, with object keys sorted by
//! their UTF-8 bytes at every depth, strings escaped as `serde_json` does and
//! numbers printed as `serde_json` prints them.
//!
//! The output structure (constrained decoding of ChatAdapter replies) is
//! appended only when a request carries one, so requests without it keep
//! the keys they always had.
//!
//! Never hashed: the API key, the base URL and `use_cache` (none of them
//! changes the answer).

use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::request::LmRequest;

/// The version tag that starts every hashed key (see the module docs).
const KEY_VERSION_TAG: &[u8] = b"kestrel-lm/cache-key/v1";

/// The tag before an output structure's canonical JSON (see the module docs).
const OUTPUT_STRUCTURE_TAG: &str = "output_structure";

/// The tag before the tools' canonical JSON (see the module docs).
const TOOLS_TAG: &str = "tools";

/// The cache key of one request: 32 bytes of SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key of `request` sent to `model` (format: see the module docs).
    pub fn for_request(model: &str, request: &LmRequest) -> CacheKey {
        let mut h = Hasher(Sha256::new());
        h.bytes(KEY_VERSION_TAG);
        h.str(model);
        h.u64(request.messages.len() as u64);
        for message in &request.messages {
            h.str(message.role.as_str());
            h.str(&message.content);
        }
        h.u32(request.n);
        if let Some(temperature) = h.some(request.temperature) {
            h.u32(canonical_f32_bits(temperature));
        }
        if let Some(max_tokens) = h.some(request.max_tokens) {
            h.u32(max_tokens);
        }
        h.u64(request.stop.len() as u64);
        for stop in &request.stop {
            h.str(stop);
        }
        if let Some(format) = h.some(request.response_format.as_ref()) {
            let mut text = String::new();
            canonical_json(format, &mut text);
            h.str(&text);
        }
        if let Some(rollout_id) = h.some(request.rollout_id) {
            h.u64(rollout_id);
        }
        // Appended only when present, so keys of requests without one are
        // those of every earlier key.
        if let Some(structure) = &request.output_structure {
            h.str(OUTPUT_STRUCTURE_TAG);
            let value = serde_json::to_value(structure).unwrap_or(Value::Null);
            let mut text = String::new();
            canonical_json(&value, &mut text);
            h.str(&text);
        }
        if !request.tools.is_empty() {
            h.str(TOOLS_TAG);
            let mut text = String::new();
            canonical_json(&Value::Array(request.tools.clone()), &mut text);
            h.str(&text);
        }
        CacheKey(h.0.finalize().into())
    }

    /// A key from its raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> CacheKey {
        CacheKey(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as 64 lowercase hex digits (the disk cache's file name).
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// Parse 64 hex digits (either case); `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<CacheKey> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Some(CacheKey(out))
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The bits hashed for a temperature: exact, with `-0.0` and NaNs folded.
fn canonical_f32_bits(value: f32) -> u32 {
    if value.is_nan() {
        f32::NAN.to_bits()
    } else if value == 0.0 {
        0
    } else {
        value.to_bits()
    }
}

/// Append the canonical JSON text of `value` (sorted keys, compact).
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(k, out);
                out.push(':');
                canonical_json(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        Value::String(s) => push_json_string(s, out),
        // null, booleans and numbers: serde_json's own compact text.
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn push_json_string(s: &str, out: &mut String) {
    out.push_str(&Value::String(s.to_owned()).to_string());
}

/// Length-prefixed, little-endian writes into a SHA-256.
struct Hasher(Sha256);

impl Hasher {
    fn bytes(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn u32(&mut self, v: u32) {
        self.0.update(v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.update(v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.update(s.as_bytes());
    }
    /// Write the presence byte of `value` and pass it through.
    fn some<T>(&mut self, value: Option<T>) -> Option<T> {
        self.0.update([u8::from(value.is_some())]);
        value
    }
}
