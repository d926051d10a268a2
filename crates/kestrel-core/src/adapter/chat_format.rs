//! Prompt formatting for the chat adapter (HELPER: being written).

use crate::error::Result;
use crate::example::Example;
use crate::message::Message;
use crate::signature::SignatureSpec;

pub(crate) fn format(_signature: &SignatureSpec, _demos: &[Example], _inputs: &Example) -> Result<Vec<Message>> {
    Ok(Vec::new())
}
