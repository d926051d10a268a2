//! Fault injection: what can go wrong with one response ([`Fault`],
//! [`StatusFault`]) and the queue the server takes them from
//! ([`FaultQueue`]): FIFO faults for the next requests (any route or a named
//! one), then an optional fault for every request, then an optional
//! [`FaultPlan`] deciding per request (random faults at a rate, for soaks).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kestrel_lm::LmRequest;

use super::routes::Route;

/// A function choosing the fault (or none) for each request no queued fault
/// or always-fault claims: it gets the request's arrival number (0-based,
/// counting every request the server received) and, for chat completions
/// and Anthropic messages that parsed, the [`LmRequest`]. Set with
/// [`super::MockServer::set_fault_plan`]. It runs on the server's tasks, so
/// it must be cheap; it may count what it sees.
#[derive(Clone)]
pub struct FaultPlan(Arc<PlanFn>);

/// The function behind a [`FaultPlan`].
type PlanFn = dyn Fn(u64, Option<&LmRequest>) -> Option<Fault> + Send + Sync;

impl FaultPlan {
    /// A plan from any function of `(arrival number, request)`.
    pub fn new(plan: impl Fn(u64, Option<&LmRequest>) -> Option<Fault> + Send + Sync + 'static) -> Self {
        Self(Arc::new(plan))
    }

    fn decide(&self, seq: u64, request: Option<&LmRequest>) -> Option<Fault> {
        (self.0)(seq, request)
    }
}

impl fmt::Debug for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FaultPlan(..)")
    }
}

/// One thing that goes wrong with a response.
///
/// Which faults ask the responder for a reply: [`Fault::Delay`] (answers
/// normally after the wait) and [`Fault::TruncatedBody`] (cuts the normal
/// answer). The others answer without it, so a scripted sequence is not
/// advanced by a failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// An HTTP error status with a provider-shaped error body (OpenAI's for
    /// `/v1/chat/completions`, `/v1/embeddings` and `/v1/models`,
    /// Anthropic's for `/v1/messages`), optionally with `Retry-After` /
    /// `retry-after-ms`.
    Status(StatusFault),
    /// A 400 saying the prompt exceeds the context window, worded as the
    /// route's provider words it (OpenAI: code `context_length_exceeded`;
    /// Anthropic: "prompt is too long").
    ContextWindowExceeded,
    /// Wait this long (on top of the server's latency), then answer
    /// normally: longer than a client's timeout, it makes the client time
    /// out.
    Delay(Duration),
    /// Read the request, then close the connection without a response.
    DropConnection,
    /// `200 OK` with `Content-Length` of the full answer, but only its
    /// first half is sent before the connection is closed.
    TruncatedBody,
    /// `200 OK` whose body is not valid JSON.
    MalformedBody,
    /// `200 OK` with valid JSON that lacks the fields the provider requires
    /// (`choices`, `content`, `data`); in a stream, an event without them.
    MissingFields,
    /// A streamed answer sends this many content chunks, then the
    /// connection is cut (a non-streamed answer is cut like
    /// [`Fault::TruncatedBody`]). A streamed `TruncatedBody` cuts after half
    /// the chunks.
    StreamCut {
        /// Content chunks sent before the cut.
        after_chunks: usize,
    },
    /// A streamed answer sends this many content chunks, then an event whose
    /// data is not JSON, then nothing more (a non-streamed answer gets
    /// [`Fault::MalformedBody`]). A streamed `MalformedBody` breaks after one
    /// chunk.
    StreamMalformed {
        /// Content chunks sent before the bad event.
        after_chunks: usize,
    },
}

impl Fault {
    /// An error status (`Fault::status(429).retry_after_ms(50)`); convert
    /// with `.into()` or pass to [`super::MockServer::push_fault`] directly.
    pub fn status(status: u16) -> StatusFault {
        StatusFault { status, message: None, code: None, retry_after: None, retry_after_ms: None }
    }
}

/// An error status fault. Build with [`Fault::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFault {
    /// The HTTP status (an invalid one, outside 100..=999, is sent as 500).
    pub status: u16,
    /// The error message (default: a typical message for the status).
    pub message: Option<String>,
    /// OpenAI's `error.code` (such as `insufficient_quota`); OpenAI-shaped
    /// bodies only.
    pub code: Option<String>,
    /// The `Retry-After` header value, sent as is (seconds or an HTTP-date).
    pub retry_after: Option<String>,
    /// The `retry-after-ms` header (OpenAI's), in milliseconds.
    pub retry_after_ms: Option<u64>,
}

impl StatusFault {
    /// Builder: the error message.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Builder: OpenAI's `error.code`.
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Builder: `Retry-After: <seconds>`.
    pub fn retry_after_secs(self, seconds: u64) -> Self {
        self.retry_after(seconds.to_string())
    }

    /// Builder: a raw `Retry-After` value (`"0.25"`, an HTTP-date...).
    pub fn retry_after(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }

