//! DSPy's `XMLAdapter`: `<field>` tags, nested XML for structured outputs.

use crate::adapter::{Adapter, xml_format, xml_parse};
use crate::error::{AdapterParseError, Result};
use crate::example::{Example, Fields};
use crate::message::Message;
use crate::signature::SignatureSpec;

/// DSPy 3.4.1's `XMLAdapter`: every field is a `<name>…</name>` block;
/// lists, dicts and models in outputs are nested XML. Like DSPy's (a
/// `ChatAdapter` subclass), a reply it cannot parse is retried once with
/// the JSON adapter when it is called through `kestrel-lm`.
#[derive(Debug, Clone, Copy, Default)]
pub struct XmlAdapter;

impl Adapter for XmlAdapter {
    fn name(&self) -> &'static str {
        "XMLAdapter"
    }

    fn format(&self, signature: &SignatureSpec, demos: &[Example], inputs: &Example) -> Result<Vec<Message>> {
        xml_format::format(signature, demos, inputs)
    }

    fn format_prefix(&self, signature: &SignatureSpec, demos: &[Example]) -> Option<Vec<Message>> {
        Some(xml_format::format_prefix(signature, demos))
    }

    fn format_request(&self, signature: &SignatureSpec, inputs: &Example) -> Option<Option<Message>> {
        Some(xml_format::format_request(signature, inputs))
    }

    fn parse(&self, signature: &SignatureSpec, completion: &str) -> std::result::Result<Fields, AdapterParseError> {
        xml_parse::parse(signature, completion)
    }
}
