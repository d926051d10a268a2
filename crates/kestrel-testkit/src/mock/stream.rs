//! Streamed answers (`"stream": true`): OpenAI's `chat.completion.chunk`
//! events ending in `data: [DONE]` (usage in a last chunk when the request
//! asked for `stream_options.include_usage`), Anthropic's `message_start` …
//! `message_stop` events. The reply text is cut by the server's
//! [`StreamChunking`] and the events are sent one by one with its delay.
//!
//! Faults apply mid-stream: [`Fault::StreamCut`] (and a
//! [`Fault::TruncatedBody`]) sends some content chunks, then cuts the
//! connection; [`Fault::StreamMalformed`] (and a [`Fault::MalformedBody`])
//! sends an event whose data is not JSON; [`Fault::MissingFields`] an event
//! without the fields the format requires. Every stream is counted as
//! started, then completed or cancelled (the client went away before the
//! end), so tests can check that dropping a stream closes the connection.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use kestrel_lm::LmRequest;
use serde_json::{Value, json};

use super::faults::Fault;
use super::state::Shared;
use super::wire::{Flavor, JsonReply, unix_now, words};

/// How long a cut stream pauses before the cut, so the events before it
/// leave the server's buffers.
const CUT_PAUSE: Duration = Duration::from_millis(20);

/// How the server cuts a streamed reply: into pieces of a few characters
/// (default 4), or by any function; and how long it waits between events
/// (default none).
#[derive(Clone)]
pub struct StreamChunking {
    split: Split,
    delay: Duration,
}

#[derive(Clone)]
enum Split {
    Chars(usize),
    Custom(Arc<SplitFn>),
}

/// A custom way to cut a reply.
type SplitFn = dyn Fn(&str) -> Vec<String> + Send + Sync;

impl StreamChunking {
    /// Pieces of `n` characters (at least 1).
    pub fn chars(n: usize) -> Self {
        Self { split: Split::Chars(n.max(1)), delay: Duration::ZERO }
    }

    /// Pieces chosen by `split` (their concatenation should be the text).
    pub fn custom(split: impl Fn(&str) -> Vec<String> + Send + Sync + 'static) -> Self {
        Self { split: Split::Custom(Arc::new(split)), delay: Duration::ZERO }
    }

    /// Exactly these pieces, whatever the reply (a test's fixed chunking).
    pub fn pieces<S: Into<String>>(pieces: impl IntoIterator<Item = S>) -> Self {
        let pieces: Vec<String> = pieces.into_iter().map(Into::into).collect();
        Self::custom(move |_| pieces.clone())
    }

    /// Builder: wait this long before each event.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The pieces of `text`.
    pub fn split(&self, text: &str) -> Vec<String> {
        match &self.split {
            Split::Chars(n) => {
                let chars: Vec<char> = text.chars().collect();
                chars.chunks(*n).map(|c| c.iter().collect()).collect()
            }
            Split::Custom(f) => f(text),
        }
    }
}

impl Default for StreamChunking {
    fn default() -> Self {
        Self::chars(4)
    }
}

impl fmt::Debug for StreamChunking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let split = match &self.split {
            Split::Chars(n) => format!("chars({n})"),
            Split::Custom(_) => "custom".to_string(),
        };
        f.debug_struct("StreamChunking").field("split", &split).field("delay", &self.delay).finish()
    }
}

/// True when the body asks for a streamed answer.
pub(super) fn wants_stream(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool) == Some(true)
}

/// What goes wrong mid-stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MidFault {
    Cut(usize),
    Malformed(usize),
    MissingFields,
}

