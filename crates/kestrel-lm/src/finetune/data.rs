//! Fine-tuning data in DSPy 3.4.1's formats (`dspy/clients/utils_finetune.py`):
//! [`TrainDataFormat`], the record checks of `validate_data_format`, and the
//! JSONL file `save_data` writes (one compact JSON object per line) in the
//! fine-tuning directory ([`finetune_dir`]).

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::pickle_hash::pickle_sha256;
use crate::error::LmError;

/// Environment variable naming the fine-tuning directory (DSPy's own name,
/// so both write to the same place when it is set).
pub const FINETUNE_DIR_ENV: &str = "DSPY_FINETUNEDIR";

/// The shape of each training record (DSPy's `TrainDataFormat`; its
/// `grpo_chat` is for reinforcement jobs, which Kestrel does not run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrainDataFormat {
    /// `{"messages": [{"role": "system"|"user"|"assistant", "content": "…"}, …]}`.
    Chat,
    /// `{"prompt": "…", "completion": "…"}`.
    Completion,
}

impl TrainDataFormat {
    /// DSPy's value: `chat`, `completion`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrainDataFormat::Chat => "chat",
            TrainDataFormat::Completion => "completion",
        }
    }
}

impl fmt::Display for TrainDataFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Training records of one format, checked on construction.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingData {
    format: TrainDataFormat,
    records: Vec<Value>,
}

impl TrainingData {
    /// `records` in `format`, checked as DSPy's `validate_data_format` does;
    /// the error names every bad record's index and what is wrong with it.
    pub fn new(format: TrainDataFormat, records: Vec<Value>) -> Result<Self, LmError> {
        let errors: Vec<String> = records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| record_error(format, r).map(|e| format!("record {i}: {e}")))
            .collect();
        if !errors.is_empty() {
            return Err(LmError::FinetuneData(format!("data format errors found: {}", errors.join("; "))));
        }
        Ok(Self { format, records })
    }

    /// The format.
    pub fn format(&self) -> TrainDataFormat {
        self.format
    }

    /// The records, in file order.
    pub fn records(&self) -> &[Value] {
        &self.records
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The JSONL text `save_data` writes: each record as compact JSON
    /// (orjson's output: no spaces, keys in insertion order, UTF-8 kept),
    /// one per line, each line ending in `\n`.
    pub fn to_jsonl(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for record in &self.records {
            // Serializing a `Value` to a Vec cannot fail.
            if let Ok(line) = serde_json::to_vec(record) {
                out.extend_from_slice(&line);
            }
            out.push(b'\n');
        }
        out
    }

    /// DSPy's file name: the SHA-256 of the records pickled as Python
    /// would (`Hasher.hash(data)`) plus `.jsonl`. Records holding numbers,
    /// booleans or nulls (never produced by the adapters) fall back to the
    /// SHA-256 of the JSONL text.
    pub fn file_name(&self) -> String {
        let hash = pickle_sha256(&self.records).unwrap_or_else(|| hex(&Sha256::digest(self.to_jsonl())));
        format!("{hash}.jsonl")
    }

    /// Write the JSONL file into `dir` (created if needed) under
    /// [`TrainingData::file_name`], atomically; returns its absolute path.
    pub fn save_in(&self, dir: &Path) -> Result<PathBuf, LmError> {
        let io = |what: &str, e: std::io::Error| LmError::FinetuneData(format!("{what} {}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create", e))?;
        let dir = std::path::absolute(dir).map_err(|e| io("cannot resolve", e))?;
        let path = dir.join(self.file_name());
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| io("cannot write in", e))?;
        std::io::Write::write_all(&mut tmp, &self.to_jsonl()).map_err(|e| io("cannot write in", e))?;
        tmp.persist(&path).map_err(|e| io("cannot write in", e.error))?;
        Ok(path)
    }

    /// [`TrainingData::save_in`] the default [`finetune_dir`].
    pub fn save(&self) -> Result<PathBuf, LmError> {
        self.save_in(&finetune_dir())
    }
}

/// Where training files go: `$DSPY_FINETUNEDIR` if set and not empty, else
/// `$KESTREL_CACHE_DIR/finetune`, else `<user cache dir>/kestrel/finetune`
/// (DSPy's is `<its cache dir>/finetune`), else `./.kestrel-cache/finetune`.
pub fn finetune_dir() -> PathBuf {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = env(FINETUNE_DIR_ENV) {
        return dir;
    }
    if let Some(dir) = env("KESTREL_CACHE_DIR") {
        return dir.join("finetune");
    }
    match dirs::cache_dir() {
        Some(base) => base.join("kestrel").join("finetune"),
        None => PathBuf::from(".kestrel-cache").join("finetune"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What is wrong with one record, in DSPy's words; `None` when it is fine.
pub(crate) fn record_error(format: TrainDataFormat, record: &Value) -> Option<String> {
    let Value::Object(map) = record else {
        return Some(format!("Not a dictionary -- found data type: {}", json_type(record)));
    };
    match format {
        TrainDataFormat::Chat => chat_error(map),
        TrainDataFormat::Completion => completion_error(map),
    }
}

fn keys_error(map: &Map<String, Value>, expected: &[&str]) -> Option<String> {
    let mut found: Vec<&str> = map.keys().map(String::as_str).collect();
    found.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    (found != want).then(|| format!("Expected Keys: {want:?}; Found Keys: {found:?}"))
}

fn completion_error(map: &Map<String, Value>) -> Option<String> {
    if let Some(e) = keys_error(map, &["prompt", "completion"]) {
        return Some(e);
    }
    ["prompt", "completion"].iter().find_map(|key| match map.get(*key) {
        Some(Value::String(_)) => None,
        other => Some(format!("Expected `{key}` to be of type `str`. Found: {}", other.map_or("nothing", json_type))),
    })
}

fn chat_error(map: &Map<String, Value>) -> Option<String> {
    if let Some(e) = keys_error(map, &["messages"]) {
        return Some(e);
    }
    let Some(Value::Array(messages)) = map.get("messages") else {
        let found = map.get("messages").map_or("nothing", json_type);
        return Some(format!("The value of the `messages` key should be a list instance. Found: {found}"));
    };
    messages
        .iter()
        .enumerate()
        .find_map(|(i, m)| message_error(m).map(|e| format!("Error in message at index {i}: {e}")))
}

fn message_error(message: &Value) -> Option<String> {
    let Value::Object(map) = message else {
        return Some(format!("Not a dictionary -- found data type: {}", json_type(message)));
    };
    if let Some(e) = keys_error(map, &["role", "content"]) {
        return Some(e);
    }
    let role = map.get("role").and_then(Value::as_str);
    if !matches!(role, Some("assistant" | "system" | "user")) {
        let found = map.get("role").map(Value::to_string).unwrap_or_default();
        return Some(format!("Expected Roles: [\"assistant\", \"system\", \"user\"]; Found Role: {found}"));
    }
    if !map.get("content").is_some_and(Value::is_string) {
        let found = map.get("content").map_or("nothing", json_type);
        return Some(format!("Expected Content Type: `str`; Found Content Type: {found}"));
    }
    None
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}
