//! DSPy's `JSONAdapter`: JSON objects and structured outputs.

use serde_json::Value;

use crate::adapter::{Adapter, json_format, json_parse};
use crate::error::{AdapterParseError, Result};
use crate::example::{Example, Fields};
use crate::message::Message;
use crate::signature::SignatureSpec;

/// DSPy 3.4.1's `JSONAdapter`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonAdapter;

impl Adapter for JsonAdapter {
    fn name(&self) -> &'static str {
        "JSONAdapter"
    }

    fn format(&self, signature: &SignatureSpec, demos: &[Example], inputs: &Example) -> Result<Vec<Message>> {
        json_format::format(signature, demos, inputs)
    }

    fn format_prefix(&self, signature: &SignatureSpec, demos: &[Example]) -> Option<Vec<Message>> {
        if crate::adapter::prompt::unsplittable(signature) {
            return None;
        }
        Some(json_format::format_prefix(signature, demos))
    }

    fn format_request(&self, signature: &SignatureSpec, inputs: &Example) -> Option<Option<Message>> {
        if crate::adapter::prompt::unsplittable(signature) {
            return None;
        }
        Some(json_format::format_request(signature, inputs))
    }

    fn response_format(&self, signature: &SignatureSpec) -> Option<Value> {
        Some(json_format::response_format(signature))
    }

    fn parse(&self, signature: &SignatureSpec, completion: &str) -> std::result::Result<Fields, AdapterParseError> {
        json_parse::parse(signature, completion)
    }
}
