//! Light validation of a value against a pydantic-style JSON schema, for
//! output fields whose type is a model ([`FieldType::Model`]).
//!
//! It does what pydantic's lax validation does for the common shapes:
//! required properties must be present, missing optional ones get their
//! `default`, unknown keys are dropped (pydantic's `extra="ignore"`), values
//! are converted recursively (`"36"` → 36 for an `integer`), `$ref`s into
//! `$defs` are followed, `anyOf`/`oneOf` act as unions and `enum`/`const`
//! as literals. Formats and numeric or length constraints are not checked.
//! Object keys come out in the schema's property order, as `model_dump`
//! gives them.
//!
//! [`FieldType::Model`]: crate::types::FieldType::Model

use serde_json::{Map, Value};

use crate::adapter::coerce::{CoerceError, Mode, match_value, to_bool, to_float, to_int, validate_union};
use crate::adapter::repair::MAX_DEPTH;

/// Validate `v` against `schema`; `root` is the schema `$ref`s point into.
pub(crate) fn validate_schema(
    v: &Value,
    schema: &Value,
    root: &Value,
    mode: Mode,
    depth: usize,
) -> Result<Value, CoerceError> {
    if depth > 2 * MAX_DEPTH {
        return Err(CoerceError::new("the value or its schema is nested too deeply"));
    }
    let obj = match schema {
        Value::Object(obj) => obj,
        Value::Bool(false) => return Err(CoerceError::new("no value is allowed here")),
        _ => return Ok(v.clone()),
    };
    let next = depth + 1;
    if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
        return match resolve_ref(root, reference) {
            Some(target) => validate_schema(v, target, root, mode, next),
            None => Ok(v.clone()),
        };
    }
    if let Some(parts) = obj.get("allOf").and_then(Value::as_array) {
        let mut current = v.clone();
        for part in parts {
            current = validate_schema(&current, part, root, mode, next)?;
        }
        return Ok(current);
    }
    if let Some(options) = obj.get("anyOf").or_else(|| obj.get("oneOf")).and_then(Value::as_array) {
        return validate_union(v, options, mode, |x, s, md| validate_schema(x, s, root, md, next));
    }
    if let Some(allowed) = obj.get("enum").and_then(Value::as_array) {
        return match_value(v, allowed, mode).ok_or_else(|| CoerceError::expected(&enum_text(allowed), v));
    }
    if let Some(constant) = obj.get("const") {
        let allowed = std::slice::from_ref(constant);
        return match_value(v, allowed, mode).ok_or_else(|| CoerceError::expected(&enum_text(allowed), v));
    }
    match obj.get("type") {
        Some(Value::String(t)) => validate_typed(v, obj, t, root, mode, next),
        Some(Value::Array(types)) => {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            validate_union(v, &names, mode, |x, t, md| validate_typed(x, obj, t, root, md, next))
        }
        _ if obj.contains_key("properties") => validate_typed(v, obj, "object", root, mode, next),
        _ if obj.contains_key("items") || obj.contains_key("prefixItems") => {
            validate_typed(v, obj, "array", root, mode, next)
        }
        _ => Ok(v.clone()),
    }
}

fn validate_typed(
    v: &Value,
    schema: &Map<String, Value>,
    ty: &str,
    root: &Value,
    mode: Mode,
    depth: usize,
) -> Result<Value, CoerceError> {
    match ty {
        "object" => match v {
            Value::Object(map) => validate_object(map, schema, root, mode, depth),
            _ => Err(CoerceError::expected("an object", v)),
        },
        "array" => match v {
            Value::Array(items) => validate_array(items, schema, root, mode, depth),
            _ => Err(CoerceError::expected("a list", v)),
        },
        "string" => match v {
            Value::String(_) => Ok(v.clone()),
            _ => Err(CoerceError::expected("a string", v)),
        },
        "integer" => to_int(v, mode),
        "number" => to_float(v, mode),
        "boolean" => to_bool(v, mode),
        "null" => match v {
            Value::Null => Ok(Value::Null),
            _ => Err(CoerceError::expected("None", v)),
        },
        _ => Ok(v.clone()),
    }
}

