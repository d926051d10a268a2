//! Wire helpers shared by the OpenAI and Anthropic routes: JSON responses,
//! provider-style error bodies, message content as text, token counting.

use axum::body::Body;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

/// Which provider's wire format a route speaks (for error bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    /// `{"error": {"message", "type", "param", "code"}}`.
    OpenAi,
    /// `{"type": "error", "error": {"type", "message"}}`.
    Anthropic,
}

/// A reply a route computed: status and JSON body.
pub(super) type JsonReply = (StatusCode, Value);

/// A `200 OK` JSON reply.
pub(super) fn ok(body: Value) -> JsonReply {
    (StatusCode::OK, body)
}

/// A provider-style error reply.
pub(super) fn error(flavor: Flavor, status: StatusCode, message: &str) -> JsonReply {
    (status, error_body(flavor, status, message))
}

/// The error body a provider of `flavor` sends with `status`.
pub(super) fn error_body(flavor: Flavor, status: StatusCode, message: &str) -> Value {
    match flavor {
        Flavor::OpenAi => {
            let (kind, code) = match status.as_u16() {
                401 => ("invalid_request_error", Value::from("invalid_api_key")),
                403 => ("permission_error", Value::Null),
                429 => ("requests", Value::from("rate_limit_exceeded")),
                s if s >= 500 => ("server_error", Value::Null),
                _ => ("invalid_request_error", Value::Null),
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Flavor::Anthropic => {
            let kind = match status.as_u16() {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                s if s >= 500 => "api_error",
                _ => "invalid_request_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
    }
}

/// Serialize `body` as an `application/json` response.
pub(super) fn json_response((status, body): JsonReply) -> Response<Body> {
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    raw_response(status, bytes)
}

/// A response with these exact body bytes, labelled `application/json`.
pub(super) fn raw_response(status: StatusCode, bytes: impl Into<Body>) -> Response<Body> {
    let mut response = Response::new(bytes.into());
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Message content as text: a string, `null` (empty), or a list of
/// `{"type": "text", "text": ...}` parts joined by newlines (other part
/// types, such as images, are skipped).
pub(super) fn content_text(content: &Value) -> Result<String, String> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .map(|p| p.get("text").and_then(Value::as_str).ok_or("a text part has no string `text`"))
                .collect::<Result<_, _>>()?;
            Ok(texts.join("\n"))
        }
        other => Err(format!("message content must be a string or a list of parts, got {other}")),
    }
}

/// Whitespace-separated words: the mock's token count (as [`crate::ScriptedLm`]).
pub(super) fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The required string field `key` of a request body.
pub(super) fn required_str<'a>(body: &'a Value, key: &str) -> Result<&'a str, String> {
    body.get(key).and_then(Value::as_str).ok_or_else(|| format!("you must provide a string `{key}` parameter"))
}

/// The optional non-negative integer field `key`, if it fits a `u32`.
pub(super) fn optional_u32(body: &Value, key: &str) -> Result<Option<u32>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be a non-negative integer, got {v}")),
    }
}

/// The optional number field `key` as `f32`.
pub(super) fn optional_f32(body: &Value, key: &str) -> Result<Option<f32>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(|x| Some(x as f32)).ok_or_else(|| format!("`{key}` must be a number, got {v}")),
    }
}

/// A string or a list of strings (`stop`, `stop_sequences`); absent or
/// `null` is empty.
pub(super) fn string_list(body: &Value, key: &str) -> Result<Vec<String>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| format!("`{key}` must hold strings, got {i}")))
            .collect(),
        Some(other) => Err(format!("`{key}` must be a string or a list of strings, got {other}")),
    }
}

/// Seconds since the Unix epoch (the `created` field).
pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
