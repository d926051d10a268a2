//! DSPy's MCP conversions: an input schema's properties as a tool's
//! argument schemas (`convert_input_schema_to_tool_args`), and a tool
//! result as an observation or an error (`_convert_mcp_tool_result`, text
//! mode).

use kestrel_core::types::python_literal_repr;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value};

use crate::error::ModuleError;

/// How deep `$ref`s are followed: a recursive schema stops resolving there
/// (DSPy would recurse forever).
const MAX_REF_DEPTH: usize = 32;

/// The argument schemas of an MCP tool: its input schema's `properties`,
/// each with `$ref`s into the schema's `$defs` replaced by the definition.
/// No `properties`: no arguments.
pub(super) fn tool_args(schema: &Map<String, Value>) -> Map<String, Value> {
    let Some(Value::Object(properties)) = schema.get("properties") else { return Map::new() };
    let defs = match schema.get("$defs") {
        Some(Value::Object(defs)) if !defs.is_empty() => Some(defs),
        _ => None,
    };
    properties
        .iter()
        .map(|(name, prop)| {
            let prop = match defs {
                Some(defs) => resolve_refs(prop, defs, 0),
                None => prop.clone(),
            };
            (name.clone(), prop)
        })
        .collect()
}

/// `value` with every `{"$ref": ".../Name"}` replaced by `defs[Name]`
/// (resolved too), as DSPy's `_resolve_json_schema_reference`.
fn resolve_refs(value: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("$ref") {
                let name = reference.rsplit('/').next().unwrap_or(reference);
                if let Some(def) = defs.get(name).filter(|_| depth < MAX_REF_DEPTH) {
                    return resolve_refs(def, defs, depth + 1);
                }
                return value.clone();
            }
            Value::Object(
                object
                    .iter()
                    .filter(|(key, _)| key.as_str() != "$defs")
                    .map(|(key, v)| (key.clone(), resolve_refs(v, defs, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve_refs(v, defs, depth)).collect()),
        other => other.clone(),
    }
}

/// A tool result as DSPy's text mode returns it: the text contents (one: a
/// string; several: a list), else the other contents as JSON; `isError` is
/// [`ModuleError::McpToolError`] carrying the text contents as DSPy prints
/// them.
pub(super) fn observation(tool: &str, result: CallToolResult) -> Result<Value, ModuleError> {
    let mut texts = Vec::new();
    let mut others = Vec::new();
    for content in result.content {
        match content {
            ContentBlock::Text(text) => texts.push(Value::String(text.text)),
            other => others.push(serde_json::to_value(other).unwrap_or(Value::Null)),
        }
    }
    let single = texts.len() == 1;
    let text_content = if single { texts.pop().unwrap_or(Value::Null) } else { Value::Array(texts) };
    if result.is_error == Some(true) {
        let message = match &text_content {
            Value::String(text) => text.clone(),
            list => python_literal_repr(list),
        };
        return Err(ModuleError::McpToolError { tool: tool.to_string(), message });
    }
    match text_content {
        Value::Array(list) if list.is_empty() => Ok(Value::Array(others)),
        content => Ok(content),
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{CallToolResult, ContentBlock};
    use serde_json::{Value, json};

    use super::{observation, tool_args};
    use crate::error::ModuleError;

    fn object(value: Value) -> serde_json::Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        }
    }

    #[test]
    fn properties_become_arguments_with_refs_resolved() {
        let schema = object(json!({
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city."},
                "units": {"$ref": "#/$defs/Units"},
                "days": {"type": "array", "items": {"$ref": "#/$defs/Day"}}
            },
            "required": ["city"],
            "$defs": {
                "Units": {"type": "string", "enum": ["C", "F"]},
                "Day": {"type": "integer"}
            }
        }));
        let args = tool_args(&schema);
        assert_eq!(
            Value::Object(args),
            json!({
                "city": {"type": "string", "description": "The city."},
                "units": {"type": "string", "enum": ["C", "F"]},
                "days": {"type": "array", "items": {"type": "integer"}}
            })
        );
        assert!(tool_args(&object(json!({"type": "object"}))).is_empty());
    }

    #[test]
    fn a_recursive_schema_stops_resolving() {
        let schema = object(json!({
            "properties": {"node": {"$ref": "#/$defs/Node"}},
            "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}
        }));
        let args = tool_args(&schema);
        assert!(args["node"]["properties"]["next"]["properties"].is_object());
    }

    #[test]
    fn results_follow_dspy_text_mode() {
        let one = CallToolResult::success(vec![ContentBlock::text("4")]);
        assert_eq!(observation("add", one).ok(), Some(json!("4")));
        let two = CallToolResult::success(vec![ContentBlock::text("a"), ContentBlock::text("b")]);
        assert_eq!(observation("t", two).ok(), Some(json!(["a", "b"])));
        let none = CallToolResult::success(vec![]);
        assert_eq!(observation("t", none).ok(), Some(json!([])));
        let failed = CallToolResult::error(vec![ContentBlock::text("boom")]);
        match observation("t", failed) {
            Err(e @ ModuleError::McpToolError { .. }) => assert_eq!(e.to_string(), "Failed to call a MCP tool: boom"),
            other => panic!("{other:?}"),
        }
        let failed = CallToolResult::error(vec![ContentBlock::text("a"), ContentBlock::text("b")]);
        let e = observation("t", failed).unwrap_err();
        assert_eq!(e.to_string(), "Failed to call a MCP tool: ['a', 'b']");
    }
}
