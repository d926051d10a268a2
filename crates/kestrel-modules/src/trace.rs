//! Task-local trace scopes: while one is active, every predictor call made
//! inside it (on this task, at any depth) is recorded as a
//! [`TraceEntry`]. Scopes are bound to the future, not the thread, so two
//! concurrent scopes on one runtime never mix, and a call outside any scope
//! records nothing (and costs nothing).

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use kestrel_core::TraceEntry;

/// The calls recorded by one [`with_trace`] scope, in completion order.
pub type Trace = Vec<TraceEntry>;

tokio::task_local! {
    static TRACE: Arc<Mutex<Trace>>;
}

/// Run `future` and return its output with the trace of every predictor call
/// it made. Scopes nest: calls are recorded in the innermost scope only.
pub async fn with_trace<F: Future>(future: F) -> (F::Output, Trace) {
    let sink = Arc::new(Mutex::new(Trace::new()));
    let output = TRACE.scope(Arc::clone(&sink), future).await;
    let trace = std::mem::take(&mut *sink.lock().unwrap_or_else(PoisonError::into_inner));
    (output, trace)
}

/// True when a trace scope is active on this task.
pub fn is_tracing() -> bool {
    TRACE.try_with(|_| ()).is_ok()
}

/// Record an entry in the active scope, if any. `entry` is only built when a
/// scope is active.
pub(crate) fn record(entry: impl FnOnce() -> TraceEntry) {
    let _ = TRACE.try_with(|sink| sink.lock().unwrap_or_else(PoisonError::into_inner).push(entry()));
}

/// Append entries recorded elsewhere (an inner scope's) to the active scope,
/// if any. BestOfN and Refine run each attempt in a scope of its own and
/// hand the chosen attempt's calls to the caller's scope, as DSPy does.
pub(crate) fn extend(entries: Trace) {
    if entries.is_empty() {
        return;
    }
    let _ = TRACE.try_with(|sink| sink.lock().unwrap_or_else(PoisonError::into_inner).extend(entries));
}
