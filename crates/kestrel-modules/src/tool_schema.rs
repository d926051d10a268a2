//! Tool arguments as DSPy describes and checks them: the per-argument JSON
//! schema map (`{"city": {"type": "string"}}`) derived from a serde args
//! struct, the name and `type` checks DSPy's `Tool` runs before calling, and
//! the conversion of the LM's argument object into the args struct.

use kestrel_core::schema_type::pydantic_layout;
use kestrel_core::types::python_literal_repr;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ModuleError;

/// Deepest `$ref` nesting inlined (recursive types stop here).
const MAX_REF_DEPTH: usize = 32;

/// The argument schemas of an args struct `A`, one entry per field in
/// declaration order, as DSPy's `Tool.args` holds them: each field's JSON
/// schema with `$ref`s inlined, no `format`, `Option` fields as
/// `anyOf: [X, {"type": "null"}]` with `"default": null`. Also whether the
/// struct takes arguments beyond its fields (`additionalProperties`, e.g. a
/// flattened map), DSPy's `**kwargs`.
pub(crate) fn args_schema_of<A: JsonSchema + ?Sized>() -> (Map<String, Value>, bool) {
    let root = SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<A>();
    args_schema_from_root(root.as_value())
}

/// [`args_schema_of`] for a root schema already in hand.
pub(crate) fn args_schema_from_root(root: &Value) -> (Map<String, Value>, bool) {
    let defs = root.get("$defs").cloned().unwrap_or(Value::Object(Map::new()));
    let required: Vec<&str> = match root.get("required") {
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let extra = match root.get("additionalProperties") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Object(_)) => true,
        _ => false,
    };
    let mut args = Map::new();
    if let Some(Value::Object(props)) = root.get("properties") {
        for (name, prop) in props {
            let mut standalone = match prop {
                Value::Object(map) => map.clone(),
                _ => Map::new(),
            };
            standalone.insert("$defs".into(), defs.clone());
            let cleaned = pydantic_layout(&Value::Object(standalone));
            let local_defs = cleaned.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
            let mut resolved = inline_refs(&cleaned, &local_defs, 0);
            if let Value::Object(map) = &mut resolved {
                map.shift_remove("$defs");
                let nullable = matches!(map.get("anyOf"), Some(Value::Array(m)) if m.iter().any(is_null_schema));
                if !required.contains(&name.as_str()) && nullable && !map.contains_key("default") {
                    map.insert("default".into(), Value::Null);
                }
            }
            args.insert(name.clone(), resolved);
        }
    }
    (args, extra)
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// Replace every `{"$ref": "#/$defs/X"}` with the definition, recursively
/// (DSPy's `_resolve_json_schema_reference`).
fn inline_refs(node: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    match node {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str)
                && depth < MAX_REF_DEPTH
            {
                let key = reference.rsplit('/').next().unwrap_or(reference);
                if let Some(def) = defs.get(key) {
                    return inline_refs(def, defs, depth + 1);
                }
            }
            Value::Object(
                map.iter()
                    .filter(|(k, _)| k.as_str() != "$defs")
                    .map(|(k, v)| (k.clone(), inline_refs(v, defs, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| inline_refs(v, defs, depth)).collect()),
        other => other.clone(),
    }
}

/// DSPy's checks before a tool runs: every argument must be one the tool
/// declares (unless it takes extra ones), and an argument whose schema has
/// a `type` must be of that type (jsonschema's wording).
pub(crate) fn validate_args(
    tool: &str,
    schema: &Map<String, Value>,
    extra: bool,
    args: &Map<String, Value>,
) -> Result<(), ModuleError> {
    for (name, value) in args {
        let Some(arg_schema) = schema.get(name) else {
            if extra {
                continue;
            }
            return Err(ModuleError::ToolArgs {
                tool: tool.to_string(),
                message: format!("Arg {name} is not in the tool's args."),
            });
        };
        let types: Vec<&str> = match arg_schema.get("type") {
            Some(Value::String(t)) if t != "Any" => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        if !types.is_empty() && !types.iter().any(|t| type_accepts(t, value)) {
            let wanted: Vec<String> = types.iter().map(|t| python_literal_repr(&Value::from(*t))).collect();
            return Err(ModuleError::ToolArgs {
                tool: tool.to_string(),
                message: format!(
                    "Arg {name} is invalid: {} is not of type {}",
                    python_literal_repr(value),
                    wanted.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// JSON Schema's `type` keyword (an integral float is an `integer`; a
/// boolean is not a number). Unknown type names accept anything.
fn type_accepts(ty: &str, value: &Value) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => match value {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0)
            }
            _ => false,
        },
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    }
}

/// The LM's argument object as the args struct `A` (an empty object also
/// fits a unit-like `A` such as `()`).
pub(crate) fn parse_args<A: DeserializeOwned>(tool: &str, args: Map<String, Value>) -> Result<A, ModuleError> {
    let empty = args.is_empty();
    match serde_json::from_value::<A>(Value::Object(args)) {
        Ok(parsed) => Ok(parsed),
        Err(first) => {
            if empty && let Ok(parsed) = serde_json::from_value::<A>(Value::Null) {
                return Ok(parsed);
            }
            Err(ModuleError::ToolArgs { tool: tool.to_string(), message: format!("Invalid arguments: {first}") })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Inner {
        label: String,
    }

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Args {
        city: String,
        days: i64,
        ratio: f64,
        note: Option<String>,
        inner: Inner,
    }

    #[test]
    fn schemas_follow_dspy_shape() {
        let (args, extra) = args_schema_of::<Args>();
        assert!(!extra);
        assert_eq!(args["city"], json!({"type": "string"}));
        assert_eq!(args["days"], json!({"type": "integer"}));
        assert_eq!(args["ratio"], json!({"type": "number"}));
        assert_eq!(args["note"], json!({"anyOf": [{"type": "string"}, {"type": "null"}], "default": null}));
        let inner = &args["inner"];
        assert_eq!(inner["type"], "object");
        assert_eq!(inner["properties"]["label"]["type"], "string");
        assert!(inner.get("$ref").is_none());
        assert_eq!(python_literal_repr(&Value::Object(args_schema_of::<()>().0)), "{}");
    }

    #[test]
    fn validation_uses_dspy_wording() {
        let (schema, extra) = args_schema_of::<Args>();
        let bad_name = Map::from_iter([("town".to_string(), json!("Paris"))]);
        let err = validate_args("w", &schema, extra, &bad_name).unwrap_err();
        assert!(
            matches!(err, ModuleError::ToolArgs { message, .. } if message == "Arg town is not in the tool's args.")
        );
        let bad_type = Map::from_iter([("days".to_string(), json!("two"))]);
        let err = validate_args("w", &schema, extra, &bad_type).unwrap_err();
        assert!(
            matches!(err, ModuleError::ToolArgs { message, .. } if message == "Arg days is invalid: 'two' is not of type 'integer'")
        );
        let integral = Map::from_iter([("days".to_string(), json!(2.0)), ("ratio".to_string(), json!(3))]);
        assert!(validate_args("w", &schema, extra, &integral).is_ok());
        assert!(!type_accepts("number", &json!(true)));
    }

    #[test]
    fn unit_args_accept_an_empty_object() {
        parse_args::<()>("finish", Map::new()).unwrap();
        let err = parse_args::<Args>("w", Map::new()).unwrap_err();
        assert!(matches!(err, ModuleError::ToolArgs { message, .. } if message.contains("missing field")));
    }
}
