//! JSON schemas of field types, laid out as pydantic 2 writes them
//! (`TypeAdapter(T).json_schema()`): keys sorted except the field order under
//! `properties`, models and Enums referenced from `$defs`.
//!
//! DSPy shows these schemas in `# note:` type notes (re-sorted with `"type"`
//! first) and builds the JSON adapter's structured-output schema from them.

use serde_json::{Map, Value, json};

use crate::types::FieldType;

/// `TypeAdapter(ty).json_schema()`.
pub(crate) fn type_schema(ty: &FieldType) -> Value {
    let schema = match ty {
        // A top-level model or Enum is written inline, not as a `$ref`.
        FieldType::Model { schema, .. } => schema.clone(),
        FieldType::Enum { name, members } => enum_schema(name, members),
        FieldType::Custom(crate::CustomType::ToolCalls) => crate::custom_type::tool_calls_schema(),
        _ => {
            let mut defs = Map::new();
            let mut schema = inner_schema(ty, &mut defs);
            if !defs.is_empty() {
                if let Value::Object(map) = &mut schema {
                    map.insert("$defs".into(), Value::Object(defs));
                }
            }
            schema
        }
    };
    pydantic_sort(&schema, None)
}

/// The schema DSPy shows in a type note: [`type_schema`] with every object's
/// keys sorted and `"type"` moved first, at every level.
pub(crate) fn note_schema(ty: &FieldType) -> Value {
    type_front_sort(&type_schema(ty))
}

/// The schema of `ty` where it appears inside another schema; models and
/// Enums go to `defs` and are referenced.
pub(crate) fn inner_schema(ty: &FieldType, defs: &mut Map<String, Value>) -> Value {
    match ty {
        FieldType::Str => json!({"type": "string"}),
        FieldType::Int => json!({"type": "integer"}),
        FieldType::Float => json!({"type": "number"}),
        FieldType::Bool => json!({"type": "boolean"}),
        FieldType::Any => json!({}),
        FieldType::None => null_schema(),
        FieldType::List(item) => json!({"type": "array", "items": inner_schema(item, defs)}),
        FieldType::Dict(key, value) => dict_schema(key, value, defs),
        FieldType::Tuple(items) => {
            let mut map = Map::new();
            map.insert("type".into(), "array".into());
            if !items.is_empty() {
                let prefix = items.iter().map(|t| inner_schema(t, defs)).collect();
                map.insert("prefixItems".into(), Value::Array(prefix));
            }
            map.insert("minItems".into(), items.len().into());
            map.insert("maxItems".into(), items.len().into());
            Value::Object(map)
        }
        FieldType::Union(members) => union_schema(members, defs),
        FieldType::Literal(values) => literal_schema(values),
        FieldType::Enum { name, members } => {
            defs.insert(name.clone(), enum_schema(name, members));
            reference(name)
        }
        FieldType::Model { name, schema } => {
            let mut body = schema.clone();
            if let Value::Object(map) = &mut body {
                if let Some(Value::Object(nested)) = map.shift_remove("$defs") {
                    defs.extend(nested);
                }
            }
            if is_model_class(schema) {
                defs.insert(name.clone(), body);
                reference(name)
            } else {
                body
            }
        }
        FieldType::Custom(crate::CustomType::ToolCalls) => {
            let mut schema = crate::custom_type::tool_calls_schema();
            if let Value::Object(map) = &mut schema {
                if let Some(Value::Object(nested)) = map.shift_remove("$defs") {
                    defs.extend(nested);
                }
            }
            defs.insert("ToolCalls".into(), schema);
            reference("ToolCalls")
        }
        // Unknown future variants: accept anything.
        #[allow(unreachable_patterns)]
        _ => json!({}),
    }
}

