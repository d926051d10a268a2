//! Writing a program's state: one DSPy `Predict.dump_state()` object per
//! predictor path (and a parameter's own state, such as `Retrieve`'s
//! `{"k": 3}`, under its path), plus the `metadata` entry, and the file text.

use serde_json::{Map, Value};

use super::{DSPY_STATE_FORMAT, SavedLm};
use crate::predictor::{Predictor, Predictors, StateRef};

/// The whole state document of `program`.
pub(super) fn dump<P: Predictors + ?Sized>(program: &P) -> Value {
    let mut entries: Vec<(String, Value)> = Vec::new();
    program.visit_state("", &mut |path, item| {
        let entry = match item {
            StateRef::Predictor(p) => Value::Object(predictor_entry(p)),
            StateRef::Parameter(p) => p.parameter_state(),
        };
        entries.push((path.to_string(), entry));
    });
    let bare = entries.len() == 1 && entries[0].0 == "self" && entries[0].1.is_object();
    let mut root = match entries.pop() {
        // A bare predictor (or parameter): its `dump_state()` is the document.
        Some((_, Value::Object(entry))) if bare => entry,
        last => entries.into_iter().chain(last).collect(),
    };
    root.insert("metadata".into(), metadata());
    Value::Object(root)
}

/// One predictor's entry, keys in DSPy's order.
fn predictor_entry(p: &dyn Predictor) -> Map<String, Value> {
    let demos = p
        .demos()
        .iter()
        .map(|demo| Value::Object(demo.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
        .collect();
    let signature = p.signature();
    let fields = signature
        .fields()
        .map(|f| {
            let mut field = Map::new();
            field.insert("prefix".into(), Value::String(f.prefix.clone()));
            field.insert("description".into(), Value::String(f.stored_desc()));
            Value::Object(field)
        })
        .collect();
    let mut sig = Map::new();
    sig.insert("instructions".into(), Value::String(signature.instructions().to_string()));
    sig.insert("fields".into(), Value::Array(fields));

    let mut entry = Map::new();
    entry.insert("traces".into(), Value::Array(Vec::new()));
    entry.insert("train".into(), Value::Array(Vec::new()));
    entry.insert("demos".into(), Value::Array(demos));
    entry.insert("signature".into(), Value::Object(sig));
    // DSPy writes `fields` only when it is not empty, between `signature`
    // and `lm`.
    if let Some(fields) = p.decision_fields().filter(|f| !f.is_empty()) {
        entry.insert("fields".into(), Value::Object(fields.clone()));
    }
    entry.insert("lm".into(), lm_entry(p));
    entry
}

/// The `lm` entry: `null` without an own LM or a recorded entry. An own LM
/// is written as its model string, unless the recorded entry names the same
/// model (it then carries the file's other settings, which are kept).
fn lm_entry(p: &dyn Predictor) -> Value {
    match (p.lm(), p.saved_lm()) {
        (Some(lm), Some(saved)) if saved.model() == lm.model() => saved.to_value(),
        (Some(lm), _) => SavedLm::for_model(lm.model()).to_value(),
        (None, Some(saved)) => saved.to_value(),
        (None, None) => Value::Null,
    }
}

/// `metadata`: DSPy's `load` compares each `dependency_versions` key with
/// its own environment's (`python`, `dspy`, `cloudpickle`) and fails on any
/// other key, so Kestrel names only `dspy` — the DSPy release whose format
/// it writes — and records itself under a separate `kestrel` key, which
/// DSPy ignores.
fn metadata() -> Value {
    let mut versions = Map::new();
    versions.insert("dspy".into(), Value::String(DSPY_STATE_FORMAT.into()));
    let mut kestrel = Map::new();
    kestrel.insert("version".into(), Value::String(env!("CARGO_PKG_VERSION").into()));
    let mut metadata = Map::new();
    metadata.insert("dependency_versions".into(), Value::Object(versions));
    metadata.insert("kestrel".into(), Value::Object(kestrel));
    Value::Object(metadata)
}

/// The file text: two-space indent, non-ASCII as is, a final newline.
pub(super) fn to_text(state: &Value) -> String {
    let mut text = serde_json::to_string_pretty(state).unwrap_or_else(|_| state.to_string());
    text.push('\n');
    text
}
