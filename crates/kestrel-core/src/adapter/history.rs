//! Conversation history in prompts (DSPy's `format_conversation_history`):
//! a `History` input leaves the signature, and each earlier turn becomes a
//! user message (the turn's inputs and the output reminder) and an
//! assistant message (the turn's outputs, `None` where missing), between
//! the demos and the current request.

use serde_json::Value;

use crate::adapter::prompt::{Wording, user_content};
use crate::custom_type::CustomType;
use crate::custom_values::History;
use crate::error::Result;
use crate::example::Example;
use crate::message::Message;
use crate::signature::SignatureSpec;
use crate::types::FieldType;

/// The first input field of type `History`, as DSPy looks for it.
pub(crate) fn history_field(signature: &SignatureSpec) -> Option<&str> {
    signature.input_fields().find(|f| f.ty == FieldType::Custom(CustomType::History)).map(|f| f.name.as_str())
}

/// The turns of the history held in `value` (none when absent or null),
/// formatted for `signature` (the signature without its history field).
pub(crate) fn turns(signature: &SignatureSpec, value: Option<&Value>, wording: &Wording) -> Result<Vec<Message>> {
    let Some(history) = value.map(History::from_value).transpose()?.flatten() else {
        return Ok(Vec::new());
    };
    let reminder = (wording.reminder)(signature);
    let mut messages = Vec::with_capacity(2 * history.messages.len());
    for turn in history.messages {
        let turn = Example::from_fields(turn.into_iter().collect());
        // The reminder is kept on turns with inputs (DSPy keeps the original
        // request's wording so provider prompt caches match).
        let main_request = signature.input_fields().any(|f| turn.contains_key(&f.name));
        let user = user_content(signature, &turn, "", main_request.then_some(reminder.as_str()));
        if !user.is_empty() {
            messages.push(Message::user(user));
        }
        let mut outputs = turn;
        for field in signature.output_fields() {
            if !outputs.contains_key(&field.name) {
                outputs.insert(field.name.clone(), Value::Null);
            }
        }
        let assistant = (wording.assistant)(signature, &outputs);
        if !assistant.is_empty() {
            messages.push(Message::assistant(assistant));
        }
    }
    Ok(messages)
}
