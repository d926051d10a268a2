//! [`MockReply`]: one answer of the mock server — text and, for native
//! function calling, tool calls — and how each provider wire writes it
//! (OpenAI `message.tool_calls` with `finish_reason: "tool_calls"`;
//! Anthropic `tool_use` blocks with `stop_reason: "tool_use"`), plus the
//! `tools` of a request read back into [`kestrel_lm::LmRequest::tools`]
//! (always in OpenAI's shape, whichever wire sent them).

use kestrel_core::ToolCall;
use serde_json::{Map, Value, json};

/// What the mock answers to one choice of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MockReply {
    /// The reply text (may be empty when there are tool calls).
    pub text: String,
    /// Tool calls, sent through the provider's tool-calling shape. A call
    /// without an id gets one (`call_mock<n>` / `toolu_mock<n>`).
    pub tool_calls: Vec<ToolCall>,
}

impl MockReply {
    /// A text reply.
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), tool_calls: Vec::new() }
    }

    /// A reply asking for these tool calls (no text).
    pub fn tool_calls(calls: impl IntoIterator<Item = ToolCall>) -> Self {
        Self { text: String::new(), tool_calls: calls.into_iter().collect() }
    }

    /// A reply asking for one tool call: `name` with `args` (a JSON object;
    /// anything else is no arguments).
    pub fn call(name: impl Into<String>, args: Value) -> Self {
        let args = match args {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Self::tool_calls([ToolCall { id: None, name: name.into(), args }])
    }

    /// Builder: the text that comes with the tool calls.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }
}

impl From<String> for MockReply {
    fn from(text: String) -> Self {
        MockReply::text(text)
    }
}

impl From<&str> for MockReply {
    fn from(text: &str) -> Self {
        MockReply::text(text)
    }
}

/// The OpenAI `message` and `finish_reason` of a reply; `id` numbers the
/// calls that have no id.
pub(super) fn openai_message(reply: &MockReply, id: u64) -> (Value, &'static str) {
    if reply.tool_calls.is_empty() {
        let message = json!({"role": "assistant", "content": reply.text, "refusal": null, "annotations": []});
        return (message, "stop");
    }
    let calls: Vec<Value> = reply
        .tool_calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            let arguments = serde_json::to_string(&call.args).unwrap_or_else(|_| "{}".into());
            json!({
                "id": call.id.clone().unwrap_or_else(|| format!("call_mock{id}_{i}")),
                "type": "function",
                "function": {"name": call.name, "arguments": arguments},
            })
        })
        .collect();
    let content = if reply.text.is_empty() { Value::Null } else { Value::String(reply.text.clone()) };
    let message =
        json!({"role": "assistant", "content": content, "tool_calls": calls, "refusal": null, "annotations": []});
    (message, "tool_calls")
}

/// The Anthropic `content` blocks and `stop_reason` of a reply.
pub(super) fn anthropic_content(reply: &MockReply, id: u64) -> (Value, &'static str) {
    let mut blocks = Vec::new();
    if !reply.text.is_empty() || reply.tool_calls.is_empty() {
        blocks.push(json!({"type": "text", "text": reply.text}));
    }
    for (i, call) in reply.tool_calls.iter().enumerate() {
        blocks.push(json!({
            "type": "tool_use",
            "id": call.id.clone().unwrap_or_else(|| format!("toolu_mock{id}_{i}")),
            "name": call.name,
            "input": call.args,
        }));
    }
    let stop = if reply.tool_calls.is_empty() { "end_turn" } else { "tool_use" };
    (Value::Array(blocks), stop)
}

/// The `tools` of an OpenAI body, as sent.
pub(super) fn openai_tools(body: &Value) -> Result<Vec<Value>, String> {
    match body.get("tools") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(tools)) => {
            for tool in tools {
                if tool.pointer("/function/name").and_then(Value::as_str).is_none() {
                    return Err(format!("tools: every tool needs `function.name`, got {tool}"));
                }
            }
            Ok(tools.clone())
        }
        Some(other) => Err(format!("`tools` must be a list, got {other}")),
    }
}

/// The `tools` of an Anthropic body (`{name, description, input_schema}`),
/// in OpenAI's shape.
pub(super) fn anthropic_tools(body: &Value) -> Result<Vec<Value>, String> {
    match body.get("tools") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(tools)) => tools
            .iter()
            .map(|tool| {
                let name = tool.get("name").and_then(Value::as_str).ok_or("tools.name: Field required")?;
                let schema = tool.get("input_schema").ok_or("tools.input_schema: Field required")?;
                let mut function = Map::new();
                function.insert("name".into(), name.into());
                if let Some(description) = tool.get("description") {
                    function.insert("description".into(), description.clone());
                }
                function.insert("parameters".into(), schema.clone());
                Ok(json!({"type": "function", "function": function}))
            })
            .collect(),
        Some(other) => Err(format!("tools: Input should be a valid list, got {other}")),
    }
}
