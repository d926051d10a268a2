//! Status messages (DSPy's `StatusMessageProvider`): what a streamed
//! program says while it works — before and after each tool call (ReAct),
//! and optionally before and after each predictor call. The provider in
//! effect is task-local, set by [`super::streamify`]; outside a stream
//! nothing is sent and nothing is computed.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use kestrel_core::{Example, Prediction, SignatureSpec};
use kestrel_lm::stream::{emit_status, streaming};
use serde_json::Value;

use crate::error::ModuleError;
use crate::react_format::FINISH;

/// The texts of status messages; every method may return `None` to send
/// nothing. The defaults are DSPy's: a message before and after each tool
/// call (but not for ReAct's `finish`), none for predictor calls.
pub trait StatusMessageProvider: Send + Sync + fmt::Debug {
    /// Before tool `name` runs with `args` (DSPy: `Calling tool {name}...`).
    fn tool_start(&self, name: &str, args: &Value) -> Option<String> {
        let _ = args;
        Some(format!("Calling tool {name}..."))
    }

    /// After a tool ran (its result or error).
    fn tool_end(&self, outcome: Result<&Value, &ModuleError>) -> Option<String> {
        let _ = outcome;
        Some("Tool calling finished! Querying the LLM with tool calling results...".to_string())
    }

    /// Before a predictor with `signature` is called on `inputs`.
    fn module_start(&self, signature: &SignatureSpec, inputs: &Example) -> Option<String> {
        let _ = (signature, inputs);
        None
    }

    /// After a predictor call.
    fn module_end(&self, outcome: Result<&Prediction, &ModuleError>) -> Option<String> {
        let _ = outcome;
        None
    }
}

/// DSPy's default status messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultStatusMessages;

impl StatusMessageProvider for DefaultStatusMessages {}

tokio::task_local! {
    static PROVIDER: Arc<dyn StatusMessageProvider>;
}

/// Run `future` with `provider` writing the status messages.
pub(crate) fn with_provider<F: Future>(
    provider: Arc<dyn StatusMessageProvider>,
    future: F,
) -> impl Future<Output = F::Output> {
    PROVIDER.scope(provider, future)
}

/// Send `message(provider)` when a stream is in scope.
async fn send(message: impl FnOnce(&dyn StatusMessageProvider) -> Option<String>) {
    if !streaming() {
        return;
    }
    let provider = PROVIDER.try_with(Arc::clone).unwrap_or_else(|_| Arc::new(DefaultStatusMessages));
    let text = message(provider.as_ref());
    if let Some(text) = text {
        emit_status(text).await;
    }
}

/// Before a tool call (not ReAct's `finish`).
pub(crate) async fn tool_start(name: &str, args: &Value) {
    if name != FINISH {
        send(|p| p.tool_start(name, args)).await;
    }
}

/// After a tool call (not ReAct's `finish`).
pub(crate) async fn tool_end(name: &str, outcome: Result<&Value, &ModuleError>) {
    if name != FINISH {
        send(|p| p.tool_end(outcome)).await;
    }
}

/// Before a predictor call.
pub(crate) async fn module_start(signature: &SignatureSpec, inputs: &Example) {
    send(|p| p.module_start(signature, inputs)).await;
}

/// After a predictor call.
pub(crate) async fn module_end(outcome: Result<&Prediction, &ModuleError>) {
    send(|p| p.module_end(outcome)).await;
}
