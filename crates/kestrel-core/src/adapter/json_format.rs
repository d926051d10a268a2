//! Prompt formatting for the json adapter (HELPER: being written).

use crate::error::Result;
use crate::example::Example;
use crate::message::Message;
use crate::signature::SignatureSpec;

pub(crate) fn format(_signature: &SignatureSpec, _demos: &[Example], _inputs: &Example) -> Result<Vec<Message>> {
    Ok(Vec::new())
}

pub(crate) fn response_format(_signature: &SignatureSpec) -> serde_json::Value {
    serde_json::Value::Null
}
