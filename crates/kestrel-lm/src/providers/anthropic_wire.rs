//! Anthropic's Messages API wire format as pure functions: the body Kestrel
//! sends (system prompt split out, same-role turns merged, `max_tokens`
//! always set) and the `message` object read back.

use kestrel_core::{ContentPart, Message, Role, ToolCall, Usage};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::request::{Completion, FinishReason, LmRequest, LmResponse};

/// What joins merged system prompts and merged same-role turns.
const JOIN: &str = "\n\n";

/// Sent as the first user turn when the conversation would start with the
/// assistant (the API requires a user turn first), as LiteLLM does.
const PLACEHOLDER_USER_TURN: &str = ".";

/// The Messages API body for one completion. System messages become the
/// top-level `system`; consecutive same-role turns are merged; `max_tokens`
/// is the request's or `default_max_tokens`; `stop` is `stop_sequences`.
/// `n`, `response_format` and the rollout id are not sent.
pub(crate) fn messages_body(model: &str, request: &LmRequest, default_max_tokens: u32) -> Value {
    let mut system: Vec<&str> = Vec::new();
    let mut turns: Vec<(Role, Content)> = Vec::new();
    for message in &request.messages {
        match message.role {
            Role::System => system.push(&message.content),
            role => {
                let content = Content::of(message);
                match turns.last_mut() {
                    Some((last, text)) if *last == role => text.merge(content),
                    _ => turns.push((role, content)),
                }
            }
        }
    }
    let mut system = system.join(JOIN);
    if turns.is_empty() {
        // Only a system prompt: send it as the user's turn.
        turns.push((Role::User, Content::Text(std::mem::take(&mut system))));
    } else if turns.first().is_some_and(|(role, _)| *role == Role::Assistant) {
        turns.insert(0, (Role::User, Content::Text(PLACEHOLDER_USER_TURN.to_string())));
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role.as_str(), "content": content.into_json()}))
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("max_tokens".into(), request.max_tokens.unwrap_or(default_max_tokens).into());
    if !system.is_empty() {
        body.insert("system".into(), system.into());
    }
    body.insert("messages".into(), messages.into());
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), super::f32_json(t));
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    if !request.tools.is_empty() {
        body.insert("tools".into(), Value::Array(request.tools.iter().map(anthropic_tool).collect()));
    }
    Value::Object(body)
}

/// A turn's content: plain text (merged turns joined by a blank line), or
/// content blocks once a message has parts (an image).
enum Content {
    Text(String),
    Blocks(Vec<Value>),
}

impl Content {
    fn of(message: &Message) -> Content {
        match message.parts() {
            None => Content::Text(message.content.clone()),
            Some(parts) => Content::Blocks(parts.iter().map(anthropic_block).collect()),
        }
    }

    fn merge(&mut self, next: Content) {
        match (&mut *self, next) {
            (Content::Text(text), Content::Text(more)) => {
                text.push_str(JOIN);
                text.push_str(&more);
            }
            (_, next) => {
                let mut blocks = std::mem::replace(self, Content::Blocks(Vec::new())).into_blocks();
                blocks.extend(next.into_blocks());
                *self = Content::Blocks(blocks);
            }
        }
    }

    fn into_blocks(self) -> Vec<Value> {
        match self {
            Content::Text(text) => vec![json!({"type": "text", "text": text})],
            Content::Blocks(blocks) => blocks,
        }
    }

    fn into_json(self) -> Value {
        match self {
            Content::Text(text) => Value::String(text),
            Content::Blocks(blocks) => Value::Array(blocks),
        }
    }
}

/// One content part as an Anthropic block: an image from a data URL is a
/// `base64` source, any other URL a `url` source (as LiteLLM converts them).
fn anthropic_block(part: &ContentPart) -> Value {
    match part {
        ContentPart::ImageUrl(url) => match url.strip_prefix("data:").and_then(|rest| rest.split_once(',')) {
            Some((header, data)) => {
                let media_type = header.split(';').next().unwrap_or("application/octet-stream");
                json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
            }
            None => json!({"type": "image", "source": {"type": "url", "url": url}}),
        },
        ContentPart::Text(text) => json!({"type": "text", "text": text}),
        other => other.to_openai(),
    }
}

/// An OpenAI-shaped tool (`{"type": "function", "function": {..}}`) as an
/// Anthropic tool (`{name, description, input_schema}`).
fn anthropic_tool(tool: &Value) -> Value {
    let function = tool.get("function").unwrap_or(tool);
    let mut out = Map::new();
    out.insert("name".into(), function.get("name").cloned().unwrap_or(Value::Null));
    if let Some(description) = function.get("description").filter(|d| d.as_str().is_some_and(|d| !d.is_empty())) {
        out.insert("description".into(), description.clone());
    }
    let schema = function.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    out.insert("input_schema".into(), schema);
    Value::Object(out)
}

