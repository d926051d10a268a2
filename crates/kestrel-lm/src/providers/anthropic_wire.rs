//! Anthropic's Messages API wire format as pure functions: the body Kestrel
//! sends (system prompt split out, same-role turns merged, `max_tokens`
//! always set) and the `message` object read back.

use kestrel_core::{Role, Usage};
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
    let mut turns: Vec<(Role, String)> = Vec::new();
    for message in &request.messages {
        match message.role {
            Role::System => system.push(&message.content),
            role => match turns.last_mut() {
                Some((last, text)) if *last == role => {
                    text.push_str(JOIN);
                    text.push_str(&message.content);
                }
                _ => turns.push((role, message.content.clone())),
            },
        }
    }
    let mut system = system.join(JOIN);
    if turns.is_empty() {
        // Only a system prompt: send it as the user's turn.
        turns.push((Role::User, std::mem::take(&mut system)));
    } else if turns.first().is_some_and(|(role, _)| *role == Role::Assistant) {
        turns.insert(0, (Role::User, PLACEHOLDER_USER_TURN.to_string()));
    }
    let messages: Vec<Value> =
        turns.into_iter().map(|(role, content)| json!({"role": role.as_str(), "content": content})).collect();
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
    Value::Object(body)
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
    let completion = Completion { text, finish_reason: message.stop_reason.map(|r| stop_reason(&r)) };
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
    fn messages_become_responses() {
        let body = json!({"type": "message", "model": "claude-x", "content": [
            {"type": "text", "text": "Hel"}, {"type": "tool_use", "id": "t"}, {"type": "text", "text": "lo"}],
            "stop_reason": "max_tokens",
            "usage": {"input_tokens": 3, "output_tokens": 4, "cache_read_input_tokens": 2}});
        let r = parse_message("claude", body).unwrap();
        assert_eq!(r.completions, vec![Completion { text: "Hello".into(), finish_reason: Some(FinishReason::Length) }]);
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
