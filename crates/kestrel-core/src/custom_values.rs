//! The values of DSPy's custom field types: [`History`] (earlier turns),
//! [`ToolSpec`] (a tool as the LM sees it), [`ToolCall`] / [`ToolCalls`]
//! (what an LM asks for). [`crate::Image`] lives in `image.rs`.
//!
//! Each serializes to the JSON an [`crate::Example`] holds for the field,
//! so `Example::from_serialize` and typed signatures carry them as is.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::adapter::pyfmt::py_repr;
use crate::error::CoreError;

/// DSPy's `dspy.History`: earlier turns, each a map from the signature's
/// field names to values (inputs become a user turn, outputs an assistant
/// turn; other keys are ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "History", extend("x-kestrel-type" = "History"))]
pub struct History {
    /// The turns, oldest first.
    pub messages: Vec<Map<String, Value>>,
}

impl History {
    /// A history of these turns.
    pub fn new(messages: Vec<Map<String, Value>>) -> Self {
        Self { messages }
    }

    /// Add a turn (builder).
    pub fn turn<K: Into<String>>(mut self, fields: impl IntoIterator<Item = (K, Value)>) -> Self {
        self.messages.push(fields.into_iter().map(|(k, v)| (k.into(), v)).collect());
        self
    }

    /// The history a field value holds: `{"messages": [..]}` (DSPy's form)
    /// or a bare list of turns. `None` (JSON null): no history.
    pub fn from_value(value: &Value) -> Result<Option<History>, CoreError> {
        let turns = match value {
            Value::Null => return Ok(None),
            Value::Object(map) => map.get("messages"),
            Value::Array(_) => Some(value),
            _ => None,
        };
        let Some(Value::Array(items)) = turns else {
            return Err(CoreError::InvalidValue(format!(
                "a History must be {{\"messages\": [..]}} or a list of turns, got {value}"
            )));
        };
        let messages = items
            .iter()
            .map(|item| match item {
                Value::Object(map) => Ok(map.clone()),
                other => Err(CoreError::InvalidValue(format!("a History turn must be an object, got {other}"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(History { messages }))
    }
}

/// A tool as an LM sees it (the data of DSPy's `dspy.Tool`): name,
/// description and the JSON schema of each argument (`{"city": {"type":
/// "string"}}`; an argument with a `default` is optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Tool", extend("x-kestrel-type" = "Tool"))]
pub struct ToolSpec {
    /// The name the LM calls it by.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub desc: String,
    /// Argument name → JSON schema.
    #[serde(default)]
    pub args: Map<String, Value>,
}

impl ToolSpec {
    /// DSPy's `str(tool)`: `name, whose description is <desc>..</desc>. It
    /// takes arguments {..}.` (the arguments as a Python dict).
    pub fn text(&self) -> String {
        let desc = if self.desc.is_empty() {
            ".".to_string()
        } else {
            format!(", whose description is <desc>{}</desc>.", self.desc).replace('\n', "  ")
        };
        format!("{}{desc} It takes arguments {}.", self.name, py_repr(&Value::Object(self.args.clone())))
    }

    /// DSPy's `format_as_litellm_function_call()`: the OpenAI `tools` entry
    /// (`{"type": "function", "function": {name, description, parameters}}`),
    /// every argument without a `default` required.
    pub fn function_json(&self) -> Value {
        let required: Vec<&String> =
            self.args.iter().filter(|(_, schema)| schema.get("default").is_none()).map(|(k, _)| k).collect();
        json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.desc,
                "parameters": {"type": "object", "properties": self.args, "required": required},
            },
        })
    }

    /// The tools a field value holds: one tool object or a list of them.
    pub fn list_from_value(value: &Value) -> Result<Vec<ToolSpec>, CoreError> {
        let items = match value {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        items
            .into_iter()
            .map(|item| {
                serde_json::from_value(item)
                    .map_err(|e| CoreError::InvalidValue(format!("not a tool ({{name, desc, args}}): {e}")))
            })
            .collect()
    }
}

/// One tool call an LM asked for (DSPy's `ToolCalls.ToolCall`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "ToolCall")]
pub struct ToolCall {
    /// The provider's call id (native calls; `None` from text replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool's name.
    pub name: String,
    /// The arguments.
    #[serde(default)]
    pub args: Map<String, Value>,
}

impl ToolCall {
    /// DSPy's `_normalize_tool_call_dict`: `{name, args}`, `{name,
    /// arguments}` or the provider's `{id, function: {name, arguments}}`;
    /// arguments given as a JSON string are read leniently, anything else
    /// that is not an object becomes `{}`.
    pub fn from_value(value: &Value) -> Result<ToolCall, CoreError> {
        let Value::Object(data) = value else {
            return Err(CoreError::InvalidValue(format!(
                "Received invalid tool call value for `dspy.ToolCalls`: {value}"
            )));
        };
        let (name, arguments) = match data.get("function") {
            Some(function) => {
                let function = match function {
                    Value::Null => &Map::new(),
                    Value::Object(f) => f,
                    other => {
                        return Err(CoreError::InvalidValue(format!(
                            "Received invalid function value for `dspy.ToolCalls`: {other}"
                        )));
                    }
                };
                let name = function.get("name").filter(|n| is_truthy(n)).or_else(|| data.get("name"));
                (name.cloned(), function.get("arguments").cloned())
            }
            None => (data.get("name").cloned(), data.get("args").or_else(|| data.get("arguments")).cloned()),
        };
        let args = match arguments {
            Some(Value::String(text)) => match crate::adapter::repair::repair_json(&text) {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            },
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let Some(Value::String(name)) = name else {
            return Err(CoreError::InvalidValue(format!("a tool call needs a string `name`: {value}")));
        };
        let id = [data.get("id"), data.get("call_id")]
            .into_iter()
            .flatten()
            .find(|v| is_truthy(v))
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(ToolCall { id, name, args })
    }
}

/// The tool calls of one reply (DSPy's `dspy.ToolCalls`); serialized as
/// `{"tool_calls": [{"id"?, "name", "args"}]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "ToolCalls", extend("x-kestrel-type" = "ToolCalls"))]
pub struct ToolCalls {
    /// The calls, in the order the LM gave them.
    pub tool_calls: Vec<ToolCall>,
}

impl ToolCalls {
    /// DSPy's `ToolCalls` validation: `{"tool_calls": [..]}`, a list of
    /// calls, or one call (each call as [`ToolCall::from_value`] reads it).
    pub fn from_value(value: &Value) -> Result<ToolCalls, CoreError> {
        let invalid = || CoreError::InvalidValue(format!("Received invalid value for `dspy.ToolCalls`: {value}"));
        let calls = match value {
            Value::Array(items) if items.iter().all(is_tool_call_dict) => items,
            Value::Object(map) => match map.get("tool_calls") {
                Some(Value::Array(items)) => items,
                Some(_) => return Err(invalid()),
                None if is_tool_call_dict(value) => std::slice::from_ref(value),
                None => return Err(invalid()),
            },
            _ => return Err(invalid()),
        };
        let tool_calls = calls.iter().map(ToolCall::from_value).collect::<Result<_, _>>()?;
        Ok(ToolCalls { tool_calls })
    }

    /// The JSON value a prediction holds.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// DSPy's `_is_tool_call_dict`.
fn is_tool_call_dict(value: &Value) -> bool {
    let Value::Object(map) = value else { return false };
    (map.contains_key("name") && (map.contains_key("args") || map.contains_key("arguments")))
        || map.contains_key("function")
}

/// Python truthiness of a JSON value.
fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_text_and_function_json_follow_dspy() {
        let mut args = Map::new();
        args.insert("city".into(), json!({"type": "string"}));
        args.insert("unit".into(), json!({"type": "string", "default": "celsius"}));
        let tool = ToolSpec { name: "weather".into(), desc: "Current\nweather.".into(), args };
        assert_eq!(
            tool.text(),
            "weather, whose description is <desc>Current  weather.</desc>. It takes arguments \
             {'city': {'type': 'string'}, 'unit': {'type': 'string', 'default': 'celsius'}}."
        );
        assert_eq!(tool.function_json()["function"]["parameters"]["required"], json!(["city"]));
        let bare = ToolSpec { name: "noop".into(), ..ToolSpec::default() };
        assert_eq!(bare.text(), "noop. It takes arguments {}.");
    }

    #[test]
    fn tool_calls_accept_every_dspy_shape() {
        let provider = json!([{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]);
        let calls = ToolCalls::from_value(&provider).unwrap();
        assert_eq!(calls.tool_calls[0].id.as_deref(), Some("c1"));
        assert_eq!(calls.tool_calls[0].args["x"], 1);
        let one = ToolCalls::from_value(&json!({"name": "g", "args": {"y": "z"}})).unwrap();
        assert_eq!(one.to_value(), json!({"tool_calls": [{"name": "g", "args": {"y": "z"}}]}));
        let wrapped = ToolCalls::from_value(&json!({"tool_calls": [{"name": "h", "arguments": 3}]})).unwrap();
        assert!(wrapped.tool_calls[0].args.is_empty());
        assert!(ToolCalls::from_value(&json!("nope")).is_err());
        assert!(ToolCalls::from_value(&json!({"tool_calls": [{"args": {}}]})).is_err());
    }

    #[test]
    fn history_reads_both_forms() {
        let turns = json!([{"q": "a"}]);
        let h = History::from_value(&turns).unwrap().unwrap();
        assert_eq!(h, History::from_value(&json!({"messages": turns})).unwrap().unwrap());
        assert_eq!(History::from_value(&Value::Null).unwrap(), None);
        assert!(History::from_value(&json!({"messages": [1]})).is_err());
        assert!(History::from_value(&json!("x")).is_err());
    }
}