#[derive(Deserialize)]
struct MessageResponse {
    #[serde(default)]
    model: Option<String>,
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

/// Read a `message` object into a one-completion [`LmResponse`]: text
/// blocks joined, `stop_reason` mapped, prompt tokens counting cached input
/// too. `Err` says what is wrong with it.
pub(crate) fn parse_message(requested_model: &str, body: Value) -> Result<LmResponse, String> {
    if body.get("type").and_then(Value::as_str) == Some("error") {
        return Err(format!("the 2xx body is an error object: {body}"));
    }
    let message: MessageResponse = serde_json::from_value(body).map_err(|e| format!("not a message object: {e}"))?;
    let text: String = message.content.iter().filter(|b| b.kind == "text").filter_map(|b| b.text.as_deref()).collect();
    let usage = message.usage.map_or_else(Usage::default, |u| Usage {
        // Counts come off the wire: saturate rather than overflow.
        prompt_tokens: u
            .input_tokens
            .saturating_add(u.cache_creation_input_tokens.unwrap_or(0))
            .saturating_add(u.cache_read_input_tokens.unwrap_or(0)),
        completion_tokens: u.output_tokens,
    });
    let tool_calls = message
        .content
        .iter()
        .filter(|b| b.kind == "tool_use")
        .map(|b| {
            let name = b.name.clone().ok_or("a tool_use block has no `name`")?;
            let args = match &b.input {
                Some(Value::Object(map)) => map.clone(),
                _ => Map::new(),
            };
            Ok(ToolCall { id: b.id.clone(), name, args })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let completion = Completion { text, finish_reason: message.stop_reason.map(|r| stop_reason(&r)), tool_calls };
    let model = message.model.filter(|m| !m.is_empty()).unwrap_or_else(|| requested_model.to_string());
    Ok(LmResponse::new(vec![completion], usage, model))
}

/// Anthropic's `stop_reason`.
pub(crate) fn stop_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_core::Message;

    #[test]
    fn system_is_split_and_turns_merged() {
        let mut request = LmRequest::new(vec![
            Message::system("rules"),
            Message::user("a"),
            Message::user("b"),
            Message::system("more rules"),
            Message::assistant("c"),
        ]);
        request.n = 2;
        request.rollout_id = Some(1);
        request.response_format = Some(json!({"type": "json_object"}));
        assert_eq!(
            messages_body("claude", &request, 4096),
            json!({"model": "claude", "max_tokens": 4096, "system": "rules\n\nmore rules", "messages": [
                {"role": "user", "content": "a\n\nb"}, {"role": "assistant", "content": "c"}]})
        );
        request.max_tokens = Some(10);
        request.temperature = Some(0.0);
        request.stop = vec!["END".into()];
        let body = messages_body("claude", &request, 4096);
        assert_eq!((body["max_tokens"].clone(), body["temperature"].clone()), (json!(10), json!(0.0)));
        assert_eq!(body["stop_sequences"], json!(["END"]));
    }

    #[test]
    fn conversations_start_with_a_user_turn() {
        let body = messages_body("c", &LmRequest::new(vec![Message::assistant("hi")]), 1);
        assert_eq!(body["messages"], json!([{"role": "user", "content": "."}, {"role": "assistant", "content": "hi"}]));
        let body = messages_body("c", &LmRequest::new(vec![Message::system("only")]), 1);
        assert_eq!(body["messages"], json!([{"role": "user", "content": "only"}]));
        assert!(body.get("system").is_none());
    }

    #[test]
    fn images_become_blocks_and_tools_are_converted() {
        let png = kestrel_core::Image::from_url("data:image/png;base64,AAAA").unwrap();
        let url = kestrel_core::Image::from_url("https://e.com/a.jpg").unwrap();
        let mut request = LmRequest::new(vec![
            Message::system("s"),
            Message::user(format!("a {}", png.marked_text())),
            Message::user(format!("b {}", url.marked_text())),
            Message::assistant("ok"),
        ]);
        request.tools = vec![json!({"type": "function", "function": {"name": "f", "description": "does f",
            "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}})];
        let body = messages_body("c", &request, 8);
        assert_eq!(
            body["messages"][0]["content"],
            json!([
                {"type": "text", "text": "a "},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                {"type": "text", "text": "b "},
                {"type": "image", "source": {"type": "url", "url": "https://e.com/a.jpg"}},
            ])
        );
        assert_eq!(body["messages"][1]["content"], "ok");
        assert_eq!(
            body["tools"],
            json!([{"name": "f", "description": "does f", "input_schema": {"type": "object",
                "properties": {"x": {"type": "integer"}}, "required": ["x"]}}])
        );
    }

    #[test]
    fn messages_become_responses() {
        let body = json!({"type": "message", "model": "claude-x", "content": [
            {"type": "text", "text": "Hel"}, {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}},
            {"type": "text", "text": "lo"}],
            "stop_reason": "max_tokens",
            "usage": {"input_tokens": 3, "output_tokens": 4, "cache_read_input_tokens": 2}});
        let r = parse_message("claude", body).unwrap();
        assert_eq!(r.completions[0].text, "Hello");
        assert_eq!(r.completions[0].finish_reason, Some(FinishReason::Length));
        assert_eq!(
            r.completions[0].tool_calls,
            vec![ToolCall {
                id: Some("t".into()),
                name: "f".into(),
                args: json!({"a": 1}).as_object().unwrap().clone()
            }]
        );
        assert!(parse_message("c", json!({"content": [{"type": "tool_use", "id": "x"}]})).is_err());
        assert_eq!((r.usage.prompt_tokens, r.usage.completion_tokens, r.model.as_str()), (5, 4, "claude-x"));
        assert_eq!(stop_reason("end_turn"), FinishReason::Stop);
        assert_eq!(stop_reason("stop_sequence"), FinishReason::Stop);
        assert!(parse_message("c", json!({"type": "error", "error": {}})).is_err());
        let absurd = json!({"content": [], "usage": {"input_tokens": u64::MAX, "output_tokens": 1,
            "cache_creation_input_tokens": u64::MAX, "cache_read_input_tokens": 5}});
        assert_eq!(parse_message("c", absurd).unwrap().usage.prompt_tokens, u64::MAX);
        assert!(parse_message("c", json!({"content": "nope"})).is_err());
    }
}
