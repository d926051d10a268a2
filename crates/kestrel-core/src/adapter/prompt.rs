//! Prompt pieces the chat and JSON adapters share, worded exactly as DSPy
//! 3.4.1 words them: the field lists, type notes, task description, user
//! turns with `[[ ## name ## ]]` blocks, and the sorting of demos.

use crate::adapter::history;
use crate::adapter::pyfmt::{json_dumps, py_str};
use crate::adapter::pytext::{py_dedent, py_splitlines, py_strip};
use crate::adapter::render::field_value;
use crate::adapter::schema::note_schema;
use crate::example::Example;
use crate::field::FieldSpec;
use crate::message::Message;
use crate::signature::SignatureSpec;
use crate::types::FieldType;

/// The header of the field structure section.
pub(crate) const STRUCTURE_HEADER: &str =
    "All interactions will be structured in the following way, with the appropriate values filled in.";

/// The first paragraph of an incomplete demo's user turn.
pub(crate) const INCOMPLETE_DEMO_PREFIX: &str =
    "This is an example of the task, though some input or output fields are not supplied.";

/// What an incomplete demo shows for a missing output.
pub(crate) const NOT_SUPPLIED: &str = "Not supplied for this particular example. ";

/// The parts of a prompt that differ between adapters.
pub(crate) struct Wording {
    /// The field structure section of the system message.
    pub structure: fn(&SignatureSpec) -> String,
    /// A demo's assistant turn.
    pub assistant: fn(&SignatureSpec, &Example) -> String,
    /// The output reminder ending the last user message.
    pub reminder: fn(&SignatureSpec) -> String,
    /// A user turn: (signature, values, prefix, reminder) → content
    /// ([`user_content`] for the `[[ ## name ## ]]` adapters).
    pub user: fn(&SignatureSpec, &Example, &str, Option<&str>) -> String,
}

/// DSPy's `Adapter.format`: the system message, two messages per usable demo
/// (incomplete ones first), then the user message with `inputs`.
/// With a `History` input, its turns come after the demos and the last user
/// message is formatted without it.
pub(crate) fn messages(
    signature: &SignatureSpec,
    demos: &[Example],
    inputs: &Example,
    wording: &Wording,
) -> crate::error::Result<Vec<Message>> {
    let mut messages = prefix(signature, demos, wording);
    match history::history_field(signature) {
        None => messages.extend(request(signature, inputs, wording)),
        Some(name) => {
            let without = signature.clone().delete(name)?;
            messages.extend(history::turns(&without, inputs.get(name), wording)?);
            messages.extend(request(&without, inputs, wording));
        }
    }
    Ok(messages)
}

/// True when the prompt cannot be split into a cached prefix and one
/// request message (a `History` input adds turns before the request).
pub(crate) fn unsplittable(signature: &SignatureSpec) -> bool {
    history::history_field(signature).is_some()
}

/// The part of [`messages`] that depends only on the signature and demos:
/// the system message and the demo turns.
pub(crate) fn prefix(signature: &SignatureSpec, demos: &[Example], wording: &Wording) -> Vec<Message> {
    let (incomplete, complete) = sort_demos(signature, demos);
    let mut messages = Vec::with_capacity(2 + 2 * (incomplete.len() + complete.len()));
    let system = format!(
        "{}\n{}\n{}",
        field_description(signature),
        (wording.structure)(signature),
        task_description(signature.instructions())
    );
    messages.push(Message::system(system));
    for (demo, prefix) in incomplete.iter().map(|d| (d, INCOMPLETE_DEMO_PREFIX)).chain(complete.iter().map(|d| (d, "")))
    {
        messages.push(Message::user((wording.user)(signature, demo, prefix, None)));
        messages.push(Message::assistant((wording.assistant)(signature, demo)));
    }
    messages
}

/// The last user message of [`messages`]: the inputs and the output
/// reminder (none when it would be empty).
pub(crate) fn request(signature: &SignatureSpec, inputs: &Example, wording: &Wording) -> Option<Message> {
    let reminder = (wording.reminder)(signature);
    let content = (wording.user)(signature, inputs, "", Some(&reminder));
    (!content.is_empty()).then(|| Message::user(content))
}

/// Join `parts` with `sep` and strip the result as Python's `str.strip()`.
pub(crate) fn join_strip(parts: &[&str], sep: &str) -> String {
    py_strip(&parts.join(sep)).to_string()
}

/// `Your input fields are: ... Your output fields are: ...`.
fn field_description(signature: &SignatureSpec) -> String {
    format!(
        "Your input fields are:\n{}\nYour output fields are:\n{}",
        field_list(signature.input_fields()),
        field_list(signature.output_fields())
    )
}

/// ``N. `name` (type): description`` lines, with a `Constraints:` line after
/// a constrained field; the whole list is stripped.
pub(crate) fn field_list<'a>(fields: impl Iterator<Item = &'a FieldSpec>) -> String {
    let mut out = String::new();
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{}. `{}` ({}): ", i + 1, field.name, field.ty.python_name()));
        if let Some(desc) = shown_desc(field) {
            out.push_str(desc);
        }
        for custom in custom_types_in(&field.ty) {
            let description = custom.description();
            if !description.is_empty() {
                out.push_str("\n    Type description of ");
                out.push_str(custom.name());
                out.push_str(": ");
                out.push_str(description);
            }
        }
        if let Some(constraints) = field.constraints.as_deref().filter(|c| !c.is_empty()) {
            out.push_str("\nConstraints: ");
            out.push_str(constraints);
        }
    }
    py_strip(&out).to_string()
}

