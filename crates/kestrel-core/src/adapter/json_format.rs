//! Prompt formatting for the JSON adapter: DSPy 3.4.1's `JSONAdapter.format`
//! (inputs as `[[ ## name ## ]]` blocks, outputs and assistant demo turns as
//! JSON objects with 2-space indent) and the `response_format` body value.

use serde_json::{Map, Value, json};

use crate::adapter::prompt::{
    self, NOT_SUPPLIED, STRUCTURE_HEADER, Wording, field_block, field_placeholder, join_strip, type_info,
};
use crate::adapter::pyfmt::json_dumps_indent;
use crate::adapter::schema::is_open_mapping;
use crate::adapter::strict;
use crate::error::Result;
use crate::example::Example;
use crate::message::Message;
use crate::signature::SignatureSpec;

/// System message, two messages per usable demo (incomplete ones first),
/// then the user message with `inputs` and the output reminder.
pub(crate) fn format(signature: &SignatureSpec, demos: &[Example], inputs: &Example) -> Result<Vec<Message>> {
    prompt::messages(signature, demos, inputs, &WORDING)
}

/// The system message and demo turns of [`format`].
pub(crate) fn format_prefix(signature: &SignatureSpec, demos: &[Example]) -> Vec<Message> {
    prompt::prefix(signature, demos, &WORDING)
}

/// The last user message of [`format`].
pub(crate) fn format_request(signature: &SignatureSpec, inputs: &Example) -> Option<Message> {
    prompt::request(signature, inputs, &WORDING)
}

const WORDING: Wording = Wording {
    structure: field_structure,
    assistant: assistant_content,
    reminder: output_requirements,
    user: prompt::user_content,
};

/// The OpenAI `response_format` value: a strict `json_schema` built from the
/// output fields, or `{"type": "json_object"}` when an output is an
/// open-ended `dict[...]` (strict schemas must declare every property).
pub(crate) fn response_format(signature: &SignatureSpec) -> Value {
    // A `ToolCalls` output outside native function calling: JSON mode, as DSPy.
    let tool_calls =
        |ty: &crate::types::FieldType| *ty == crate::types::FieldType::Custom(crate::CustomType::ToolCalls);
    if signature.output_fields().any(|f| is_open_mapping(&f.ty) || tool_calls(&f.ty)) {
        return json!({"type": "json_object"});
    }
    strict::response_format(strict::outputs_schema(signature.output_fields()))
}

/// The structure section: input blocks, then the outputs as a JSON object
/// whose values are the `{name}` placeholders with their type notes.
fn field_structure(signature: &SignatureSpec) -> String {
    let blocks: Vec<String> = signature.input_fields().map(|f| field_block(&f.name, &field_placeholder(f))).collect();
    let block_parts: Vec<&str> = blocks.iter().map(String::as_str).collect();
    let inputs = join_strip(&block_parts, "\n\n");
    let outputs: Map<String, Value> =
        signature.output_fields().map(|f| (f.name.clone(), Value::String(field_placeholder(f)))).collect();
    let outputs = json_dumps_indent(&Value::Object(outputs));
    join_strip(
        &[
            STRUCTURE_HEADER,
            "Inputs will have the following structure:",
            &inputs,
            "Outputs will be a JSON object with the following fields.",
            &outputs,
        ],
        "\n\n",
    )
}

/// A demo's assistant turn: the outputs as a JSON object (missing ones hold
/// the not-supplied text).
fn assistant_content(signature: &SignatureSpec, demo: &Example) -> String {
    let outputs: Map<String, Value> = signature
        .output_fields()
        .map(|f| {
            let value = demo
                .get(&f.name)
                .map(|v| crate::adapter::render::jsonable(&f.ty, v))
                .unwrap_or_else(|| Value::String(NOT_SUPPLIED.to_string()));
            (f.name.clone(), value)
        })
        .collect();
    json_dumps_indent(&Value::Object(outputs))
}

/// `Respond with a JSON object in the following order of fields: ...`.
fn output_requirements(signature: &SignatureSpec) -> String {
    let fields: Vec<String> = signature.output_fields().map(|f| format!("`{}`{}", f.name, type_info(f))).collect();
    format!("Respond with a JSON object in the following order of fields: {}.", fields.join(", then "))
}
