//! The OpenAI chat-completions and embeddings wire format as pure functions:
//! the exact JSON body Kestrel sends, and the response JSON read back into an
//! [`LmResponse`] (or embedding vectors).

use kestrel_core::{ToolCall, Usage};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::request::{Completion, FinishReason, LmRequest, LmResponse};

/// True for OpenAI reasoning models, with DSPy 3.x's rule (the model family
/// is the part after the last `/`):
/// `^(?:o[1345](?:-(?:mini|nano|pro))?(?:-\d{4}-\d{2}-\d{2})?|gpt-5(?!-chat)(?:-.*)?)$`.
/// They take `max_completion_tokens` instead of `max_tokens`.
pub fn is_reasoning_model(model: &str) -> bool {
    let family = model.rsplit('/').next().unwrap_or(model).to_ascii_lowercase();
    if let Some(rest) = family.strip_prefix("gpt-5") {
        return rest.is_empty() || (rest.starts_with('-') && !rest.starts_with("-chat"));
    }
    let bytes = family.as_bytes();
    if bytes.len() < 2 || bytes[0] != b'o' || !matches!(bytes[1], b'1' | b'3' | b'4' | b'5') {
        return false;
    }
    let mut rest = &family[2..];
    for variant in ["-mini", "-nano", "-pro"] {
        if let Some(r) = rest.strip_prefix(variant) {
            rest = r;
            break;
        }
    }
    rest.is_empty() || is_date_suffix(rest)
}

/// `-YYYY-MM-DD`.
fn is_date_suffix(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[0] == b'-'
        && b[5] == b'-'
        && b[8] == b'-'
        && [1, 2, 3, 4, 6, 7, 9, 10].iter().all(|&i| b[i].is_ascii_digit())
}

/// Whether OpenAI itself serves structured outputs for `model` (gpt-4o*,
/// gpt-4.1*, gpt-5*, o-series).
pub(crate) fn openai_supports_structured_outputs(model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    m.starts_with("gpt-4o")
        || m.starts_with("gpt-4.1")
        || m.starts_with("gpt-5")
        || (m.starts_with('o') && m.as_bytes().get(1).is_some_and(u8::is_ascii_digit))
}

/// The chat-completions body: `model`, `messages`, and only the options set
/// (`n` only above 1; `max_completion_tokens` for reasoning models). The
/// rollout id is never sent.
pub(crate) fn chat_body(model: &str, request: &LmRequest) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| match m.parts() {
            None => json!({"role": m.role.as_str(), "content": m.content}),
            Some(parts) => {
                let parts: Vec<Value> = parts.iter().map(kestrel_core::ContentPart::to_openai).collect();
                json!({"role": m.role.as_str(), "content": parts})
            }
        })
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("messages".into(), messages.into());
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), super::f32_json(t));
    }
    if request.n > 1 {
        body.insert("n".into(), request.n.into());
    }
    if let Some(max) = request.max_tokens {
        let key = if is_reasoning_model(model) { "max_completion_tokens" } else { "max_tokens" };
        body.insert(key.into(), max.into());
    }
    if !request.stop.is_empty() {
        body.insert("stop".into(), json!(request.stop));
    }
    if let Some(format) = &request.response_format {
        body.insert("response_format".into(), format.clone());
    }
    if !request.tools.is_empty() {
        body.insert("tools".into(), Value::Array(request.tools.clone()));
    }
    Value::Object(body)
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    index: Option<u64>,
    message: ChoiceMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// Read a chat-completions response. `Err` says what is wrong with it
/// (the caller makes it [`crate::LmError::BadResponse`]).
pub(crate) fn parse_chat_response(requested_model: &str, body: Value) -> Result<LmResponse, String> {
    if let Some(error) = body.get("error").filter(|_| body.get("choices").is_none()) {
        return Err(format!("the 2xx body is an error object: {error}"));
    }
    let response: ChatResponse =
        serde_json::from_value(body).map_err(|e| format!("not a chat.completion object: {e}"))?;
    let mut choices = response.choices;
    choices.sort_by_key(|c| c.index.unwrap_or(0));
    let completions = choices
        .into_iter()
        .map(|choice| {
            let tool_calls = choice
                .message
                .tool_calls
                .unwrap_or_default()
                .iter()
                .map(|call| ToolCall::from_value(call).map_err(|e| format!("a tool call: {e}")))
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Completion {
                text: content_text(choice.message.content)?,
                finish_reason: choice.finish_reason.map(|r| finish_reason(&r)),
                tool_calls,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let usage = response.usage.map_or_else(Usage::default, |u| Usage {
        prompt_tokens: u.prompt_tokens.unwrap_or(0),
        completion_tokens: u.completion_tokens.unwrap_or(0),
    });
    let model = response.model.filter(|m| !m.is_empty()).unwrap_or_else(|| requested_model.to_string());
    Ok(LmResponse::new(completions, usage, model))
}

/// `message.content`: a string, `null` (empty), or text parts.
fn content_text(content: Option<Value>) -> Result<String, String> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s),
        Some(Value::Array(parts)) => Ok(parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect()),
        Some(other) => Err(format!("message.content is neither text nor null: {other}")),
    }
}

/// OpenAI's `finish_reason`.
pub(crate) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        other => FinishReason::Other(other.to_string()),
    }
}

/// The embeddings body (float vectors).
pub(crate) fn embeddings_body(model: &str, inputs: &[String]) -> Value {
    json!({"model": model, "input": inputs, "encoding_format": "float"})
}

