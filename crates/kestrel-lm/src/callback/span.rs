//! The `tracing` span of each kind of call: target `kestrel`, level DEBUG,
//! named as the callback events (`module`, `lm`, `adapter_format`,
//! `adapter_parse`, `tool`, `evaluate`), with the events' fields, filled in
//! as the call starts and ends.

use tracing::Span;
use tracing::field::Empty;

use super::CallKind;

macro_rules! call_span {
    ($name:literal) => {
        tracing::debug_span!(
            target: "kestrel",
            $name,
            call_id = Empty,
            parent_id = Empty,
            name = Empty,
            inputs = Empty,
            outputs = Empty,
            error = Empty
        )
    };
}

/// A new span for a call of `kind` (disabled, at the cost of a level check,
/// when no subscriber wants it).
pub(super) fn open(kind: CallKind) -> Span {
    match kind {
        CallKind::Module => call_span!("module"),
        CallKind::Lm => call_span!("lm"),
        CallKind::AdapterFormat => call_span!("adapter_format"),
        CallKind::AdapterParse => call_span!("adapter_parse"),
        CallKind::Tool => call_span!("tool"),
        CallKind::Evaluate => call_span!("evaluate"),
    }
}
