//! Parser for DSPy's signature strings (`"context: list[str], question -> answer: int"`).

use crate::error::{CoreError, Result};
use crate::signature::SignatureSpec;

/// Parse a DSPy signature string.
pub(crate) fn parse_signature(text: &str) -> Result<SignatureSpec> {
    // HELPER: implement
    Err(CoreError::SignatureSyntax { input: text.to_string(), position: 0, message: "not implemented".into() })
}
