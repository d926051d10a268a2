//! The Anthropic Messages API wire format: `POST /v1/messages` bodies
//! parsed into an [`LmRequest`] (the `system` prompt as a first system
//! message), answers from the responder as a `message` object.

use kestrel_core::{Message, Role};
use kestrel_lm::LmRequest;
use serde_json::{Value, json};

use super::reply::{anthropic_content, anthropic_tools};
use super::state::Shared;
use super::wire::{Flavor, JsonReply, content_text, ok, optional_f32, optional_u32, required_str, string_list, words};

/// Answer one parsed Messages API request from the responder, or a 500
/// naming the problem when it has no reply.
pub(super) fn messages(shared: &Shared, model: &str, request: &LmRequest) -> JsonReply {
    let reply = match shared.reply(Flavor::Anthropic, request, 0) {
        Ok(reply) => reply,
        Err(reply) => return reply,
    };
    let input_tokens: u64 = request.messages.iter().map(|m| words(&m.content)).sum();
    let output_tokens = words(&reply.text);
    let (content, stop_reason) = anthropic_content(&reply, shared.next_id());
    ok(json!({
        "id": format!("msg_mock{}", shared.next_id()),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }))
}

/// The model and the [`LmRequest`] of a Messages API body. Unknown keys are
/// ignored; `max_tokens` is required, as Anthropic requires it.
pub(super) fn parse_messages(body: &Value) -> Result<(String, LmRequest), String> {
    if !body.is_object() {
        return Err("the request body must be a JSON object".to_string());
    }
    let model = required_str(body, "model")?.to_string();
    let max_tokens = optional_u32(body, "max_tokens")?.ok_or("max_tokens: Field required")?;
    let raw_messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or("messages: a non-empty list is required")?;
    let mut messages = Vec::with_capacity(raw_messages.len() + 1);
    match body.get("system") {
        None | Some(Value::Null) => {}
        Some(system) => messages.push(Message::system(content_text(system).map_err(|e| format!("system: {e}"))?)),
    }
    for message in raw_messages {
        let role = match message.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some(other) => return Err(format!("messages: unexpected role `{other}` (use the top-level `system`)")),
            None => return Err("messages: every message needs a string `role`".to_string()),
        };
        let content = content_text(message.get("content").unwrap_or(&Value::Null))?;
        messages.push(Message { role, content });
    }
    let mut request = LmRequest::new(messages);
    request.max_tokens = Some(max_tokens);
    request.temperature = optional_f32(body, "temperature")?;
    request.stop = string_list(body, "stop_sequences")?;
    request.tools = anthropic_tools(body)?;
    Ok((model, request))
}
