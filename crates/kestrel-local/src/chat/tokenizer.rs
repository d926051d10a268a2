//! The tokenizer of a GGUF chat model: `tokenizer.json` beside the file if
//! there is one, else a byte-level BPE `tokenizers::Tokenizer` built from
//! the GGUF metadata (`tokenizer.ggml.tokens`, `merges`, `token_type`, and
//! `tokenizer.ggml.pre` for the pre-tokenizer: `smollm`, `qwen2`,
//! `llama-bpe`, `gpt2`).

use std::path::Path;

use serde_json::{Value, json};
use tokenizers::Tokenizer;

use super::gguf::{GgufFile, invalid};
use crate::LocalError;

/// The split regex of Qwen2's pre-tokenizer (and llama.cpp's `qwen2`).
const QWEN2_PATTERN: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The split regex of Llama 3's pre-tokenizer (llama.cpp's `llama-bpe`).
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF token types that are special tokens matched whole in text.
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// Loads `tokenizer.json` from `dir` if present, else builds the tokenizer
/// from the file's metadata.
pub(crate) fn load_tokenizer(file: &GgufFile, dir: Option<&Path>) -> Result<Tokenizer, LocalError> {
    if let Some(path) = dir.map(|dir| dir.join("tokenizer.json")).filter(|path| path.is_file()) {
        return Tokenizer::from_file(&path).map_err(|error| invalid(&path, error.to_string()));
    }
    from_gguf(file)
}

/// Builds a byte-level BPE tokenizer from GGUF metadata.
pub(crate) fn from_gguf(file: &GgufFile) -> Result<Tokenizer, LocalError> {
    let bad = |message: String| invalid(file.path(), message);
    let model = file.opt_str("tokenizer.ggml.model")?.unwrap_or("gpt2");
    if model != "gpt2" {
        return Err(bad(format!(
            "tokenizer model `{model}`: only byte-level BPE (`gpt2`) is built from GGUF metadata; put a tokenizer.json beside the file"
        )));
    }
    let tokens = file.str_array("tokenizer.ggml.tokens")?;
    if tokens.is_empty() {
        return Err(bad("no tokenizer.ggml.tokens".to_owned()));
    }
    let types = file.i32_array("tokenizer.ggml.token_type")?;
    let merges = file.str_array("tokenizer.ggml.merges")?;
    let pre = file.opt_str("tokenizer.ggml.pre")?.unwrap_or("gpt2");
    let spec = tokenizer_json(&tokens, &types, &merges, pre);
    let text = serde_json::to_string(&spec).map_err(|error| bad(error.to_string()))?;
    text.parse::<Tokenizer>().map_err(|error| bad(format!("building the tokenizer: {error}")))
}

/// The `tokenizer.json` document of a byte-level BPE vocabulary.
fn tokenizer_json(tokens: &[String], types: &[i32], merges: &[String], pre: &str) -> Value {
    let vocab: serde_json::Map<String, Value> =
        tokens.iter().enumerate().map(|(id, token)| (token.clone(), json!(id))).collect();
    let added: Vec<Value> = tokens
        .iter()
        .enumerate()
        .filter(|(id, _)| matches!(types.get(*id), Some(&CONTROL | &USER_DEFINED)))
        .map(|(id, token)| {
            json!({"id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": true})
        })
        .collect();
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": use_regex});
    let split = |pattern: &str| json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false});
    let (normalizer, pre_tokenizer) = match pre {
        "qwen2" => (
            json!({"type": "NFC"}),
            json!({"type": "Sequence", "pretokenizers": [split(QWEN2_PATTERN), byte_level(false)]}),
        ),
        "llama-bpe" | "llama3" => {
            (Value::Null, json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_PATTERN), byte_level(false)]}))
        }
        "smollm" => (
            Value::Null,
            json!({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        ),
        _ => (Value::Null, byte_level(true)),
    };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": merges,
        },
    })
}
