//! What the mock server keeps of each request: [`RecordedRequest`] (path,
//! headers, JSON body, the parsed [`LmRequest`], the fault applied) and the
//! [`Recorder`] holding them. Recording can be switched off for benchmarks;
//! requests are then only counted.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use kestrel_lm::LmRequest;
use serde_json::Value;

use super::faults::Fault;
use super::routes::Route;

/// One request the mock server received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method (`POST`).
    pub method: String,
    /// Path without the query (`/v1/chat/completions`).
    pub path: String,
    /// The route it matched; `None` for unknown paths and wrong methods.
    pub route: Option<Route>,
    /// Every header, names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as JSON; `None` when empty or not JSON.
    pub body: Option<Value>,
    /// The `model` of the body, when it names one.
    pub model: Option<String>,
    /// The body as an [`LmRequest`] (chat completions and Anthropic
    /// messages that parsed).
    pub lm_request: Option<LmRequest>,
    /// The fault applied to this request, if any.
    pub fault: Option<Fault>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The recorded requests and the request counter.
#[derive(Debug)]
pub(super) struct Recorder {
    on: AtomicBool,
    count: AtomicUsize,
    requests: Mutex<Vec<RecordedRequest>>,
}

impl Recorder {
    pub(super) fn new(on: bool) -> Self {
        Self { on: AtomicBool::new(on), count: AtomicUsize::new(0), requests: Mutex::new(Vec::new()) }
    }

    /// Whether requests are kept (they are always counted).
    pub(super) fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    pub(super) fn set_on(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// Count one arriving request; its arrival number (0-based).
    pub(super) fn count(&self) -> u64 {
        self.count.fetch_add(1, Ordering::SeqCst) as u64
    }

    /// Keep `request` if recording is on.
    pub(super) fn keep(&self, request: impl FnOnce() -> RecordedRequest) {
        if self.is_on() {
            let request = request();
            self.requests.lock().unwrap_or_else(PoisonError::into_inner).push(request);
        }
    }

    pub(super) fn total(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    pub(super) fn all(&self) -> Vec<RecordedRequest> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Forget the recorded requests and reset the counter.
    pub(super) fn clear(&self) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        requests.clear();
        self.count.store(0, Ordering::SeqCst);
    }
}
