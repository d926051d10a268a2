//! Test callbacks: [`Recorder`] keeps every event; [`Failing`] fails on one.

use std::sync::Mutex;

use kestrel_lm::{CallEnd, CallId, CallKind, CallStart, Callback, CallbackError};
use serde_json::Value;

/// One event as a test compares it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub phase: &'static str,
    pub kind: CallKind,
    pub name: String,
    pub id: CallId,
    pub parent: Option<CallId>,
    /// Inputs at the start, outputs at a successful end, `null` otherwise.
    pub data: Value,
    pub error: Option<String>,
}

/// Records every event in order.
#[derive(Debug, Default)]
pub struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// `"<kind>_<phase> <name>"` per event.
    pub fn trail(&self) -> Vec<String> {
        self.events().iter().map(|e| format!("{}_{} {}", e.kind, e.phase, e.name)).collect()
    }

    fn start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        self.events.lock().unwrap().push(Event {
            phase: "start",
            kind: call.kind,
            name: call.name.to_string(),
            id: call.call_id,
            parent: call.parent_id,
            data: call.inputs.clone(),
            error: None,
        });
        Ok(())
    }

    fn end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        self.events.lock().unwrap().push(Event {
            phase: "end",
            kind: call.kind,
            name: call.name.to_string(),
            id: call.call_id,
            parent: call.parent_id,
            data: call.outputs.cloned().unwrap_or(Value::Null),
            error: call.error.map(str::to_string),
        });
        Ok(())
    }
}

impl Callback for Recorder {
    fn on_module_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        self.start(call)
    }
    fn on_module_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        self.end(call)
    }
    fn on_lm_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        self.start(call)
    }
    fn on_lm_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        self.end(call)
    }
    fn on_adapter_format_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        self.start(call)
    }
    fn on_adapter_format_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        self.end(call)
    }
    fn on_adapter_parse_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        self.start(call)
    }
    fn on_adapter_parse_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        self.end(call)
    }
    fn on_tool_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        self.start(call)
    }
    fn on_tool_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        self.end(call)
    }
    fn on_evaluate_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        self.start(call)
    }
    fn on_evaluate_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        self.end(call)
    }
}

/// Fails at the start or the end of calls of one kind.
#[derive(Debug)]
pub struct Failing {
    kind: CallKind,
    at_start: bool,
}

impl Failing {
    pub fn on_start(kind: CallKind) -> Self {
        Self { kind, at_start: true }
    }
    pub fn on_end(kind: CallKind) -> Self {
        Self { kind, at_start: false }
    }
    fn check(&self, kind: CallKind, at_start: bool) -> Result<(), CallbackError> {
        if kind == self.kind && at_start == self.at_start {
            Err(CallbackError::new(if kind == CallKind::Lm { "no LM calls today" } else { "refused" }))
        } else {
            Ok(())
        }
    }
}

impl Callback for Failing {
    fn on_module_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        self.check(call.kind, true)
    }
    fn on_module_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        self.check(call.kind, false)
    }
    fn on_lm_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        self.check(call.kind, true)
    }
    fn on_lm_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        self.check(call.kind, false)
    }
}
