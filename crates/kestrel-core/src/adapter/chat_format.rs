//! Prompt formatting for the chat adapter: DSPy 3.4.1's `ChatAdapter.format`,
//! byte for byte (`[[ ## field ## ]]` sections, `[[ ## completed ## ]]`).

use crate::adapter::prompt::{
    self, NOT_SUPPLIED, STRUCTURE_HEADER, Wording, field_block, field_placeholder, join_strip, type_info,
};
use crate::adapter::render::field_value;
use crate::error::Result;
use crate::example::Example;
use crate::field::FieldSpec;
use crate::message::Message;
use crate::signature::SignatureSpec;

const COMPLETED: &str = "[[ ## completed ## ]]";

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

/// DSPy's `format_assistant_message_content`: the reply the adapter expects
/// for `outputs` (each output field's section, then the completion marker).
pub(crate) fn assistant_message_content(signature: &SignatureSpec, outputs: &Example) -> String {
    assistant_content(signature, outputs)
}

/// The structure section: every field as `[[ ## name ## ]]\n{name}` (with
/// type notes on outputs), then the completion marker.
fn field_structure(signature: &SignatureSpec) -> String {
    let inputs = placeholder_blocks(signature.input_fields());
    let outputs = placeholder_blocks(signature.output_fields());
    join_strip(&[STRUCTURE_HEADER, &inputs, &outputs, "[[ ## completed ## ]]\n"], "\n\n")
}

fn placeholder_blocks<'a>(fields: impl Iterator<Item = &'a FieldSpec>) -> String {
    let blocks: Vec<String> = fields.map(|f| field_block(&f.name, &field_placeholder(f))).collect();
    let parts: Vec<&str> = blocks.iter().map(String::as_str).collect();
    join_strip(&parts, "\n\n")
}

/// A demo's assistant turn: every output (or the not-supplied text), then
/// the completion marker.
fn assistant_content(signature: &SignatureSpec, demo: &Example) -> String {
    let blocks: Vec<String> = signature
        .output_fields()
        .map(|f| {
            let value = match demo.get(&f.name) {
                Some(v) => field_value(&f.ty, v),
                None => NOT_SUPPLIED.to_string(),
            };
            field_block(&f.name, &value)
        })
        .collect();
    let parts: Vec<&str> = blocks.iter().map(String::as_str).collect();
    let mut out = join_strip(&parts, "\n\n");
    out.push_str("\n\n");
    out.push_str(COMPLETED);
    out.push('\n');
    out
}

/// `Respond with the corresponding output fields, starting with the field ...`.
fn output_requirements(signature: &SignatureSpec) -> String {
    let fields: Vec<String> =
        signature.output_fields().map(|f| format!("`[[ ## {} ## ]]`{}", f.name, type_info(f))).collect();
    format!(
        "Respond with the corresponding output fields, starting with the field {}, and then ending with the marker for `{COMPLETED}`.",
        fields.join(", then ")
    )
}
