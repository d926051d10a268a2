//! [`RunIdentity`]: what decides a run's result, and its run id.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::cache::key::to_hex;

/// The named parts that decide a run's result. Two runs with equal parts
/// have the same run id (and journal); any difference gives another.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunIdentity {
    parts: Map<String, Value>,
}

impl RunIdentity {
    /// An identity of `kind` (`"compile"`, `"evaluate"`...).
    pub fn new(kind: &str) -> Self {
        let mut parts = Map::new();
        parts.insert("kind".into(), Value::String(kind.into()));
        Self { parts }
    }

    /// Builder: add a part (anything serializable; a value that cannot be
    /// serialized is recorded as its error text, which still differs from
    /// every valid value).
    pub fn part(mut self, name: &str, value: &(impl Serialize + ?Sized)) -> Self {
        let value = serde_json::to_value(value).unwrap_or_else(|e| Value::String(format!("<unserializable: {e}>")));
        self.parts.insert(name.into(), value);
        self
    }

    /// The parts as one JSON object (what the journal's header holds).
    pub fn to_value(&self) -> Value {
        Value::Object(self.parts.clone())
    }

    /// The run id: the first 16 bytes of the SHA-256 of the parts' JSON
    /// (parts in the order added), in hex.
    pub fn run_id(&self) -> String {
        let canonical = self.to_value().to_string();
        to_hex(&Sha256::digest(canonical.as_bytes())[..16])
    }
}