    /// Builder: `retry-after-ms: <milliseconds>`.
    pub fn retry_after_ms(mut self, millis: u64) -> Self {
        self.retry_after_ms = Some(millis);
        self
    }

    /// The message sent: the one set, else a typical one for the status.
    pub(super) fn message_text(&self) -> String {
        if let Some(message) = &self.message {
            return message.clone();
        }
        let typical = match self.status {
            400 => "Invalid request",
            401 => "Incorrect API key provided",
            403 => "You are not allowed to use this model",
            404 => "The model does not exist",
            408 => "Request timed out",
            429 => "Rate limit reached for requests",
            500 => "The server had an error while processing your request",
            502 => "Bad gateway",
            503 => "The engine is currently overloaded, please try again later",
            529 => "Overloaded",
            _ => return format!("HTTP {} (mock server fault)", self.status),
        };
        format!("{typical} (mock server fault)")
    }
}

impl From<StatusFault> for Fault {
    fn from(status: StatusFault) -> Self {
        Fault::Status(status)
    }
}

/// The faults waiting for requests.
#[derive(Debug, Default)]
pub(super) struct FaultQueue {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// `(route or any, fault)`, oldest first.
    queue: VecDeque<(Option<Route>, Fault)>,
    /// Applied to every request no queued fault claims.
    always: Option<Fault>,
    /// Asked when neither a queued fault nor `always` applies.
    plan: Option<FaultPlan>,
}

impl FaultQueue {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue `fault` for the next request to `route` (any route if `None`).
    pub(super) fn push(&self, route: Option<Route>, fault: Fault) {
        self.state().queue.push_back((route, fault));
    }

    /// Set or clear the fault for every request.
    pub(super) fn set_always(&self, fault: Option<Fault>) {
        self.state().always = fault;
    }

    /// Set or clear the fault plan.
    pub(super) fn set_plan(&self, plan: Option<FaultPlan>) {
        self.state().plan = plan;
    }

    /// Drop every queued fault, the always-fault and the plan.
    pub(super) fn clear(&self) {
        let mut state = self.state();
        state.queue.clear();
        state.always = None;
        state.plan = None;
    }

    /// Queued faults not yet used.
    pub(super) fn pending(&self) -> usize {
        self.state().queue.len()
    }

    /// The fault for request number `seq` to `route`: the oldest queued one
    /// for this route or any route (removed), else the always-fault, else
    /// the plan's choice (asked outside the lock).
    pub(super) fn take(&self, route: Route, seq: u64, request: Option<&LmRequest>) -> Option<Fault> {
        let plan = {
            let mut state = self.state();
            if let Some(i) = state.queue.iter().position(|(r, _)| r.is_none_or(|r| r == route)) {
                return state.queue.remove(i).map(|(_, fault)| fault);
            }
            if state.always.is_some() {
                return state.always.clone();
            }
            state.plan.clone()
        };
        plan.and_then(|plan| plan.decide(seq, request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_faults_are_taken_in_order_and_by_route() {
        let queue = FaultQueue::default();
        queue.push(Some(Route::Messages), Fault::DropConnection);
        queue.push(None, Fault::MalformedBody);
        queue.push(None, Fault::status(503).into());
        assert_eq!(queue.take(Route::ChatCompletions, 0, None), Some(Fault::MalformedBody));
        assert_eq!(queue.take(Route::Messages, 0, None), Some(Fault::DropConnection));
        assert_eq!(queue.pending(), 1);
        assert_eq!(queue.take(Route::Embeddings, 0, None), Some(Fault::status(503).into()));
        assert_eq!(queue.take(Route::Embeddings, 0, None), None);
        queue.set_always(Some(Fault::TruncatedBody));
        queue.push(Some(Route::Models), Fault::MissingFields);
        assert_eq!(queue.take(Route::ChatCompletions, 0, None), Some(Fault::TruncatedBody));
        assert_eq!(queue.take(Route::Models, 0, None), Some(Fault::MissingFields));
        queue.clear();
        assert_eq!(queue.take(Route::Models, 0, None), None);
        queue.set_plan(Some(FaultPlan::new(|seq, _| (seq % 2 == 1).then_some(Fault::MalformedBody))));
        assert_eq!(queue.take(Route::Models, 0, None), None);
        assert_eq!(queue.take(Route::Models, 1, None), Some(Fault::MalformedBody));
        queue.push(None, Fault::DropConnection);
        assert_eq!(queue.take(Route::Models, 2, None), Some(Fault::DropConnection));
        queue.clear();
        assert_eq!(queue.take(Route::Models, 1, None), None);
    }

    #[test]
    fn status_faults_have_typical_messages() {
        assert_eq!(Fault::status(429).message_text(), "Rate limit reached for requests (mock server fault)");
        assert_eq!(Fault::status(418).message_text(), "HTTP 418 (mock server fault)");
        let custom = Fault::status(401).message("bad key").code("invalid_api_key").retry_after_secs(2);
        assert_eq!(custom.message_text(), "bad key");
        assert_eq!(custom.retry_after.as_deref(), Some("2"));
    }
}
