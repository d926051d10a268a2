//! [`Observer`]: how an instrumented call tells the callbacks in scope and
//! its `tracing` span that it starts, runs and ends.
//!
//! ```ignore
//! let Some(mut observer) = observer(CallKind::Tool) else { return run().await };
//! observer.start(name, || inputs_as_json())?;
//! let result = observer.run(run()).await;
//! observer.finish(result, |value| value.clone())
//! ```

use std::fmt;
use std::future::Future;

use serde_json::Value;
use tracing::{Instrument, Span};

use super::registry::{ACTIVE, Active, active};
use super::{CallEnd, CallId, CallKind, CallStart, CallbackError, span};

/// One observed call. Made by [`observer`] only when someone listens.
pub struct Observer {
    kind: CallKind,
    span: Span,
    active: Option<Active>,
    call_id: Option<CallId>,
    name: String,
}

/// An observer for a call of `kind`, or `None` when no callback is in scope
/// and no `tracing` subscriber wants the span: the caller then just runs the
/// call (the cheap path).
pub fn observer(kind: CallKind) -> Option<Observer> {
    let active = active();
    let span = span::open(kind);
    if active.is_none() && span.is_disabled() {
        return None;
    }
    Some(Observer { kind, span, active, call_id: None, name: String::new() })
}

impl Observer {
    /// The call starts: `inputs` is computed once, for the span and the
    /// callbacks. Under [`super::CallbackErrorPolicy::Fail`] a start
    /// handler's error is returned (the end handlers have been told); the
    /// caller must not run the call then.
    pub fn start(&mut self, name: &str, inputs: impl FnOnce() -> Value) -> Result<(), CallbackError> {
        let inputs = inputs();
        self.name = name.to_owned();
        if !self.span.is_disabled() {
            self.span.record("name", name);
            self.span.record("inputs", tracing::field::display(&inputs));
        }
        let Some(active) = &self.active else { return Ok(()) };
        let call_id = active.registry.next_id();
        self.call_id = Some(call_id);
        self.span.record("call_id", call_id.0);
        if let Some(parent) = active.parent {
            self.span.record("parent_id", parent.0);
        }
        let start = CallStart { call_id, parent_id: active.parent, kind: self.kind, name, inputs: &inputs };
        if let Err(error) = active.registry.start(&start) {
            let text = error.to_string();
            self.span.record("error", text.as_str());
            let end =
                CallEnd { call_id, parent_id: active.parent, kind: self.kind, name, outputs: None, error: Some(&text) };
            // Already failing: a second error from an end handler adds nothing.
            let _ = active.registry.end(&end);
            self.active = None;
            return Err(error);
        }
        Ok(())
    }

    /// Run the call inside the span, with this call as the parent of the
    /// calls it makes.
    pub async fn run<F: Future>(&self, future: F) -> F::Output {
        let future = future.instrument(self.span.clone());
        match (&self.active, self.call_id) {
            (Some(active), Some(call_id)) => {
                let inner = Active { registry: active.registry.clone(), parent: Some(call_id) };
                ACTIVE.scope(inner, future).await
            }
            _ => future.await,
        }
    }

    /// The call ended with `result`: tell the span and the callbacks (with
    /// `outputs` of a success, computed once) and return the result, or,
    /// under [`super::CallbackErrorPolicy::Fail`], an end handler's error in
    /// place of a success.
    pub fn finish<T, E>(self, result: Result<T, E>, outputs: impl FnOnce(&T) -> Value) -> Result<T, E>
    where
        E: fmt::Display + From<CallbackError>,
    {
        let told = self.active.as_ref().zip(self.call_id);
        if told.is_none() && self.span.is_disabled() {
            return result;
        }
        let (outputs, error) = match &result {
            Ok(value) => (Some(outputs(value)), None),
            Err(e) => (None, Some(e.to_string())),
        };
        if let Some(outputs) = &outputs {
            self.span.record("outputs", tracing::field::display(outputs));
        }
        if let Some(error) = &error {
            self.span.record("error", error.as_str());
        }
        if let Some((active, call_id)) = told {
            let end = CallEnd {
                call_id,
                parent_id: active.parent,
                kind: self.kind,
                name: &self.name,
                outputs: outputs.as_ref(),
                error: error.as_deref(),
            };
            if let Err(callback_error) = active.registry.end(&end) {
                if result.is_ok() {
                    return Err(E::from(callback_error));
                }
            }
        }
        result
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer")
            .field("kind", &self.kind)
            .field("call_id", &self.call_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