/// DSPy's `extract_custom_type_from_annotation`: the custom types in a
/// type, at any depth, in order.
fn custom_types_in(ty: &FieldType) -> Vec<crate::custom_type::CustomType> {
    match ty {
        FieldType::Custom(c) => vec![*c],
        FieldType::List(t) => custom_types_in(t),
        FieldType::Dict(k, v) => [custom_types_in(k), custom_types_in(v)].concat(),
        FieldType::Tuple(items) | FieldType::Union(items) => items.iter().flat_map(custom_types_in).collect(),
        _ => Vec::new(),
    }
}

/// The description shown in prompts (none for DSPy's `${name}` placeholder).
fn shown_desc(field: &FieldSpec) -> Option<&str> {
    let desc = field.desc.as_deref()?;
    let placeholder = desc.strip_prefix("${").and_then(|d| d.strip_suffix('}')) == Some(field.name.as_str());
    (!placeholder).then_some(desc)
}

/// DSPy's `translate_field_type`: `{name}` plus, for outputs that are not
/// `str`, 8 spaces and a `# note:` telling the LM what the value must be.
pub(crate) fn field_placeholder(field: &FieldSpec) -> String {
    let mut out = format!("{{{}}}", field.name);
    if field.is_input() {
        return out;
    }
    let note = match &field.ty {
        FieldType::Str => return out,
        FieldType::Bool => "must be True or False".to_string(),
        FieldType::Int => "must be a single int value".to_string(),
        FieldType::Float => "must be a single float value".to_string(),
        FieldType::Enum { members, .. } => {
            let values: Vec<String> = members.iter().map(|(_, v)| py_str(v)).collect();
            format!("must be one of: {}", values.join("; "))
        }
        FieldType::Literal(values) => {
            let values: Vec<String> = values.iter().map(py_str).collect();
            format!("must exactly match (no extra characters) one of: {}", values.join("; "))
        }
        other => format!("must adhere to the JSON schema: {}", json_dumps(&note_schema(other))),
    };
    out.push_str("        # note: the value you produce ");
    out.push_str(&note);
    out
}

/// `In adhering to this structure, your objective is: ` and the
/// instructions, each line on its own line after 8 spaces.
fn task_description(instructions: &str) -> String {
    let mut out = String::from("In adhering to this structure, your objective is: ");
    for line in py_splitlines(&py_dedent(instructions)) {
        out.push_str("\n        ");
        out.push_str(line);
    }
    out
}

/// ` (must be formatted as a valid Python T)` for a non-`str` output.
pub(crate) fn type_info(field: &FieldSpec) -> String {
    if field.ty == FieldType::Custom(crate::custom_type::CustomType::ToolCalls) {
        crate::custom_type::TOOL_CALLS_TYPE_INFO.to_string()
    } else if field.ty.is_str() {
        String::new()
    } else {
        format!(" (must be formatted as a valid Python {})", field.ty.python_name())
    }
}

/// `[[ ## name ## ]]\nvalue`.
pub(crate) fn field_block(name: &str, value: &str) -> String {
    let mut out = String::with_capacity(name.len() + value.len() + 12);
    out.push_str("[[ ## ");
    out.push_str(name);
    out.push_str(" ## ]]\n");
    out.push_str(value);
    out
}

/// A user turn: `prefix`, one block per input present in `values`, then the
/// output reminder (for the main request), joined by blank lines and stripped.
pub(crate) fn user_content(
    signature: &SignatureSpec,
    values: &Example,
    prefix: &str,
    requirements: Option<&str>,
) -> String {
    let blocks: Vec<String> = signature
        .input_fields()
        .filter_map(|f| values.get(&f.name).map(|v| field_block(&f.name, &field_value(&f.ty, v))))
        .collect();
    let mut parts: Vec<&str> = Vec::with_capacity(blocks.len() + 3);
    parts.push(prefix);
    parts.extend(blocks.iter().map(String::as_str));
    if let Some(req) = requirements {
        parts.push(req);
    }
    parts.push("");
    join_strip(&parts, "\n\n")
}

/// Demos as DSPy orders them: (incomplete, complete). A demo is complete when
/// every field is present and not null; an incomplete one is kept only when
/// it has at least one input and one output.
pub(crate) fn sort_demos<'a>(signature: &SignatureSpec, demos: &'a [Example]) -> (Vec<&'a Example>, Vec<&'a Example>) {
    let mut incomplete = Vec::new();
    let mut complete = Vec::new();
    for demo in demos {
        let is_complete = signature.fields().all(|f| demo.get(&f.name).is_some_and(|v| !v.is_null()));
        if is_complete {
            complete.push(demo);
        } else if signature.input_fields().any(|f| demo.contains_key(&f.name))
            && signature.output_fields().any(|f| demo.contains_key(&f.name))
        {
            incomplete.push(demo);
        }
    }
    (incomplete, complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_description_indents_lines() {
        assert_eq!(
            task_description("  a\n\n  b"),
            "In adhering to this structure, your objective is: \n        a\n        \n        b"
        );
        assert_eq!(task_description(""), "In adhering to this structure, your objective is: ");
    }
}
