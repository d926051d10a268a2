//! Reply parsing for the XML adapter, as DSPy 3.4.1's `XMLAdapter.parse`.
//!
//! The reply is read as the content of one wrapping element
//! ([`xml_tree::parse_root`]); malformed XML is an error quoting expat's
//! message (`Failed to parse XML: ...`). The root's children are grouped by
//! tag (`<entry key="k">` counts as `k`); text outside them and unknown tags
//! are ignored. Each output field's elements become a value guided by the
//! type's JSON schema ([`elements_to_value`]): leaves are their stripped
//! text, lists come from `<item>` children (or JSON text `[...]`), objects
//! from child tags, a `str` field with child tags keeps them as XML, a
//! repeated tag gives a list of texts, and an empty optional is `None`. The
//! value is then converted as DSPy's `parse_value` does, trying the whole
//! schema and then each `anyOf` choice; the first that converts wins.
//! Missing fields take their default or `None` where allowed, otherwise the
//! error lists the fields found.
//!
//! [`xml_tree::parse_root`]: crate::adapter::xml_tree::parse_root

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::adapter::coerce::{CoerceError, Mode, complete, parse_value, validate};
use crate::adapter::pyfmt::{py_repr, py_str};
use crate::adapter::pytext::py_strip;
use crate::adapter::schema::type_schema;
use crate::adapter::xml_tree::{Element, parse_root, to_string};
use crate::error::AdapterParseError;
use crate::example::Fields;
use crate::field::FieldSpec;
use crate::signature::SignatureSpec;
use crate::types::FieldType;

const ADAPTER: &str = "XMLAdapter";

/// How deep [`elements_to_value`] follows nested tags (deeper ones are kept
/// as text), so a hostile reply cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

pub(crate) fn parse(signature: &SignatureSpec, completion: &str) -> Result<Fields, AdapterParseError> {
    let error = |parsed_fields, detail| AdapterParseError {
        adapter_name: ADAPTER.to_string(),
        expected_fields: signature.output_names(),
        parsed_fields,
        lm_response: completion.to_string(),
        detail,
    };
    let root = parse_root(completion).map_err(|e| error(None, Some(format!("Failed to parse XML: {e}"))))?;
    let elements = group_children(&root);
    let outputs: Vec<&FieldSpec> = signature.output_fields().collect();
    let mut values: Vec<Option<Value>> = vec![None; outputs.len()];
    for (i, field) in outputs.iter().enumerate() {
        let Some(found) = elements.get(field.name.as_str()) else { continue };
        match field_value(found, &field.ty) {
            Ok(v) => values[i] = Some(v),
            Err((value, e)) => {
                let detail =
                    format!("Failed to parse field {} with value {}: {e}", field_info_repr(field), py_str(&value));
                return Err(error(None, Some(detail)));
            }
        }
    }
    complete(&outputs, values).map_err(|parsed| error(Some(parsed), None))
}

/// One field's value: the whole schema, then each `anyOf` choice; on
/// failure the last value tried and its error.
fn field_value(elements: &[&Element], ty: &FieldType) -> Result<Value, (Value, CoerceError)> {
    let schema = type_schema(ty);
    let empty = Map::new();
    let defs = schema.get("$defs").and_then(Value::as_object).unwrap_or(&empty);
    let mut candidates = vec![&schema];
    if let Some(choices) = schema.get("anyOf").and_then(Value::as_array) {
        candidates.extend(choices);
    }
    let mut last = (Value::Null, CoerceError::new("no candidate schema"));
    for candidate in candidates {
        let value = elements_to_value(elements, candidate, defs, 0);
        let converted = match parse_value(&value, ty) {
            Ok(v) => Ok(v),
            // DSPy retries pydantic failures with `validate_python`; an
            // Enum's lookup failure is not one.
            Err(e) if matches!(ty, FieldType::Enum { .. }) => Err(e),
            Err(_) => validate(&value, ty, Mode::Lax, 0)
                .map_err(|e| CoerceError::new(format!("the value is not a valid {}: {e}", ty.python_name()))),
        };
        match converted {
            Ok(v) => return Ok(v),
            Err(e) => last = (value, e),
        }
    }
    Err(last)
}

