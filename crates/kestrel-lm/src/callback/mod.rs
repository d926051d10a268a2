//! DSPy-style callbacks: a [`Callback`] is told when a module, an LM call, an
//! adapter's format or parse, a tool or an evaluation starts and ends, with a
//! call id, the id of the call it runs inside, its inputs and its outputs or
//! error (DSPy's `BaseCallback`: `on_module_start` … `on_evaluate_end`).
//!
//! Callbacks are registered for a scope, never globally:
//! [`with_callbacks`]`(callbacks, future)` makes them see every call inside
//! `future` (scopes nest; an inner scope adds its callbacks to the outer
//! ones). The same calls are `tracing` spans (target `kestrel`, names
//! `module`, `lm`, `adapter_format`, `adapter_parse`, `tool`, `evaluate`,
//! fields `call_id`, `parent_id`, `name`, `inputs`, `outputs`, `error`), so a
//! run can be logged or exported with any `tracing` subscriber, e.g.
//! `tracing-opentelemetry` (docs/MODULES.md has the snippet).
//!
//! When no callback is in scope and no subscriber wants the spans, an
//! instrumented call costs one task-local lookup and one disabled span; the
//! inputs and outputs are turned into JSON only for someone listening.

mod observer;
mod registry;
mod span;

use std::fmt;

use serde_json::Value;

pub use observer::{Observer, observer};
pub use registry::{CallbackErrorPolicy, Callbacks, with_callbacks};

/// What kind of call an event is about (which `on_*` method receives it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallKind {
    /// A module's call (`Predict`, `ChainOfThought`, `ReAct`, a user program).
    Module,
    /// One request to an LM.
    Lm,
    /// An adapter turning a signature, demos and inputs into messages.
    AdapterFormat,
    /// An adapter turning one completion into output fields.
    AdapterParse,
    /// A tool's call.
    Tool,
    /// An evaluation over a dev set.
    Evaluate,
}

impl CallKind {
    /// The span name and the word in the `on_<kind>_start` methods.
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Module => "module",
            CallKind::Lm => "lm",
            CallKind::AdapterFormat => "adapter_format",
            CallKind::AdapterParse => "adapter_parse",
            CallKind::Tool => "tool",
            CallKind::Evaluate => "evaluate",
        }
    }
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A call's id: unique within the outermost [`with_callbacks`] scope, in the
/// order the calls started (DSPy uses a random hex id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A call starting.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CallStart<'a> {
    /// This call's id.
    pub call_id: CallId,
    /// The call this one runs inside, if any is observed.
    pub parent_id: Option<CallId>,
    /// What is being called.
    pub kind: CallKind,
    /// The callee: a module's type name (`Predict`, `ReAct`), the model
    /// string, the adapter (`ChatAdapter`), the tool's name, `Evaluate`.
    pub name: &'a str,
    /// The call's inputs as JSON (a module's input fields, the LM request,
    /// the adapter's signature and inputs or completion, the tool's
    /// arguments, the evaluation's size).
    pub inputs: &'a Value,
}

/// A call ending.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CallEnd<'a> {
    /// This call's id (the one its [`CallStart`] had).
    pub call_id: CallId,
    /// The call this one ran inside, if any is observed.
    pub parent_id: Option<CallId>,
    /// What was called.
    pub kind: CallKind,
    /// The callee, as in [`CallStart::name`].
    pub name: &'a str,
    /// The outputs as JSON when the call succeeded.
    pub outputs: Option<&'a Value>,
    /// The error's text when it failed.
    pub error: Option<&'a str>,
}

/// A callback's failure. What happens to it is the scope's
/// [`CallbackErrorPolicy`]: logged and ignored (DSPy's behaviour, the
/// default) or the call's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("callback failed: {message}")]
pub struct CallbackError {
    message: String,
}

impl CallbackError {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Something told about calls as they start and end (DSPy's
/// `BaseCallback`). Every method does nothing by default: implement those
/// you need. Callbacks run inline on the calling task, so they should be
/// quick; they must not block.
#[allow(unused_variables)]
pub trait Callback: Send + Sync {
    /// A module's call starts.
    fn on_module_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
    /// A module's call ends.
    fn on_module_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
    /// An LM request is sent.
    fn on_lm_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
    /// An LM request is answered (or fails).
    fn on_lm_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
    /// An adapter starts formatting a prompt.
    fn on_adapter_format_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
    /// An adapter has formatted a prompt.
    fn on_adapter_format_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
    /// An adapter starts parsing a completion.
    fn on_adapter_parse_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
    /// An adapter has parsed a completion (or failed to).
    fn on_adapter_parse_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
    /// A tool's call starts.
    fn on_tool_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
    /// A tool's call ends.
    fn on_tool_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
    /// An evaluation starts.
    fn on_evaluate_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
    /// An evaluation ends.
    fn on_evaluate_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        Ok(())
    }
}

/// Send a start event to the method for its kind.
fn dispatch_start(callback: &dyn Callback, call: &CallStart<'_>) -> Result<(), CallbackError> {
    match call.kind {
        CallKind::Module => callback.on_module_start(call),
        CallKind::Lm => callback.on_lm_start(call),
        CallKind::AdapterFormat => callback.on_adapter_format_start(call),
        CallKind::AdapterParse => callback.on_adapter_parse_start(call),
        CallKind::Tool => callback.on_tool_start(call),
        CallKind::Evaluate => callback.on_evaluate_start(call),
    }
}

/// Send an end event to the method for its kind.
fn dispatch_end(callback: &dyn Callback, call: &CallEnd<'_>) -> Result<(), CallbackError> {
    match call.kind {
        CallKind::Module => callback.on_module_end(call),
        CallKind::Lm => callback.on_lm_end(call),
        CallKind::AdapterFormat => callback.on_adapter_format_end(call),
        CallKind::AdapterParse => callback.on_adapter_parse_end(call),
        CallKind::Tool => callback.on_tool_end(call),
        CallKind::Evaluate => callback.on_evaluate_end(call),
    }
}
