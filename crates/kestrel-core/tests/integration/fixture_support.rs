//! Reading the DSPy 3.4.1 golden fixtures in `testdata/dspy/`: every `.json`
//! file there is a case, so adding a file adds a case.

use std::path::PathBuf;

use kestrel_core::{Example, FieldSpec, FieldType, Io, SignatureSpec};
use serde_json::Value;

/// The fixture folder (committed copy of `../shared/fixtures/dspy`).
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dspy")
}

/// Every fixture of `kind` (and adapter, if given), as (file name, JSON).
pub fn fixtures(kind: &str, adapter: Option<&str>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(fixture_dir()).expect("testdata/dspy exists");
    for entry in entries {
        let path = entry.expect("readable dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable fixture");
        let value: Value = serde_json::from_str(&text).expect("fixture is JSON");
        let matches_adapter = adapter.is_none_or(|a| value["adapter"].as_str() == Some(a));
        if value["kind"].as_str() == Some(kind) && matches_adapter {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            out.push((name, value));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no fixtures of kind {kind}");
    out
}

/// The field type a fixture field declares: Python annotation text, or a
/// model / Enum class described by `schema` / `enums`.
pub fn field_type(field: &Value) -> FieldType {
    let ty = field["type"].as_str().expect("field type");
    if let Some(enums) = field.get("enums").and_then(Value::as_object) {
        let (name, members) = enums.iter().next().expect("one enum");
        let members = members.as_object().expect("enum members").iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        return FieldType::Enum { name: name.clone(), members };
    }
    if let Some(schema) = field.get("schema") {
        return FieldType::Model { name: ty.to_string(), schema: schema.clone() };
    }
    ty.parse::<FieldType>().unwrap_or_else(|e| panic!("fixture type {ty:?}: {e}"))
}

/// Build the signature a fixture describes (from its field list, so typed
/// and class-based signatures work alike).
pub fn signature(case: &Value) -> SignatureSpec {
    let sig = &case["signature"];
    let fields = sig["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            let io = if f["io"] == "input" { Io::Input } else { Io::Output };
            let mut spec = FieldSpec::new(f["name"].as_str().expect("name"), io, field_type(f));
            if let Some(desc) = f["desc"].as_str() {
                spec = spec.with_desc(desc);
            }
            if let Some(prefix) = f["prefix"].as_str() {
                spec = spec.with_prefix(prefix);
            }
            if let Some(c) = f.get("constraints").and_then(Value::as_str) {
                spec = spec.with_constraints(c);
            }
            spec
        })
        .collect();
    let instructions = sig["instructions"].as_str().map(str::to_string);
    SignatureSpec::new(fields, instructions).expect("fixture signature is valid")
}

/// A list of examples from a JSON array of objects.
pub fn examples(value: &Value) -> Vec<Example> {
    value.as_array().map(|a| a.iter().map(example).collect()).unwrap_or_default()
}

/// One example from a JSON object.
pub fn example(value: &Value) -> Example {
    serde_json::from_value(value.clone()).expect("example object")
}