/// DSPy's `_group_children`: children by tag, `<entry key="k">` as `k`, in
/// order of first appearance.
fn group_children(element: &Element) -> IndexMap<&str, Vec<&Element>> {
    let mut groups: IndexMap<&str, Vec<&Element>> = IndexMap::new();
    for child in &element.children {
        let key = if child.tag == "entry" { child.attr("key").unwrap_or(&child.tag) } else { &child.tag };
        groups.entry(key).or_default().push(child);
    }
    groups
}

fn schema_type(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str)
}

/// DSPy's `_elements_to_value`: the raw value of one field's (or one
/// child's) elements under `schema`.
fn elements_to_value(elements: &[&Element], schema: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    let Some(first) = elements.first() else { return Value::Null };
    let reference = schema.get("$ref").and_then(Value::as_str).unwrap_or("");
    let mut schema = defs.get(reference.rsplit('/').next().unwrap_or(reference)).unwrap_or(schema);
    let empty_object = Value::Object(Map::new());
    if let Some(choices) = schema.get("anyOf").and_then(Value::as_array).filter(|c| !c.is_empty()) {
        let is_null = |c: &Value| c.as_object().is_some_and(|m| m.len() == 1 && schema_type(c) == Some("null"));
        if choices.iter().any(is_null) && first.children.is_empty() && py_strip(&first.text).is_empty() {
            return Value::Null;
        }
        let real: Vec<&Value> = choices.iter().filter(|c| schema_type(c) != Some("null")).collect();
        if let Some(pick) = real.first() {
            schema = pick;
            if !first.children.is_empty() {
                schema = real.iter().find(|c| schema_type(c) != Some("string")).copied().unwrap_or(schema);
            }
        } else {
            // DSPy indexes an empty list here and fails; read as untyped.
            schema = &empty_object;
        }
    }
    if depth > MAX_DEPTH {
        return Value::String(first.text.clone());
    }
    if schema_type(schema) == Some("array") {
        let mut items: Vec<&Element> = elements.to_vec();
        if elements.len() == 1 && first.children.is_empty() {
            let text = py_strip(&first.text);
            if text.is_empty() {
                return Value::Array(Vec::new());
            }
            if text.starts_with('[') {
                return Value::String(text.to_string());
            }
        }
        if elements.len() == 1 {
            if let Some(found) = group_children(first).shift_remove("item").filter(|v| !v.is_empty()) {
                items = found;
            }
        }
        let item_schema = schema.get("items").unwrap_or(&empty_object);
        return Value::Array(items.iter().map(|e| elements_to_value(&[*e], item_schema, defs, depth + 1)).collect());
    }
    if schema_type(schema) == Some("string") && !first.children.is_empty() {
        let mut text = first.text.clone();
        for child in &first.children {
            text.push_str(&to_string(child));
        }
        return Value::String(text);
    }
    let children = group_children(first);
    if children.is_empty() {
        if schema_type(schema) == Some("object") && py_strip(&first.text).is_empty() {
            return Value::Object(Map::new());
        }
        let mut texts: Vec<Value> = elements.iter().map(|e| Value::String(py_strip(&e.text).to_string())).collect();
        return if texts.len() == 1 { texts.swap_remove(0) } else { Value::Array(texts) };
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let child_schema = schema.get("additionalProperties").filter(|v| v.is_object()).unwrap_or(&empty_object);
    let mut out = Map::new();
    for (name, items) in children {
        let sub = properties.and_then(|p| p.get(name)).unwrap_or(child_schema);
        out.insert(name.to_string(), elements_to_value(&items, sub, defs, depth + 1));
    }
    Value::Object(out)
}

/// How pydantic prints DSPy's `FieldInfo` for an output field, which DSPy
/// puts in its conversion error.
fn field_info_repr(field: &FieldSpec) -> String {
    let mut out = format!("annotation={} ", field.ty.python_name());
    match &field.default {
        Some(default) => out.push_str(&format!("required=False default={} ", py_repr(default))),
        None => out.push_str("required=True "),
    }
    let prefix = py_repr(&Value::String(field.prefix.clone()));
    let extra = match field.desc.as_deref() {
        Some(desc) if !(desc.starts_with("${") && desc.ends_with('}')) => {
            format!("{{'desc': {}, '__dspy_field_type': 'output', 'prefix': {prefix}}}", py_repr(&Value::from(desc)))
        }
        _ => format!(
            "{{'__dspy_field_type': 'output', 'prefix': {prefix}, 'desc': {}}}",
            py_repr(&Value::String(field.stored_desc()))
        ),
    };
    out.push_str("json_schema_extra=");
    out.push_str(&extra);
    out
}