fn validate_object(
    map: &Map<String, Value>,
    schema: &Map<String, Value>,
    root: &Value,
    mode: Mode,
    depth: usize,
) -> Result<Value, CoerceError> {
    let extra = schema.get("additionalProperties");
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        // A plain dict: check the values if their schema is given.
        return match extra {
            Some(value_schema @ Value::Object(_)) => {
                let mut out = Map::new();
                for (k, x) in map {
                    out.insert(k.clone(), validate_schema(x, value_schema, root, mode, depth).map_err(|e| e.at(k))?);
                }
                Ok(Value::Object(out))
            }
            _ => Ok(Value::Object(map.clone())),
        };
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    for (name, prop) in props {
        if let Some(x) = map.get(name) {
            out.insert(name.clone(), validate_schema(x, prop, root, mode, depth).map_err(|e| e.at(name))?);
        } else if let Some(default) = prop.get("default") {
            out.insert(name.clone(), default.clone());
        } else if required.contains(&name.as_str()) {
            return Err(CoerceError::new("field required").at(name));
        }
    }
    for (k, x) in map.iter().filter(|(k, _)| !props.contains_key(*k)) {
        match extra {
            Some(Value::Bool(false)) => return Err(CoerceError::new("extra inputs are not permitted").at(k)),
            Some(value_schema @ Value::Object(_)) => {
                out.insert(k.clone(), validate_schema(x, value_schema, root, mode, depth).map_err(|e| e.at(k))?);
            }
            _ => {}
        }
    }
    Ok(Value::Object(out))
}

fn validate_array(
    items: &[Value],
    schema: &Map<String, Value>,
    root: &Value,
    mode: Mode,
    depth: usize,
) -> Result<Value, CoerceError> {
    let prefix = schema.get("prefixItems").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let rest = schema.get("items");
    let fixed_len = !prefix.is_empty() && matches!(rest, None | Some(Value::Bool(false)));
    if items.len() < prefix.len() || (fixed_len && items.len() != prefix.len()) {
        return Err(CoerceError::new(format!("expected a list of {} items, got {}", prefix.len(), items.len())));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, x) in items.iter().enumerate() {
        let item_schema = prefix.get(i).or(rest);
        let value = match item_schema {
            Some(s) => validate_schema(x, s, root, mode, depth).map_err(|e| e.at(i.to_string()))?,
            None => x.clone(),
        };
        out.push(value);
    }
    Ok(Value::Array(out))
}

/// Follow a local `$ref` (`#/$defs/Address`, `#/definitions/X`, `#`).
fn resolve_ref<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    root.pointer(pointer)
}

fn enum_text(allowed: &[Value]) -> String {
    let parts: Vec<String> = allowed.iter().map(crate::adapter::pyfmt::py_repr).collect();
    format!("one of {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn person_schema() -> Value {
        json!({
            "$defs": {"Address": {"properties": {
                "city": {"type": "string"},
                "postcode": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null}
            }, "required": ["city"], "type": "object"}},
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "address": {"$ref": "#/$defs/Address"}},
            "required": ["name", "age", "address"],
            "type": "object"
        })
    }

    #[test]
    fn models_get_defaults_and_conversions() {
        let schema = person_schema();
        let v = json!({"address": {"city": "London"}, "age": "36", "name": "Ada", "extra": 1});
        let out = validate_schema(&v, &schema, &schema, Mode::Lax, 0).expect("valid");
        assert_eq!(out, json!({"name": "Ada", "age": 36, "address": {"city": "London", "postcode": null}}));
        assert_eq!(
            serde_json::to_string(&out).expect("json"),
            r#"{"name":"Ada","age":36,"address":{"city":"London","postcode":null}}"#
        );
    }

    #[test]
    fn missing_required_is_an_error() {
        let schema = person_schema();
        let v = json!({"name": "Ada", "age": 36, "address": {}});
        let err = validate_schema(&v, &schema, &schema, Mode::Lax, 0).expect_err("missing city");
        assert_eq!(err.to_string(), "at `address.city`: field required");
    }
}