/// The streamed answer to a chat-completions (`flavor` OpenAI) or messages
/// (Anthropic) request, or the 500 naming why the responder has none.
pub(super) fn respond(
    shared: &Arc<Shared>,
    flavor: Flavor,
    model: &str,
    request: &LmRequest,
    body: &Value,
    fault: Option<Fault>,
) -> Result<Response<Body>, JsonReply> {
    let n = if flavor == Flavor::Anthropic { 1 } else { request.n };
    let texts = (0..n)
        .map(|i| shared.reply_for_model(flavor, model, request, i).map(|r| r.text))
        .collect::<Result<Vec<_>, _>>()?;
    let chunking = shared.stream_chunking();
    let pieces: Vec<Vec<String>> = texts.iter().map(|t| chunking.split(t)).collect();
    let total: usize = pieces.iter().map(Vec::len).sum();
    let mid = match fault {
        Some(Fault::StreamCut { after_chunks }) => Some(MidFault::Cut(after_chunks)),
        Some(Fault::StreamMalformed { after_chunks }) => Some(MidFault::Malformed(after_chunks)),
        Some(Fault::MissingFields) => Some(MidFault::MissingFields),
        Some(Fault::TruncatedBody) => Some(MidFault::Cut(total / 2)),
        Some(Fault::MalformedBody) => Some(MidFault::Malformed(1)),
        _ => None,
    };
    let prompt_tokens: u64 = request.messages.iter().map(|m| words(&m.content)).sum();
    let completion_tokens: u64 = texts.iter().map(|t| words(t)).sum();
    let id = shared.next_id();
    let frames = match flavor {
        Flavor::OpenAi => {
            let usage =
                body.get("stream_options").and_then(|o| o.get("include_usage")).and_then(Value::as_bool) == Some(true);
            let usage = usage.then_some((prompt_tokens, completion_tokens));
            openai_frames(id, model, &pieces, usage, mid)
        }
        Flavor::Anthropic => anthropic_frames(id, model, &pieces[0], prompt_tokens, completion_tokens, mid),
    };
    Ok(event_stream(shared, frames, chunking.delay))
}

/// One frame to send: an event's bytes, or the connection cut.
enum Frame {
    Event(String),
    Cut,
}

fn data(value: &Value) -> Frame {
    Frame::Event(format!("data: {value}\n\n"))
}

fn named(event: &str, value: &Value) -> Frame {
    Frame::Event(format!("event: {event}\ndata: {value}\n\n"))
}

/// Content frames with a mid-stream fault inserted after the right number.
fn with_fault(content: Vec<Frame>, mid: Option<MidFault>, malformed: Frame) -> (Vec<Frame>, bool) {
    match mid {
        Some(MidFault::Cut(k)) => {
            let mut frames: Vec<Frame> = content.into_iter().take(k).collect();
            frames.push(Frame::Cut);
            (frames, true)
        }
        Some(MidFault::Malformed(k)) => {
            let mut frames: Vec<Frame> = content.into_iter().take(k).collect();
            frames.push(malformed);
            (frames, false)
        }
        _ => (content, false),
    }
}