#[derive(Deserialize)]
struct EmbeddingList {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

/// Read an embeddings response: one vector per input, in input order.
pub(crate) fn parse_embeddings(body: Value, expected: usize) -> Result<Vec<Vec<f32>>, String> {
    let list: EmbeddingList = serde_json::from_value(body).map_err(|e| format!("not an embedding list: {e}"))?;
    if list.data.len() != expected {
        return Err(format!("{} embeddings for {expected} inputs", list.data.len()));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
    for (position, item) in list.data.into_iter().enumerate() {
        let index = item.index.unwrap_or(position);
        match slots.get_mut(index) {
            Some(slot @ None) => *slot = Some(item.embedding),
            _ => return Err(format!("embedding index {index} is out of range or repeated")),
        }
    }
    Ok(slots.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_core::Message;

    #[test]
    fn reasoning_models_follow_dspy() {
        for yes in ["o1", "o1-mini", "o3-pro", "o4-mini", "o3-2025-04-16", "o4-mini-2025-04-16", "gpt-5", "gpt-5-mini"]
        {
            assert!(is_reasoning_model(yes), "{yes}");
        }
        assert!(is_reasoning_model("openai/gpt-5-nano") && is_reasoning_model("O3"));
        for no in ["gpt-4o", "gpt-4o-mini", "gpt-5-chat", "gpt-5-chat-latest", "o2", "o3-preview", "gpt-5.1", "omni"] {
            assert!(!is_reasoning_model(no), "{no}");
        }
    }

    #[test]
    fn structured_outputs_models() {
        for yes in ["gpt-4o-mini", "gpt-4.1", "gpt-5", "o3-mini"] {
            assert!(openai_supports_structured_outputs(yes), "{yes}");
        }
        for no in ["gpt-3.5-turbo", "gpt-4", "llama3", "omni"] {
            assert!(!openai_supports_structured_outputs(no), "{no}");
        }
    }

    #[test]
    fn bodies_carry_only_what_is_set() {
        let mut request = LmRequest::new(vec![Message::system("be brief"), Message::user("hi")]);
        request.rollout_id = Some(7);
        assert_eq!(
            chat_body("gpt-4o-mini", &request),
            json!({"model": "gpt-4o-mini", "messages": [
                {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]})
        );
        request.n = 3;
        request.temperature = Some(0.5);
        request.max_tokens = Some(100);
        request.stop = vec!["\n\n".into()];
        request.response_format = Some(json!({"type": "json_object"}));
        let body = chat_body("gpt-4o-mini", &request);
        assert_eq!(body["n"], 3);
        assert_eq!(body["temperature"], 0.5);
        assert_eq!(body["max_tokens"], 100);
        assert_eq!(body["stop"], json!(["\n\n"]));
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        assert!(body.get("rollout_id").is_none());
        let reasoning = chat_body("o3-mini", &request);
        assert_eq!(reasoning["max_completion_tokens"], 100);
        assert!(reasoning.get("max_tokens").is_none());
    }

    #[test]
    fn responses_become_completions() {
        let body = json!({"model": "gpt-4o-mini-2024-07-18", "choices": [
            {"index": 1, "message": {"role": "assistant", "content": null}, "finish_reason": "length"},
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}});
        let r = parse_chat_response("gpt-4o-mini", body).unwrap();
        assert_eq!(r.completions, vec![Completion::stop("hi"), Completion::new("", Some(FinishReason::Length))]);
        assert_eq!((r.usage.prompt_tokens, r.usage.completion_tokens), (5, 2));
        assert_eq!(r.model, "gpt-4o-mini-2024-07-18");
        let bare = parse_chat_response("m", json!({"choices": []})).unwrap();
        assert_eq!((bare.model.as_str(), bare.completions.len()), ("m", 0));
        assert!(parse_chat_response("m", json!({"id": "x"})).is_err());
        assert!(parse_chat_response("m", json!({"error": {"message": "boom"}})).unwrap_err().contains("boom"));
        assert_eq!(finish_reason("tool_calls"), FinishReason::ToolCalls);
        assert_eq!(finish_reason("eos"), FinishReason::Other("eos".into()));
    }

    #[test]
    fn images_become_parts_and_tools_round_trip() {
        let image = kestrel_core::Image::from_url("https://e.com/a.png").unwrap();
        let mut request = LmRequest::new(vec![
            Message::system("s"),
            Message::user(format!("look: {}", image.marked_text())),
            Message::assistant("plain"),
        ]);
        request.tools = vec![json!({"type": "function", "function": {"name": "f", "parameters": {}}})];
        let body = chat_body("m", &request);
        assert_eq!(body["messages"][0]["content"], "s");
        assert_eq!(
            body["messages"][1]["content"],
            json!([{"type": "text", "text": "look: "}, {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}}])
        );
        assert_eq!(body["messages"][2]["content"], "plain");
        assert_eq!(body["tools"], json!(request.tools));
        let reply = json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"content": null,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 2}"}}]}}]});
        let r = parse_chat_response("m", reply).unwrap();
        assert_eq!(r.completions[0].tool_calls[0].name, "f");
        assert_eq!(r.completions[0].tool_calls[0].args["x"], 2);
        assert_eq!(r.completions[0].finish_reason, Some(FinishReason::ToolCalls));
        let broken = json!({"choices": [{"message": {"tool_calls": [{"function": {"arguments": "{}"}}]}}]});
        assert!(parse_chat_response("m", broken).is_err());
    }

    #[test]
    fn embeddings_come_back_in_input_order() {
        let body = json!({"data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}]});
        assert_eq!(parse_embeddings(body, 2).unwrap(), vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert!(parse_embeddings(json!({"data": [{"embedding": [1.0]}]}), 2).is_err());
        let repeated = json!({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]}]});
        assert!(parse_embeddings(repeated, 2).is_err());
        assert_eq!(
            embeddings_body("m", &["a".into()]),
            json!({"model": "m", "input": ["a"], "encoding_format": "float"})
        );
    }
}
