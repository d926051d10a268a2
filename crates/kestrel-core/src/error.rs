//! The core error type: [`CoreError`], and [`AdapterParseError`] for LM replies
//! that an adapter cannot read.

use std::fmt;

/// Result alias for this crate.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in `kestrel-core`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A signature string (DSPy syntax) could not be parsed.
    #[error("invalid signature {input:?} at byte {position}: {message}")]
    SignatureSyntax {
        /// The whole string that was given.
        input: String,
        /// Byte offset in `input` where the problem was found.
        position: usize,
        /// What is wrong, in words.
        message: String,
    },
    /// A type annotation such as `list[int]` could not be understood.
    #[error("invalid type {input:?} at byte {position}: {message}")]
    TypeSyntax {
        /// The type text.
        input: String,
        /// Byte offset in `input`.
        position: usize,
        /// What is wrong.
        message: String,
    },
    /// A signature was built with an invalid shape (duplicate field, empty side...).
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// A field named in an operation does not exist.
    #[error("no field named `{0}` in the signature")]
    UnknownField(String),
    /// An input field the signature declares was not supplied.
    #[error("missing input field(s) {missing:?}; the signature expects inputs {expected:?}")]
    MissingInputs {
        /// Input fields that were absent.
        missing: Vec<String>,
        /// All input fields of the signature.
        expected: Vec<String>,
    },
    /// The LM reply could not be parsed into the signature's output fields.
    /// Boxed: it carries the raw completion.
    #[error(transparent)]
    Parse(Box<AdapterParseError>),
    /// A value could not be converted between its JSON form and a Rust type.
    #[error("cannot convert {what}: {message}")]
    Conversion {
        /// What was being converted (e.g. `inputs of QaInput`).
        what: String,
        /// serde's message.
        message: String,
    },
    /// A value does not fit its custom field type (a `History`, `Image`,
    /// `Tool` or `ToolCalls` that is not one).
    #[error("invalid value: {0}")]
    InvalidValue(String),
}

impl From<AdapterParseError> for CoreError {
    fn from(e: AdapterParseError) -> Self {
        CoreError::Parse(Box::new(e))
    }
}

/// An LM reply that an adapter could not turn into the signature's outputs.
///
/// It keeps the raw completion text so no work is lost, and its `Display` is
/// DSPy's own message (`Adapter ChatAdapter failed to parse the LM response. ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterParseError {
    /// `"ChatAdapter"` or `"JSONAdapter"`, as DSPy names them.
    pub adapter_name: String,
    /// The signature's output field names, in order.
    pub expected_fields: Vec<String>,
    /// The fields that were found, or `None` when parsing failed on one value.
    pub parsed_fields: Option<Vec<String>>,
    /// The raw LM completion.
    pub lm_response: String,
    /// A first paragraph naming the field whose value failed to convert.
    pub detail: Option<String>,
}

impl fmt::Display for AdapterParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(detail) = &self.detail {
            write!(f, "{detail}\n\n")?;
        }
        write!(
            f,
            "Adapter {} failed to parse the LM response. \n\nLM Response: {} \n\nExpected to find output fields in the LM response: [{}] \n\n",
            self.adapter_name,
            self.lm_response,
            self.expected_fields.join(", ")
        )?;
        if let Some(parsed) = &self.parsed_fields {
            write!(f, "Actual output fields parsed from the LM response: [{}] \n\n", parsed.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for AdapterParseError {}
