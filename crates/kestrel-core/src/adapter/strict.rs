//! The JSON adapter's structured-output schema: the pydantic schema of a
//! `DSPyProgramOutputs` model built from the output fields, then DSPy's
//! `enforce_required` pass and the OpenAI client's strict-schema pass
//! (`additionalProperties: false`, every property required, `null` defaults
//! dropped, `$ref`s with siblings inlined).

use serde_json::{Map, Value, json};

use crate::adapter::schema::{field_gets_title, inner_schema, pydantic_sort};
use crate::field::FieldSpec;

/// The name DSPy gives the output model.
pub(crate) const MODEL_NAME: &str = "DSPyProgramOutputs";

/// The strict JSON schema for these output fields.
pub(crate) fn outputs_schema<'a>(outputs: impl Iterator<Item = &'a FieldSpec>) -> Value {
    let mut defs = Map::new();
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in outputs {
        let mut schema = inner_schema(&field.ty, &mut defs);
        if let Value::Object(map) = &mut schema {
            if field_gets_title(&field.ty) {
                map.insert("title".into(), py_title(&field.name).into());
            }
            // pydantic writes a declared default into the property.
            if let Some(default) = &field.default {
                map.insert("default".into(), default.clone());
            }
        }
        properties.insert(field.name.clone(), schema);
        required.push(Value::String(field.name.clone()));
    }
    let mut model = Map::new();
    if !defs.is_empty() {
        model.insert("$defs".into(), Value::Object(defs));
    }
    model.insert("additionalProperties".into(), Value::Bool(false));
    model.insert("properties".into(), Value::Object(properties));
    model.insert("required".into(), Value::Array(required));
    model.insert("title".into(), MODEL_NAME.into());
    model.insert("type".into(), "object".into());
    let mut schema = pydantic_sort(&Value::Object(model), None);
    if let Value::Object(map) = &mut schema {
        enforce_required(map);
        let root = Value::Object(map.clone());
        ensure_strict(map, &root);
    }
    schema
}

/// The `response_format` body value for a strict schema.
pub(crate) fn response_format(schema: Value) -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {"name": MODEL_NAME, "schema": schema, "strict": true}
    })
}

/// pydantic's default field title: Python's `name.title()` with `_` as
/// spaces (`is_alive` → `Is Alive`).
fn py_title(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev_cased = false;
    for c in name.chars() {
        let cased = c.is_lowercase() || c.is_uppercase();
        if cased && !prev_cased {
            out.extend(c.to_uppercase());
        } else if cased {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        prev_cased = cased;
    }
    out.replace('_', " ").trim().to_string()
}

fn is_type(map: &Map<String, Value>, name: &str) -> bool {
    map.get("type").and_then(Value::as_str) == Some(name)
}

/// DSPy's `enforce_required`: every object lists all its properties as
/// required and forbids extra ones (an object without properties gets an
/// empty set), through properties, array items and `$defs`.
fn enforce_required(part: &mut Map<String, Value>) {
    if is_type(part, "object") {
        match part.get_mut("properties") {
            Some(Value::Object(props)) => {
                let names = props.keys().map(|k| Value::String(k.clone())).collect();
                for sub in props.values_mut() {
                    if let Value::Object(sub) = sub {
                        enforce_required(sub);
                    }
                }
                part.insert("required".into(), Value::Array(names));
                part.insert("additionalProperties".into(), Value::Bool(false));
            }
            Some(_) => {}
            None => {
                part.insert("properties".into(), Value::Object(Map::new()));
                part.insert("required".into(), Value::Array(Vec::new()));
                part.insert("additionalProperties".into(), Value::Bool(false));
            }
        }
    }
    if is_type(part, "array") {
        if let Some(Value::Object(items)) = part.get_mut("items") {
            enforce_required(items);
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = part.get_mut(key) {
            for def in defs.values_mut() {
                if let Value::Object(def) = def {
                    enforce_required(def);
                }
            }
        }
    }
}

/// The OpenAI client's `_ensure_strict_json_schema`, in place.
fn ensure_strict(schema: &mut Map<String, Value>, root: &Value) {
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = schema.get_mut(key) {
            for def in defs.values_mut() {
                if let Value::Object(def) = def {
                    ensure_strict(def, root);
                }
            }
        }
    }
    if is_type(schema, "object") && !schema.contains_key("additionalProperties") {
        schema.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        let names = props.keys().map(|k| Value::String(k.clone())).collect();
        for sub in props.values_mut() {
            if let Value::Object(sub) = sub {
                ensure_strict(sub, root);
            }
        }
        schema.insert("required".into(), Value::Array(names));
    }
    if let Some(Value::Object(items)) = schema.get_mut("items") {
        ensure_strict(items, root);
    }
    for key in ["prefixItems", "anyOf"] {
        if let Some(Value::Array(list)) = schema.get_mut(key) {
            for entry in list {
                if let Value::Object(entry) = entry {
                    ensure_strict(entry, root);
                }
            }
        }
    }
    if let Some(Value::Array(all_of)) = schema.get_mut("allOf") {
        if all_of.len() == 1 {
            let mut only = match all_of.pop() {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            ensure_strict(&mut only, root);
            schema.extend(only);
            schema.shift_remove("allOf");
        } else {
            for entry in all_of {
                if let Value::Object(entry) = entry {
                    ensure_strict(entry, root);
                }
            }
        }
    }
    if schema.get("default") == Some(&Value::Null) {
        schema.shift_remove("default");
    }
    if schema.len() > 1 {
        let resolved = schema.get("$ref").and_then(Value::as_str).and_then(|r| resolve_ref(root, r));
        if let Some(Value::Object(resolved)) = resolved {
            // The schema's own keys win; the referenced ones are added after.
            for (k, v) in resolved {
                if !schema.contains_key(k) {
                    schema.insert(k.clone(), v.clone());
                }
            }
            schema.shift_remove("$ref");
            ensure_strict(schema, root);
        }
    }
}

fn resolve_ref<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let path = reference.strip_prefix("#/")?;
    path.split('/').try_fold(root, |node, key| node.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_follow_python() {
        assert_eq!(py_title("is_alive"), "Is Alive");
        assert_eq!(py_title("answer2b"), "Answer2B");
        assert_eq!(py_title("HTMLParser"), "Htmlparser");
    }
}
