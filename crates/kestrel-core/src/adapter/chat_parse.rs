//! Reply parsing for the chat adapter (HELPER: being written).

use crate::error::AdapterParseError;
use crate::example::Fields;
use crate::signature::SignatureSpec;

pub(crate) fn parse(_signature: &SignatureSpec, _completion: &str) -> Result<Fields, AdapterParseError> {
    Ok(Fields::new())
}
