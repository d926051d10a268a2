//! The text half of DSPy 3.4.1's `TwoStepAdapter`.
//!
//! A two-step call asks the main LM for a free-form answer with a plain
//! prompt ([`format`]: a task description, `name: value` lines for inputs
//! and demos, no output markers), then has an extraction LM fill the
//! output fields from that answer through the ChatAdapter, with the
//! signature `text -> <the original outputs>` and DSPy's extraction
//! instructions ([`extractor_signature`]). The calls themselves live in
//! `kestrel-lm` (`AdapterChoice::TwoStep`); this module knows no LM.

use serde_json::Value;

use crate::adapter::prompt::{INCOMPLETE_DEMO_PREFIX, field_list, join_strip, sort_demos};
use crate::adapter::pyfmt::py_str;
use crate::error::{AdapterParseError, Result};
use crate::example::Example;
use crate::field::FieldSpec;
use crate::message::Message;
use crate::signature::SignatureSpec;
use crate::types::FieldType;

/// DSPy's class name, used in errors.
pub const ADAPTER_NAME: &str = "TwoStepAdapter";

/// The input field of the extraction signature that carries the main LM's
/// answer.
pub const TEXT_FIELD: &str = "text";

/// The main LM's messages: the task description as system message, two
/// messages per usable demo (incomplete ones first), then the inputs as
/// `name: value` paragraphs (DSPy's `TwoStepAdapter.format`).
pub fn format(signature: &SignatureSpec, demos: &[Example], inputs: &Example) -> Vec<Message> {
    let (incomplete, complete) = sort_demos(signature, demos);
    let mut messages = Vec::with_capacity(2 + 2 * (incomplete.len() + complete.len()));
    messages.push(Message::system(task_description(signature)));
    for (demo, prefix) in incomplete.iter().map(|d| (d, INCOMPLETE_DEMO_PREFIX)).chain(complete.iter().map(|d| (d, "")))
    {
        messages.push(Message::user(user_content(signature, demo, prefix)));
        messages.push(Message::assistant(assistant_content(signature, demo)));
    }
    messages.push(Message::user(user_content(signature, inputs, "")));
    messages
}

/// `You are a helpful assistant ...`: the fields described as in other
/// prompts, then the instructions (when there are any).
fn task_description(signature: &SignatureSpec) -> String {
    let mut parts = vec![
        "You are a helpful assistant that can solve tasks based on user input.".to_string(),
        format!("As input, you will be provided with:\n{}", field_list(signature.input_fields())),
        format!("Your outputs must contain:\n{}", field_list(signature.output_fields())),
        "You should lay out your outputs in detail so that your answer can be understood by another agent".to_string(),
    ];
    if !signature.instructions().is_empty() {
        parts.push(format!("Specific instructions: {}", signature.instructions()));
    }
    parts.join("\n")
}

/// `prefix`, then `name: value` for each input present (Python's `str()` of
/// the value), joined by blank lines and stripped.
fn user_content(signature: &SignatureSpec, values: &Example, prefix: &str) -> String {
    let lines = named_values(signature.input_fields(), values);
    let mut parts: Vec<&str> = vec![prefix];
    parts.extend(lines.iter().map(String::as_str));
    parts.push("");
    join_strip(&parts, "\n\n")
}

/// `name: value` for each output the demo has, joined by blank lines.
fn assistant_content(signature: &SignatureSpec, demo: &Example) -> String {
    let lines = named_values(signature.output_fields(), demo);
    let parts: Vec<&str> = lines.iter().map(String::as_str).collect();
    join_strip(&parts, "\n\n")
}

fn named_values<'a>(fields: impl Iterator<Item = &'a FieldSpec>, values: &Example) -> Vec<String> {
    fields.filter_map(|f| values.get(&f.name).map(|v: &Value| format!("{}: {}", f.name, py_str(v)))).collect()
}

/// DSPy's `_create_extractor_signature`: a `text` input, then every output
/// of `signature` as it is, with DSPy's extraction instructions.
///
/// An output already named `text` makes the signature invalid
/// ([`crate::CoreError::InvalidSignature`]).
pub fn extractor_signature(signature: &SignatureSpec) -> Result<SignatureSpec> {
    let mut fields = vec![FieldSpec::input(TEXT_FIELD, FieldType::Str)];
    fields.extend(signature.output_fields().cloned());
    let names: Vec<String> = signature.output_fields().map(|f| format!("`{}`", f.name)).collect();
    // DSPy's source breaks this line with a backslash inside the string, so
    // the next line's 12 spaces of indentation are part of the text.
    let instructions = format!(
        "The input is a text that should contain all the necessary information to produce the fields {}.             \
         Your job is to extract the fields from the text verbatim. Extract precisely the appropriate value (content) \
         for each field.",
        names.join(", ")
    );
    SignatureSpec::new(fields, Some(instructions))
}

/// The error of a failed extraction: DSPy's `TwoStepAdapter` error naming
/// the original signature's outputs, quoting the main LM's answer, with the
/// extraction's own error as its first paragraph.
pub fn extraction_error(
    signature: &SignatureSpec,
    completion: &str,
    extraction: &AdapterParseError,
) -> AdapterParseError {
    AdapterParseError {
        adapter_name: ADAPTER_NAME.to_string(),
        expected_fields: signature.output_names(),
        parsed_fields: None,
        lm_response: completion.to_string(),
        detail: Some(format!("Failed to parse response from the original completion: {extraction}")),
    }
}