/// Whether a field of type `ty` gets a `title` in a model's `properties`
/// (pydantic leaves it off for referenced models and Enums, also when
/// wrapped in `Optional`).
pub(crate) fn field_gets_title(ty: &FieldType) -> bool {
    match ty {
        FieldType::Enum { .. } => false,
        FieldType::Model { schema, .. } => !is_model_class(schema) && schema.get("$ref").is_none(),
        FieldType::Union(members) => {
            let choices: Vec<&FieldType> = members.iter().filter(|m| **m != FieldType::None).collect();
            match choices.as_slice() {
                [only] => field_gets_title(only),
                _ => true,
            }
        }
        _ => true,
    }
}

/// True when a model schema describes a class (an object with `properties`),
/// which pydantic keeps in `$defs`; false for a wrapper such as the schema
/// of `list[Person]`.
pub(crate) fn is_model_class(schema: &Value) -> bool {
    schema.get("properties").is_some() && schema.get("type").and_then(Value::as_str) == Some("object")
}

/// True for an open-ended mapping (`dict[...]`, or a model schema that is an
/// object without declared properties).
pub(crate) fn is_open_mapping(ty: &FieldType) -> bool {
    match ty {
        FieldType::Dict(..) => true,
        FieldType::Model { schema, .. } => {
            schema.get("type").and_then(Value::as_str) == Some("object") && schema.get("properties").is_none()
        }
        _ => false,
    }
}

fn null_schema() -> Value {
    json!({"type": "null"})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/$defs/{name}")})
}

fn dict_schema(key: &FieldType, value: &FieldType, defs: &mut Map<String, Value>) -> Value {
    let mut map = Map::new();
    map.insert("type".into(), "object".into());
    let mut keys = match inner_schema(key, defs) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let is_ref = keys.contains_key("$ref");
    let pattern = if is_ref { None } else { keys.shift_remove("pattern") };
    if !is_ref {
        keys.shift_remove("title");
    }
    let mut values = match inner_schema(value, defs) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    values.shift_remove("title");
    match pattern {
        Some(p) => {
            let mut pp = Map::new();
            pp.insert(p.as_str().unwrap_or_default().to_string(), Value::Object(values));
            map.insert("patternProperties".into(), Value::Object(pp));
        }
        None if values.is_empty() => {
            map.insert("additionalProperties".into(), Value::Bool(true));
        }
        None => {
            map.insert("additionalProperties".into(), Value::Object(values));
        }
    }
    let constrained_str = keys.get("type").and_then(Value::as_str) == Some("string") && keys.len() > 1;
    if constrained_str || is_ref {
        keys.shift_remove("type");
        map.insert("propertyNames".into(), Value::Object(keys));
    }
    Value::Object(map)
}

fn union_schema(members: &[FieldType], defs: &mut Map<String, Value>) -> Value {
    let nullable = members.contains(&FieldType::None);
    let choices: Vec<Value> =
        members.iter().filter(|m| **m != FieldType::None).map(|m| inner_schema(m, defs)).collect();
    let inner = match choices.len() {
        0 => return null_schema(),
        1 => choices.into_iter().next().unwrap_or_default(),
        _ => flattened_any_of(choices),
    };
    if !nullable {
        return inner;
    }
    if inner == null_schema() { inner } else { flattened_any_of(vec![inner, null_schema()]) }
}

/// pydantic's `get_flattened_anyof`: nested bare `anyOf`s are merged and
/// duplicates dropped.
fn flattened_any_of(schemas: Vec<Value>) -> Value {
    let mut members: Vec<Value> = Vec::with_capacity(schemas.len());
    for schema in schemas {
        let nested = match &schema {
            Value::Object(m) if m.len() == 1 => m.get("anyOf").and_then(Value::as_array).cloned(),
            _ => None,
        };
        for member in nested.unwrap_or_else(|| vec![schema]) {
            if !members.contains(&member) {
                members.push(member);
            }
        }
    }
    if members.len() == 1 {
        return members.pop().unwrap_or_default();
    }
    json!({"anyOf": members})
}

