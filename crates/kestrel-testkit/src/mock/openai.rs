//! The OpenAI chat-completions wire format: `POST /v1/chat/completions`
//! bodies parsed into an [`LmRequest`], answers from the responder as a
//! `chat.completion` object.

use kestrel_core::{Message, Role};
use kestrel_lm::LmRequest;
use serde_json::{Value, json};

use super::reply::{openai_message, openai_tools};
use super::state::Shared;
use super::wire::{
    Flavor, JsonReply, content_text, ok, optional_f32, optional_u32, required_str, string_list, unix_now, words,
};

/// OpenAI's upper bound on `n`.
const MAX_N: u64 = 128;

/// Answer one parsed chat-completions request: `n` choices from the
/// responder, or a 500 naming the problem when it has no reply.
pub(super) fn chat(shared: &Shared, model: &str, request: &LmRequest) -> JsonReply {
    let mut choices = Vec::with_capacity(request.n as usize);
    let mut completion_tokens = 0;
    for index in 0..request.n {
        let reply = match shared.reply_for_model(Flavor::OpenAi, model, request, index) {
            Ok(reply) => reply,
            Err(reply) => return reply,
        };
        completion_tokens += words(&reply.text);
        let (message, finish_reason) = openai_message(&reply, shared.next_id());
        choices.push(json!({
            "index": index,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason,
        }));
    }
    let prompt_tokens: u64 = request.messages.iter().map(|m| words(&m.content)).sum();
    ok(json!({
        "id": format!("chatcmpl-mock{}", shared.next_id()),
        "object": "chat.completion",
        "created": unix_now(),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "service_tier": "default",
        "system_fingerprint": null,
    }))
}

/// The model and the [`LmRequest`] of a chat-completions body. Unknown keys
/// are ignored.
pub(super) fn parse_chat(body: &Value) -> Result<(String, LmRequest), String> {
    if !body.is_object() {
        return Err("the request body must be a JSON object".to_string());
    }
    let model = required_str(body, "model")?.to_string();
    let raw_messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or("you must provide a non-empty `messages` array")?;
    let messages = raw_messages.iter().map(parse_message).collect::<Result<Vec<_>, _>>()?;
    let n = match body.get("n") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_N).contains(&n) => n as u32,
            _ => return Err(format!("`n` must be an integer between 1 and {MAX_N}, got {v}")),
        },
    };
    let max_tokens = match optional_u32(body, "max_completion_tokens")? {
        Some(limit) => Some(limit),
        None => optional_u32(body, "max_tokens")?,
    };
    let mut request = LmRequest::new(messages);
    request.n = n;
    request.temperature = optional_f32(body, "temperature")?;
    request.max_tokens = max_tokens;
    request.stop = string_list(body, "stop")?;
    request.response_format = body.get("response_format").filter(|v| !v.is_null()).cloned();
    request.tools = openai_tools(body)?;
    Ok((model, request))
}

fn parse_message(message: &Value) -> Result<Message, String> {
    let role = match message.get("role").and_then(Value::as_str) {
        Some("system" | "developer") => Role::System,
        Some("user" | "tool" | "function") => Role::User,
        Some("assistant") => Role::Assistant,
        Some(other) => return Err(format!("unknown message role `{other}`")),
        None => return Err("every message needs a string `role`".to_string()),
    };
    let content = content_text(message.get("content").unwrap_or(&Value::Null))?;
    Ok(Message { role, content })
}