fn openai_frames(
    id: u64,
    model: &str,
    pieces: &[Vec<String>],
    usage: Option<(u64, u64)>,
    mid: Option<MidFault>,
) -> Vec<Frame> {
    let chunk = |choices: Value| {
        json!({
            "id": format!("chatcmpl-mock{id}"), "object": "chat.completion.chunk", "created": unix_now(),
            "model": model, "system_fingerprint": null, "choices": choices,
        })
    };
    let mut frames: Vec<Frame> = (0..pieces.len())
        .map(|i| {
            let delta = json!({"role": "assistant", "content": ""});
            data(&chunk(json!([{"index": i, "delta": delta, "logprobs": null, "finish_reason": null}])))
        })
        .collect();
    if mid == Some(MidFault::MissingFields) {
        frames.push(data(&json!({"id": format!("chatcmpl-mock{id}"), "object": "chat.completion.chunk"})));
        frames.push(Frame::Event("data: [DONE]\n\n".to_string()));
        return frames;
    }
    // Choices' pieces interleaved: piece 0 of every choice, then piece 1...
    let longest = pieces.iter().map(Vec::len).max().unwrap_or(0);
    let content: Vec<Frame> = (0..longest)
        .flat_map(|k| pieces.iter().enumerate().filter_map(move |(i, p)| Some((i, p.get(k)?))))
        .map(|(i, piece)| {
            let delta = json!({"content": piece});
            data(&chunk(json!([{"index": i, "delta": delta, "logprobs": null, "finish_reason": null}])))
        })
        .collect();
    let malformed = Frame::Event("data: {\"id\": \"chatcmpl-broken\", \"choices\": [{\"delta\n\n".to_string());
    let (content, cut) = with_fault(content, mid, malformed);
    let stops = matches!(mid, Some(MidFault::Malformed(_)));
    frames.extend(content);
    if cut || stops {
        return frames;
    }
    for i in 0..pieces.len() {
        frames.push(data(&chunk(json!([{"index": i, "delta": {}, "logprobs": null, "finish_reason": "stop"}]))));
    }
    if let Some((prompt, completion)) = usage {
        let mut last = chunk(json!([]));
        last["usage"] =
            json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
        frames.push(data(&last));
    }
    frames.push(Frame::Event("data: [DONE]\n\n".to_string()));
    frames
}

fn anthropic_frames(
    id: u64,
    model: &str,
    pieces: &[String],
    input_tokens: u64,
    output_tokens: u64,
    mid: Option<MidFault>,
) -> Vec<Frame> {
    let start = json!({"type": "message_start", "message": {
        "id": format!("msg_mock{id}"), "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }});
    let mut frames = vec![named("message_start", &start)];
    if mid == Some(MidFault::MissingFields) {
        frames.push(named("message_stop", &json!({})));
        return frames;
    }
    let block = json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}});
    frames.push(named("content_block_start", &block));
    frames.push(named("ping", &json!({"type": "ping"})));
    let content: Vec<Frame> = pieces
        .iter()
        .map(|piece| {
            let delta =
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}});
            named("content_block_delta", &delta)
        })
        .collect();
    let malformed = Frame::Event("event: content_block_delta\ndata: {\"type\": \"content_block_del\n\n".to_string());
    let (content, cut) = with_fault(content, mid, malformed);
    let stops = matches!(mid, Some(MidFault::Malformed(_)));
    frames.extend(content);
    if cut || stops {
        return frames;
    }
    frames.push(named("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
    let delta = json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
        "usage": {"output_tokens": output_tokens}});
    frames.push(named("message_delta", &delta));
    frames.push(named("message_stop", &json!({"type": "message_stop"})));
    frames
}

/// Counts a stream as completed when it sent everything, else as
/// cancelled when dropped (the client went away; hyper drops the body).
struct StreamGuard {
    shared: Arc<Shared>,
    done: bool,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if !self.done {
            self.shared.stream_cancelled();
        }
    }
}

/// A `text/event-stream` response sending `frames`, `delay` before each.
fn event_stream(shared: &Arc<Shared>, frames: Vec<Frame>, delay: Duration) -> Response<Body> {
    shared.stream_started();
    let guard = StreamGuard { shared: Arc::clone(shared), done: false };
    let state = (frames.into_iter(), guard);
    let body = futures::stream::unfold(state, move |(mut frames, mut guard)| async move {
        let Some(frame) = frames.next() else {
            // Not after a cut (already counted as done).
            if !guard.done {
                guard.done = true;
                guard.shared.stream_completed();
            }
            return None;
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match frame {
            Frame::Event(text) => Some((Ok(Bytes::from(text)), (frames, guard))),
            Frame::Cut => {
                // Let what was written reach the client before the cut.
                tokio::time::sleep(CUT_PAUSE).await;
                guard.done = true;
                let cut = io::Error::new(io::ErrorKind::ConnectionAborted, "mock server fault: stream cut");
                Some((Err(cut), (Vec::new().into_iter(), guard)))
            }
        }
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
