//! Streamed chat completions (`"stream": true`): the body of
//! [`super::openai_wire::chat_body`] plus `stream_options.include_usage`,
//! answered with `chat.completion.chunk` events (`choices[i].delta.content`,
//! `finish_reason`, usage in a last chunk with no choices) and
//! `data: [DONE]`. Each content delta goes to the sink as it arrives.

use serde_json::{Value, json};

use super::event_stream::{EventReader, event_json};
use super::openai_wire::{chat_body, finish_reason};
use crate::error::LmError;
use crate::request::{Completion, LmRequest, LmResponse};
use crate::stream::DeltaSink;
use kestrel_core::Usage;

/// The streamed request's body.
pub(crate) fn stream_body(model: &str, request: &LmRequest) -> Value {
    let mut body = chat_body(model, request);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body
}

/// Read the events of a streamed chat completion, sending deltas to `sink`.
pub(crate) async fn read_chat_stream(
    mut reader: EventReader,
    requested_model: &str,
    model_id: &str,
    sink: &DeltaSink,
) -> Result<LmResponse, LmError> {
    let mut texts: Vec<String> = Vec::new();
    let mut reasons = Vec::new();
    let mut usage = Usage::default();
    let mut model = None;
    loop {
        let Some(event) = reader.next().await? else { return Err(reader.unfinished("`data: [DONE]`")) };
        if event.data.trim() == "[DONE]" {
            break;
        }
        let chunk = event_json(&reader, &event)?;
        if let Some(error) = chunk.get("error") {
            return Err(LmError::Provider {
                model: model_id.to_string(),
                message: format!("error in the stream: {error}"),
            });
        }
        if let Some(m) = chunk.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()) {
            model = Some(m.to_string());
        }
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            let count = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
            usage = Usage { prompt_tokens: count("prompt_tokens"), completion_tokens: count("completion_tokens") };
        }
        let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
            return Err(reader.bad(format!("a chunk has no `choices` list: {chunk}")));
        };
        for choice in choices {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            let Ok(i) = usize::try_from(index) else { continue };
            if i >= 128 {
                return Err(reader.bad(format!("choice index {index} is out of range")));
            }
            if texts.len() <= i {
                texts.resize(i + 1, String::new());
                reasons.resize(i + 1, None);
            }
            let delta = choice.get("delta");
            if let Some(text) = delta.and_then(|d| d.get("content")).and_then(Value::as_str) {
                texts[i].push_str(text);
                sink.send(i as u32, text).await;
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                reasons[i] = Some(finish_reason(reason));
            }
        }
    }
    if texts.is_empty() {
        return Err(LmError::EmptyResponse { model: model_id.to_string() });
    }
    let completions = texts
        .into_iter()
        .zip(reasons)
        .map(|(text, finish_reason)| Completion { text, finish_reason, tool_calls: Vec::new() })
        .collect();
    Ok(LmResponse::new(completions, usage, model.unwrap_or_else(|| requested_model.to_string())))
}
