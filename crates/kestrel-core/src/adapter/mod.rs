//! Adapters turn (signature, demos, inputs) into chat messages and LM replies
//! back into output values.
//!
//! [`ChatAdapter`] reproduces DSPy 3.4.1's `ChatAdapter` byte for byte
//! (`[[ ## field ## ]]` markers); [`JsonAdapter`] reproduces `JSONAdapter`
//! (structured outputs); [`XmlAdapter`] reproduces `XMLAdapter` (`<field>`
//! tags); [`two_step`] holds the prompts of `TwoStepAdapter` (its main LM's
//! prompt and the extraction signature). All are pure: they never call an
//! LM. Calling an LM with an adapter, the Chat/XML → JSON fallback and the
//! two-step extraction call live in `kestrel-lm`.

mod chat;
mod chat_format;
mod chat_parse;
mod coerce;
mod history;
mod json;
mod json_format;
mod json_parse;
mod prompt;
mod pyeq;
pub(crate) mod pyfmt;
mod pyliteral;
pub(crate) mod pytext;
mod render;
pub(crate) mod repair;
mod schema;
mod schema_check;
mod strict;
mod structure;
pub mod two_step;
mod xml;
mod xml_format;
mod xml_parse;
mod xml_tree;

use std::fmt;

use serde_json::Value;

use crate::error::{AdapterParseError, Result};
use crate::example::{Example, Fields};
use crate::message::Message;
use crate::signature::SignatureSpec;

pub use chat::ChatAdapter;
pub use json::JsonAdapter;
pub use structure::{OutputStructure, StructuredField, ValueShape};
pub use xml::XmlAdapter;

/// Python's `json.dumps(value, ensure_ascii=False)`, the text DSPy shows for
/// lists, dicts and JSON schemas: `", "` and `": "` separators, object keys
/// in their order, non-ASCII characters as they are (only `"`, `\` and
/// control characters are escaped), and floats as Python's `repr` (`2.0`,
/// `1e+16`).
///
/// ```
/// use serde_json::json;
///
/// let value = json!({"b": [1, 2.0, 1e16], "a": "café \"x\"", "n": null});
/// assert_eq!(
///     kestrel_core::adapter::python_json_dumps(&value),
///     r#"{"b": [1, 2.0, 1e+16], "a": "café \"x\"", "n": null}"#
/// );
/// ```
pub fn python_json_dumps(value: &Value) -> String {
    pyfmt::json_dumps(value)
}

/// Python's `textwrap.dedent`: the longest common leading run of spaces and
/// tabs is removed from every line; lines of only spaces and tabs become
/// empty.
///
/// ```
/// assert_eq!(kestrel_core::adapter::python_dedent("    a\n      b\n  \n    c"), "a\n  b\n\nc");
/// ```
pub fn python_dedent(text: &str) -> String {
    pytext::py_dedent(text)
}

/// Python's `str.splitlines()`: splits on `\n`, `\r\n`, `\r` and the other
/// line boundaries Python knows (`\x0b`, `\x0c`, `\x1c`–`\x1e`, `\x85`,
/// `\u2028`, `\u2029`), without keeping them.
pub fn python_splitlines(text: &str) -> Vec<&str> {
    pytext::py_splitlines(text)
}

/// DSPy's `format_user_message_content(signature, values)` (ChatAdapter's,
/// which JSONAdapter inherits): one `[[ ## name ## ]]` block per input field
/// of `signature` present in `values`, rendered as in prompts, joined by
/// blank lines and stripped. ReAct formats its trajectory with it.
///
/// ```
/// use kestrel_core::{Example, SignatureSpec};
///
/// let sig = SignatureSpec::parse("thought_0, observation_0 -> x").unwrap();
/// let values = Example::from_pairs([("thought_0", serde_json::json!("Look it up.")), ("observation_0", 5.into())]);
/// assert_eq!(
///     kestrel_core::adapter::format_user_message_content(&sig, &values),
///     "[[ ## thought_0 ## ]]\nLook it up.\n\n[[ ## observation_0 ## ]]\n5"
/// );
/// ```
pub fn format_user_message_content(signature: &SignatureSpec, values: &Example) -> String {
    prompt::user_content(signature, values, "", None)
}

/// DSPy's `get_field_description_string`: ``N. `name` (type): description``
/// lines (with a `Constraints:` line under a constrained field), the whole
/// list stripped. Prompts list input and output fields with it; Refine's
/// feedback step describes each module with it.
pub fn field_description_string<'a>(fields: impl IntoIterator<Item = &'a crate::field::FieldSpec>) -> String {
    prompt::field_list(fields.into_iter())
}

/// Formats prompts for a signature and parses replies.
pub trait Adapter: Send + Sync + fmt::Debug {
    /// DSPy's class name (`ChatAdapter`, `JSONAdapter`, `XMLAdapter`), used in errors.
    fn name(&self) -> &'static str;

    /// The full message list: system message, two messages per usable demo,
    /// then the user message with `inputs`.
    fn format(&self, signature: &SignatureSpec, demos: &[Example], inputs: &Example) -> Result<Vec<Message>>;

    /// The messages of [`Adapter::format`] that depend only on the signature
    /// and demos (system message and demo turns), so a predictor can format
    /// them once and reuse them for every call. `None` (the default): the
    /// adapter does not split its prompt, callers use `format`.
    fn format_prefix(&self, _signature: &SignatureSpec, _demos: &[Example]) -> Option<Vec<Message>> {
        None
    }

    /// The rest of [`Adapter::format`] after [`Adapter::format_prefix`]: the
    /// final user message (`Some(None)` when it would be empty). `None`: the
    /// adapter does not split its prompt.
    fn format_request(&self, _signature: &SignatureSpec, _inputs: &Example) -> Option<Option<Message>> {
        None
    }

    /// The `response_format` to put in the request body, if this adapter uses
    /// structured outputs.
    fn response_format(&self, _signature: &SignatureSpec) -> Option<Value> {
        None
    }

    /// The reply structure a provider may constrain decoding to, for LMs
    /// that can ([`OutputStructure`]; ChatAdapter's field sections). `None`
    /// (the default): the adapter asks for none. It never changes the
    /// prompt.
    fn output_structure(&self, _signature: &SignatureSpec) -> Option<OutputStructure> {
        None
    }

    /// DSPy's `format_finetune_data`: the messages this adapter would send
    /// for `inputs` (with `demos`), then the assistant message it would
    /// expect back for `outputs` — one fine-tuning record's `messages`.
    /// `None` (the default): the adapter has no fine-tuning format (DSPy's
    /// `JSONAdapter` raises `NotImplementedError`).
    fn format_finetune_data(
        &self,
        _signature: &SignatureSpec,
        _demos: &[Example],
        _inputs: &Example,
        _outputs: &Example,
    ) -> Option<Result<Vec<Message>>> {
        None
    }

    /// Parse one completion into the signature's output fields (in signature
    /// order, converted to their types).
    fn parse(&self, signature: &SignatureSpec, completion: &str) -> std::result::Result<Fields, AdapterParseError>;
}
