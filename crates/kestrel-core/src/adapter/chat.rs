//! DSPy's `ChatAdapter`: `[[ ## field ## ]]` sections.

use crate::adapter::{Adapter, OutputStructure, chat_format, chat_parse};
use crate::error::{AdapterParseError, Result};
use crate::example::{Example, Fields};
use crate::message::Message;
use crate::signature::SignatureSpec;

/// DSPy 3.4.1's `ChatAdapter`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChatAdapter;

impl Adapter for ChatAdapter {
    fn name(&self) -> &'static str {
        "ChatAdapter"
    }

    fn format(&self, signature: &SignatureSpec, demos: &[Example], inputs: &Example) -> Result<Vec<Message>> {
        chat_format::format(signature, demos, inputs)
    }

    fn format_prefix(&self, signature: &SignatureSpec, demos: &[Example]) -> Option<Vec<Message>> {
        if crate::adapter::prompt::unsplittable(signature) {
            return None;
        }
        Some(chat_format::format_prefix(signature, demos))
    }

    fn format_request(&self, signature: &SignatureSpec, inputs: &Example) -> Option<Option<Message>> {
        if crate::adapter::prompt::unsplittable(signature) {
            return None;
        }
        Some(chat_format::format_request(signature, inputs))
    }

    fn output_structure(&self, signature: &SignatureSpec) -> Option<OutputStructure> {
        Some(OutputStructure::for_signature(signature))
    }

    fn format_finetune_data(
        &self,
        signature: &SignatureSpec,
        demos: &[Example],
        inputs: &Example,
        outputs: &Example,
    ) -> Option<Result<Vec<Message>>> {
        Some(chat_format::format(signature, demos, inputs).map(|mut messages| {
            messages.push(Message::assistant(chat_format::assistant_message_content(signature, outputs)));
            messages
        }))
    }

    fn parse(&self, signature: &SignatureSpec, completion: &str) -> std::result::Result<Fields, AdapterParseError> {
        chat_parse::parse(signature, completion)
    }
}
