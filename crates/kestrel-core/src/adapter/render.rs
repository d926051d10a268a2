//! How DSPy renders one field value inside a prompt (`format_field_value`):
//! a list given to a `str` field is numbered `[1] «a»`, other lists and
//! dicts are compact JSON, everything else is Python's `str()`.

use serde_json::Value;

use crate::adapter::pyfmt::{json_dumps, push_py_repr, py_str};
use crate::types::FieldType;

/// Render `value` for a field of type `ty`.
pub(crate) fn field_value(ty: &FieldType, value: &Value) -> String {
    if has_custom(ty) {
        return match custom_jsonable(ty, value) {
            v @ (Value::Array(_) | Value::Object(_)) => json_dumps(&v),
            other => py_str(&other),
        };
    }
    match value {
        Value::Array(items) if ty.is_str() => numbered_list(items),
        Value::Array(_) | Value::Object(_) => json_dumps(value),
        other => py_str(other),
    }
}

/// `value` as DSPy's `serialize_for_json` gives it for a field of type
/// `ty`: custom types in their prompt form (see [`custom_jsonable`]), any
/// other value as it is.
pub(crate) fn jsonable(ty: &FieldType, value: &Value) -> Value {
    if has_custom(ty) { custom_jsonable(ty, value) } else { value.clone() }
}

/// True when `ty` holds one of DSPy's custom types at any depth.
fn has_custom(ty: &FieldType) -> bool {
    match ty {
        FieldType::Custom(_) => true,
        FieldType::List(t) => has_custom(t),
        FieldType::Dict(k, v) => has_custom(k) || has_custom(v),
        FieldType::Tuple(items) | FieldType::Union(items) => items.iter().any(has_custom),
        _ => false,
    }
}

/// DSPy's `serialize_for_json` of a value holding custom types: an image is
/// its marked content parts, a tool its text, tool calls their
/// `{"tool_calls": [{name, args}]}`; lists and dicts are walked.
fn custom_jsonable(ty: &FieldType, value: &Value) -> Value {
    use crate::CustomType;
    match (ty, value) {
        (FieldType::Custom(CustomType::Image), v) => {
            crate::Image::from_value(v).map_or_else(|| v.clone(), |image| Value::String(image.marked_text()))
        }
        (FieldType::Custom(CustomType::Tool), v) => serde_json::from_value::<crate::ToolSpec>(v.clone())
            .map_or_else(|_| v.clone(), |tool| Value::String(tool.text())),
        (FieldType::Custom(CustomType::ToolCalls), v) => match crate::ToolCalls::from_value(v) {
            Ok(calls) => {
                let calls: Vec<Value> =
                    calls.tool_calls.into_iter().map(|c| serde_json::json!({"name": c.name, "args": c.args})).collect();
                serde_json::json!({"tool_calls": calls})
            }
            Err(_) => v.clone(),
        },
        (FieldType::List(item), Value::Array(items)) => {
            Value::Array(items.iter().map(|x| custom_jsonable(item, x)).collect())
        }
        (FieldType::Dict(_, item), Value::Object(map)) => {
            Value::Object(map.iter().map(|(k, x)| (k.clone(), custom_jsonable(item, x))).collect())
        }
        (FieldType::Union(members), v) => {
            members.iter().find(|m| has_custom(m)).map_or_else(|| v.clone(), |m| custom_jsonable(m, v))
        }
        (_, v) => v.clone(),
    }
}

/// DSPy's numbered list for `str` fields: `N/A` when empty, the lone item
/// when there is one, else `[i] item` lines.
fn numbered_list(items: &[Value]) -> String {
    match items {
        [] => "N/A".into(),
        [only] => {
            let mut out = String::new();
            push_blob(&mut out, only);
            out
        }
        _ => {
            let mut out = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push('[');
                out.push_str(&(i + 1).to_string());
                out.push_str("] ");
                push_blob(&mut out, item);
            }
            out
        }
    }
}

/// One list item: `«text»`, or a `«««` block (lines indented by 4 spaces)
/// when the text holds a newline or a guillemet.
fn push_blob(out: &mut String, item: &Value) {
    let Value::String(text) = item else {
        // DSPy expects text items; anything else shows as Python prints it.
        out.push('«');
        push_py_repr(out, item);
        out.push('»');
        return;
    };
    if !text.contains(['\n', '«', '»']) {
        out.push('«');
        out.push_str(text);
        out.push('»');
        return;
    }
    out.push_str("«««\n    ");
    out.push_str(&text.replace('\n', "\n    "));
    out.push_str("\n»»»");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn str_fields_number_lists() {
        let ty = FieldType::Str;
        assert_eq!(field_value(&ty, &json!([])), "N/A");
        assert_eq!(field_value(&ty, &json!(["one"])), "«one»");
        assert_eq!(field_value(&ty, &json!(["a", "b\nc"])), "[1] «a»\n[2] «««\n    b\n    c\n»»»");
        assert_eq!(field_value(&ty, &json!({"k": 1.0})), r#"{"k": 1.0}"#);
        assert_eq!(field_value(&ty, &json!(false)), "False");
        assert_eq!(field_value(&FieldType::List(Box::new(FieldType::Str)), &json!(["a"])), r#"["a"]"#);
        assert_eq!(field_value(&FieldType::Float, &json!(2.0)), "2.0");
    }
}
