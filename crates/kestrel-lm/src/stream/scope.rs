//! The task-local stream scope (DSPy's `settings.send_stream`): inside
//! [`with_stream`], predictors stream their LM calls into the scope's
//! channel and modules send status messages to it. Outside it nothing
//! streams and the call path is the plain one.

use std::future::Future;
use std::sync::Arc;

use kestrel_core::PredictorId;
use tokio::sync::mpsc;

use super::{DeltaSink, StreamEvent};

tokio::task_local! {
    static STREAM: StreamScope;
}

/// Where the calls inside a [`with_stream`] scope send their events.
#[derive(Debug, Clone)]
pub struct StreamScope {
    tx: mpsc::Sender<StreamEvent>,
    /// When set, only these predictors stream tokens (DSPy streams only the
    /// predictors its listeners name).
    only: Option<Arc<[PredictorId]>>,
}

impl StreamScope {
    /// A scope sending to `tx`; with `only`, only those predictors' LM calls
    /// stream (the others run as plain calls).
    pub fn new(tx: mpsc::Sender<StreamEvent>, only: Option<Vec<PredictorId>>) -> Self {
        Self { tx, only: only.map(Into::into) }
    }

    /// The sink for an LM call made by `predictor`, or `None` when that
    /// predictor does not stream in this scope.
    pub fn sink_for(&self, predictor: PredictorId) -> Option<DeltaSink> {
        match &self.only {
            Some(only) if !only.contains(&predictor) => None,
            _ => Some(DeltaSink::new(self.tx.clone(), Some(predictor))),
        }
    }

    /// Send a status message, waiting while the channel is full.
    pub async fn status(&self, message: impl Into<String>) {
        let _ = self.tx.send(StreamEvent::Status(message.into())).await;
    }
}

/// Run `future` with streaming on: predictor calls inside it send their
/// token deltas, and modules their status messages, to `scope`.
pub async fn with_stream<F: Future>(scope: StreamScope, future: F) -> F::Output {
    STREAM.scope(scope, future).await
}

/// The stream scope in effect, if any.
pub fn current_stream() -> Option<StreamScope> {
    STREAM.try_with(Clone::clone).ok()
}

/// True inside a [`with_stream`] scope (cheaper than [`current_stream`]).
pub fn streaming() -> bool {
    STREAM.try_with(|_| ()).is_ok()
}

/// Send a status message to the stream in scope; nothing outside one.
pub async fn emit_status(message: impl Into<String>) {
    if let Some(scope) = current_stream() {
        scope.status(message).await;
    }
}
