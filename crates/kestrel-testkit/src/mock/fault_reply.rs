//! The responses faults produce: error statuses with `Retry-After`, the
//! context-window error, truncated, malformed and incomplete bodies.

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures::StreamExt;
use hyper::header::{CONTENT_LENGTH, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::json;

use super::faults::StatusFault;
use super::routes::Route;
use super::wire::{Flavor, JsonReply, error, error_body, json_response, raw_response, unix_now};

/// How long a truncated body pauses after its first half, so the head and
/// that half reach the client before the connection is cut.
const TRUNCATE_PAUSE: Duration = Duration::from_millis(20);

/// A body that is not JSON: it breaks off inside a string.
const MALFORMED: &str = r#"{"id": "mock-malformed", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "this JSON never ends"#;

/// An error status with the route's error body and any `Retry-After`.
pub(super) fn status(flavor: Flavor, fault: &StatusFault) -> Response<Body> {
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = error_body(flavor, status, &fault.message_text());
    if let (Flavor::OpenAi, Some(code)) = (flavor, &fault.code) {
        body["error"]["code"] = json!(code);
    }
    let mut response = json_response((status, body));
    let headers = response.headers_mut();
    if let Some(value) = fault.retry_after.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert("retry-after", value);
    }
    if let Some(ms) = fault.retry_after_ms {
        headers.insert("retry-after-ms", HeaderValue::from(ms));
    }
    response
}

/// A 400 saying the prompt is longer than the context window.
pub(super) fn context_window(flavor: Flavor) -> Response<Body> {
    let reply = match flavor {
        Flavor::OpenAi => {
            let message = "This model's maximum context length is 128000 tokens. However, your messages resulted in \
                           130000 tokens. Please reduce the length of the messages.";
            let mut reply = error(flavor, StatusCode::BAD_REQUEST, message);
            reply.1["error"]["param"] = json!("messages");
            reply.1["error"]["code"] = json!("context_length_exceeded");
            reply
        }
        Flavor::Anthropic => {
            error(flavor, StatusCode::BAD_REQUEST, "prompt is too long: 210000 tokens > 200000 maximum")
        }
    };
    json_response(reply)
}

/// `reply` with `Content-Length` of the whole body, of which only the first
/// half is sent before the connection is cut.
pub(super) fn truncated((status, body): JsonReply) -> Response<Body> {
    let bytes = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    let total = bytes.len();
    let head = bytes.slice(..total / 2);
    let stream = futures::stream::once(async move { Ok::<_, io::Error>(head) }).chain(futures::stream::once(async {
        tokio::time::sleep(TRUNCATE_PAUSE).await;
        Err(io::Error::new(io::ErrorKind::ConnectionAborted, "mock server fault: body truncated"))
    }));
    let mut response = raw_response(status, Body::from_stream(stream));
    response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(total));
    response
}

/// `200 OK` with a body that is not JSON.
pub(super) fn malformed() -> Response<Body> {
    raw_response(StatusCode::OK, MALFORMED)
}

/// `200 OK` with JSON lacking the route's required fields.
pub(super) fn missing_fields(route: Route, model: Option<String>, id: u64) -> Response<Body> {
    let model = model.unwrap_or_default();
    let body = match route {
        Route::ChatCompletions => {
            json!({"id": format!("chatcmpl-mock{id}"), "object": "chat.completion", "created": unix_now(), "model": model})
        }
        Route::Messages => {
            json!({"id": format!("msg_mock{id}"), "type": "message", "role": "assistant", "model": model})
        }
        Route::Embeddings => json!({"object": "list", "model": model}),
        Route::Models => json!({"object": "list"}),
        Route::ColbertSearch | Route::ColbertSearchPost => json!({"query": ""}),
        Route::FilesUpload | Route::FileDelete => json!({"object": "file"}),
        Route::FineTuningJobCreate
        | Route::FineTuningJobRetrieve
        | Route::FineTuningJobEvents
        | Route::FineTuningJobCancel => json!({"object": "fine_tuning.job"}),
    };
    json_response((StatusCode::OK, body))
}