fn literal_schema(values: &[Value]) -> Value {
    let mut map = Map::new();
    match values {
        [only] => map.insert("const".into(), only.clone()),
        _ => map.insert("enum".into(), Value::Array(values.to_vec())),
    };
    if let Some(t) = common_json_type(values) {
        map.insert("type".into(), t.into());
    }
    Value::Object(map)
}

fn enum_schema(name: &str, members: &[(String, Value)]) -> Value {
    let values: Vec<Value> = members.iter().map(|(_, v)| v.clone()).collect();
    let mut map = Map::new();
    map.insert("title".into(), name.into());
    let kind = common_json_type(&values).filter(|t| *t != "null");
    map.insert("enum".into(), Value::Array(values));
    if let Some(t) = kind {
        map.insert("type".into(), t.into());
    }
    Value::Object(map)
}

/// The JSON type name shared by all values, as pydantic picks it for
/// `Literal` and `Enum` (Python `bool` and `int` count as different types).
fn common_json_type(values: &[Value]) -> Option<&'static str> {
    let kind = |v: &Value| match v {
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::Bool(_) => "boolean",
        Value::Array(_) => "array",
        Value::Null => "null",
        Value::Object(_) => "object",
    };
    let first = kind(values.first()?);
    (first != "object" && values.iter().all(|v| kind(v) == first)).then_some(first)
}

/// pydantic's final key sort: every object's keys sorted, except the
/// children of `properties` and `default`, which keep their order.
pub(crate) fn pydantic_sort(value: &Value, parent_key: Option<&str>) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            if !matches!(parent_key, Some("properties" | "default")) {
                keys.sort();
            }
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), pydantic_sort(&map[key.as_str()], Some(key)));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| pydantic_sort(v, parent_key)).collect()),
        other => other.clone(),
    }
}

/// DSPy's `move_type_to_front`: all keys sorted with `"type"` first, at every
/// level.
pub(crate) fn type_front_sort(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| (a.as_str() != "type", a).cmp(&(b.as_str() != "type", b)));
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), type_front_sort(&map[key.as_str()]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(type_front_sort).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::pyfmt::json_dumps;

    fn note(ty: FieldType) -> String {
        json_dumps(&note_schema(&ty))
    }

    #[test]
    fn builtin_schemas_match_pydantic() {
        let s = || Box::new(FieldType::Str);
        assert_eq!(note(FieldType::List(s())), r#"{"type": "array", "items": {"type": "string"}}"#);
        assert_eq!(
            note(FieldType::Dict(s(), Box::new(FieldType::Int))),
            r#"{"type": "object", "additionalProperties": {"type": "integer"}}"#
        );
        assert_eq!(
            note(FieldType::List(Box::new(FieldType::Dict(s(), Box::new(FieldType::Any))))),
            r#"{"type": "array", "items": {"type": "object", "additionalProperties": true}}"#
        );
        assert_eq!(note(FieldType::optional(FieldType::Str)), r#"{"anyOf": [{"type": "string"}, {"type": "null"}]}"#);
        assert_eq!(
            note(FieldType::Tuple(vec![FieldType::Int, FieldType::Str])),
            r#"{"type": "array", "maxItems": 2, "minItems": 2, "prefixItems": [{"type": "integer"}, {"type": "string"}]}"#
        );
        assert_eq!(note(FieldType::Literal(vec![json!("a")])), r#"{"type": "string", "const": "a"}"#);
    }

    #[test]
    fn nested_enum_goes_to_defs() {
        let e = FieldType::Enum { name: "Color".into(), members: vec![("RED".into(), json!("red"))] };
        assert_eq!(
            json_dumps(&type_schema(&FieldType::List(Box::new(e)))),
            r##"{"$defs": {"Color": {"enum": ["red"], "title": "Color", "type": "string"}}, "items": {"$ref": "#/$defs/Color"}, "type": "array"}"##
        );
    }
}
