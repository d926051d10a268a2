//! Streamed Messages API calls (`"stream": true`): `message_start` (model,
//! input tokens), `content_block_delta` with `text_delta`s (sent to the sink
//! as they arrive), `message_delta` (stop reason, output tokens),
//! `message_stop`; `ping` is skipped and an `error` event is the error it
//! names (`overloaded_error` a 529, `rate_limit_error` a 429...).

use kestrel_core::Usage;
use serde_json::Value;

use super::anthropic_wire::stop_reason;
use super::event_stream::{EventReader, event_json};
use super::http_errors::status_error;
use crate::error::LmError;
use crate::request::{Completion, LmResponse};
use crate::stream::DeltaSink;

/// Read one streamed message as completion `choice`, sending its text
/// deltas to `sink`.
pub(crate) async fn read_message_stream(
    mut reader: EventReader,
    requested_model: &str,
    model_id: &str,
    choice: u32,
    sink: &DeltaSink,
) -> Result<LmResponse, LmError> {
    let mut text = String::new();
    let mut usage = Usage::default();
    let mut finish = None;
    let mut model = None;
    loop {
        let Some(event) = reader.next().await? else { return Err(reader.unfinished("`message_stop`")) };
        let data = event_json(&reader, &event)?;
        let Some(kind) = data.get("type").and_then(Value::as_str) else {
            return Err(reader.bad(format!("a `{}` event has no `type`: {data}", event.event)));
        };
        let count = |v: &Value, k: &str| v.get("usage").and_then(|u| u.get(k)).and_then(Value::as_u64);
        match kind {
            "message_start" => {
                let message = data.get("message").unwrap_or(&Value::Null);
                model = message.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()).map(str::to_string);
                let input = ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]
                    .iter()
                    .filter_map(|k| count(message, k))
                    .fold(0u64, u64::saturating_add);
                usage.prompt_tokens = input;
                usage.completion_tokens = count(message, "output_tokens").unwrap_or(0);
            }
            "content_block_delta" => {
                let delta = data.get("delta").unwrap_or(&Value::Null);
                if delta.get("type").and_then(Value::as_str) == Some("text_delta")
                    && let Some(piece) = delta.get("text").and_then(Value::as_str)
                {
                    text.push_str(piece);
                    sink.send(choice, piece).await;
                }
            }
            "message_delta" => {
                if let Some(reason) = data.get("delta").and_then(|d| d.get("stop_reason")).and_then(Value::as_str) {
                    finish = Some(stop_reason(reason));
                }
                if let Some(out) = count(&data, "output_tokens") {
                    usage.completion_tokens = out;
                }
            }
            "message_stop" => break,
            "error" => return Err(stream_error(model_id, &data)),
            _ => {}
        }
    }
    let model = model.unwrap_or_else(|| requested_model.to_string());
    Ok(LmResponse::new(vec![Completion { text, finish_reason: finish, tool_calls: Vec::new() }], usage, model))
}

/// The error an `error` event names, mapped as its HTTP status would be.
fn stream_error(model: &str, data: &Value) -> LmError {
    let status = match data.get("error").and_then(|e| e.get("type")).and_then(Value::as_str) {
        Some("overloaded_error") => 529,
        Some("rate_limit_error") => 429,
        Some("api_error") => 500,
        Some("authentication_error") => 401,
        Some("permission_error") => 403,
        Some("request_too_large") => 413,
        Some("not_found_error") => 404,
        Some("invalid_request_error") => 400,
        _ => 500,
    };
    status_error(model, status, None, &data.to_string())
}
