//! Conversation history in prompts (DSPy's `format_conversation_history`):
//! a `History` input leaves the signature, and each earlier turn becomes a
//! user message (the turn's inputs and the output reminder) and an
//! assistant message (the turn's outputs, `None` where missing), between
//! the demos and the current request. A turn holding tool calls with their
//! results (`{"tool_calls": [..], "tool_call_results": [..]}`) shows the
//! calls in its assistant message and the results as a following user
//! message (`[[ ## tool_call_results ## ]]`), as DSPy's text mode does.

use serde_json::{Value, json};

use crate::adapter::prompt::{Wording, user_content};
use crate::adapter::pyfmt::json_dumps;
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
        let results = tool_call_results(&turn);
        let mut outputs = turn;
        if let Some((name, _)) = &results {
            // The calls are shown without their results, which follow as a
            // user turn.
            if let Some(Value::Object(calls)) = outputs.get(name).cloned() {
                let mut calls = calls;
                calls.shift_remove("tool_call_results");
                outputs.insert(name.clone(), Value::Object(calls));
            }
        }
        for field in signature.output_fields() {
            if !outputs.contains_key(&field.name) {
                outputs.insert(field.name.clone(), Value::Null);
            }
        }
        let assistant = (wording.assistant)(signature, &outputs);
        if !assistant.is_empty() {
            messages.push(Message::assistant(assistant));
        }
        if let Some((_, results)) = results {
            let block = json!({"tool_call_results": results});
            messages.push(Message::user(format!("[[ ## tool_call_results ## ]]\n{}", json_dumps(&block))));
        }
    }
    Ok(messages)
}

/// DSPy's `_tool_calls_from_message` and `ToolCallResults` validation: the
/// first value of a turn holding `{"tool_calls": [..]}`, and its
/// `tool_call_results` (each `{call_id, name, value, is_error}`), when it
/// has valid ones.
fn tool_call_results(turn: &Example) -> Option<(String, Vec<Value>)> {
    let (name, calls) = turn.iter().find(|(_, v)| v.get("tool_calls").is_some())?;
    let raw = calls.get("tool_call_results").filter(|r| !r.is_null())?;
    let items = match raw {
        Value::Array(items) => items.clone(),
        Value::Object(map) => match map.get("tool_call_results") {
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return None,
            None if map.contains_key("name") && map.contains_key("value") => vec![raw.clone()],
            None => return None,
        },
        _ => return None,
    };
    let results = items
        .iter()
        .map(|item| {
            let name = item.get("name")?.as_str()?;
            let call_id = match item.get("call_id") {
                None | Some(Value::Null) => Value::Null,
                Some(Value::String(id)) => Value::String(id.clone()),
                Some(_) => return None,
            };
            let is_error = match item.get("is_error") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return None,
            };
            let value = item.get("value")?.clone();
            Some(json!({"call_id": call_id, "name": name, "value": value, "is_error": is_error}))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((name.clone(), results))
}
