//! Parser for Python type annotations as DSPy signatures write them
//! (`list[str]`, `dict[str, int]`, `Optional[int]`, `Literal['a', 'b']`...).

use crate::error::{CoreError, Result};
use crate::types::FieldType;

/// Parse a type annotation.
pub(crate) fn parse_type(text: &str) -> Result<FieldType> {
    // HELPER: implement
    match text.trim() {
        "str" => Ok(FieldType::Str),
        _ => Err(CoreError::TypeSyntax { input: text.to_string(), position: 0, message: "not implemented".into() }),
    }
}
