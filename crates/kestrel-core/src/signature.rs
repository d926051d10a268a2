//! [`SignatureSpec`]: the runtime description of an LM step (ordered input and
//! output fields plus instructions), and the [`Signature`] traits that typed
//! signatures (`#[derive(Signature)]`) implement.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{CoreError, Result};
use crate::example::{Example, Prediction};
use crate::field::{FieldSpec, Io};

/// The input and output types a predictor is called with.
///
/// Typed signatures (`#[derive(Signature)]`) use generated structs;
/// [`Dynamic`] uses [`Example`] and [`Prediction`].
pub trait SignatureTypes: Send + Sync + 'static {
    /// What a call takes.
    type Input: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What a call returns.
    type Output: Serialize + DeserializeOwned + Send + Sync + 'static;
}

/// A signature known at compile time, usually from `#[derive(Signature)]`.
pub trait Signature: SignatureTypes {
    /// The runtime description of this signature.
    fn spec() -> SignatureSpec;
}

/// The marker for signatures built at run time (from a string or by hand):
/// calls take an [`Example`] and return a [`Prediction`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dynamic;

impl SignatureTypes for Dynamic {
    type Input = Example;
    type Output = Prediction;
}

/// An ordered list of input and output fields plus instructions.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureSpec {
    fields: Vec<FieldSpec>,
    instructions: String,
}

impl SignatureSpec {
    /// Build a signature from fields; `instructions` of `None` gives DSPy's
    /// default (``Given the fields `a`, produce the fields `b`.``).
    ///
    /// Field names must be unique identifiers; inputs and outputs may come in
    /// any order (they are kept as given within each side).
    pub fn new(mut fields: Vec<FieldSpec>, instructions: Option<String>) -> Result<Self> {
        validate_fields(&fields)?;
        // Inputs first (stable), so equal signatures compare equal however
        // their fields were interleaved.
        fields.sort_by_key(|f| f.io == Io::Output);
        let mut spec = Self { fields, instructions: String::new() };
        spec.instructions = match instructions {
            Some(text) => text,
            None => spec.default_instructions(),
        };
        Ok(spec)
    }

    /// Parse DSPy's string syntax: `"context: list[str], question -> answer: int"`.
    pub fn parse(text: &str) -> Result<Self> {
        crate::signature_parse::parse_signature(text)
    }

    /// DSPy's default instructions for the current fields.
    pub fn default_instructions(&self) -> String {
        let names = |io: Io| {
            self.fields.iter().filter(|f| f.io == io).map(|f| format!("`{}`", f.name)).collect::<Vec<_>>().join(", ")
        };
        format!("Given the fields {}, produce the fields {}.", names(Io::Input), names(Io::Output))
    }

    /// The instructions text.
    pub fn instructions(&self) -> &str {
        &self.instructions
    }

    /// All fields: inputs first, then outputs.
    pub fn fields(&self) -> impl Iterator<Item = &FieldSpec> {
        self.input_fields().chain(self.output_fields())
    }

    /// Input fields in order.
    pub fn input_fields(&self) -> impl Iterator<Item = &FieldSpec> {
        self.fields.iter().filter(|f| f.io == Io::Input)
    }

    /// Output fields in order.
    pub fn output_fields(&self) -> impl Iterator<Item = &FieldSpec> {
        self.fields.iter().filter(|f| f.io == Io::Output)
    }

    /// Input field names in order.
    pub fn input_names(&self) -> Vec<String> {
        self.input_fields().map(|f| f.name.clone()).collect()
    }

    /// Output field names in order.
    pub fn output_names(&self) -> Vec<String> {
        self.output_fields().map(|f| f.name.clone()).collect()
    }

    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// A field by name, mutably (to change its description or prefix).
    pub fn field_mut(&mut self, name: &str) -> Option<&mut FieldSpec> {
        self.fields.iter_mut().find(|f| f.name == name)
    }

    /// A copy with new instructions.
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = instructions.into();
        self
    }

    /// Replace the instructions in place.
    pub fn set_instructions(&mut self, instructions: impl Into<String>) {
        self.instructions = instructions.into();
    }

    /// A copy with `field` added at the end of its side (inputs or outputs).
    pub fn append(self, field: FieldSpec) -> Result<Self> {
        let index = self.side_len(field.io);
        self.insert(index, field)
    }

    /// A copy with `field` added at the start of its side. ChainOfThought
    /// uses this to put `reasoning` before the outputs.
    pub fn prepend(self, field: FieldSpec) -> Result<Self> {
        self.insert(0, field)
    }

    /// A copy with `field` inserted at `index` among the fields of its side;
    /// `index` may equal the side's length (append). As in DSPy, the
    /// instructions are kept as they are.
    pub fn insert(mut self, index: usize, field: FieldSpec) -> Result<Self> {
        let side_len = self.side_len(field.io);
        if index > side_len {
            return Err(CoreError::InvalidSignature(format!(
                "cannot insert `{}` at position {index}: the {} side has {side_len} field(s)",
                field.name,
                io_word(field.io)
            )));
        }
        let mut side: Vec<FieldSpec> = self.fields.iter().filter(|f| f.io == field.io).cloned().collect();
        let other: Vec<FieldSpec> = self.fields.iter().filter(|f| f.io != field.io).cloned().collect();
        side.insert(index, field);
        let (inputs, outputs) = match side.first().map(|f| f.io) {
            Some(Io::Input) => (side, other),
            _ => (other, side),
        };
        let fields: Vec<FieldSpec> = inputs.into_iter().chain(outputs).collect();
        validate_fields(&fields)?;
        self.fields = fields;
        Ok(self)
    }

    /// A copy without the named field.
    pub fn delete(mut self, name: &str) -> Result<Self> {
        let before = self.fields.len();
        self.fields.retain(|f| f.name != name);
        if self.fields.len() == before {
            return Err(CoreError::UnknownField(name.to_string()));
        }
        Ok(self)
    }

    /// Check that every input field is present in `inputs`.
    pub fn check_inputs(&self, inputs: &Example) -> Result<()> {
        let missing: Vec<String> =
            self.input_fields().filter(|f| !inputs.contains_key(&f.name)).map(|f| f.name.clone()).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(CoreError::MissingInputs { missing, expected: self.input_names() })
        }
    }

    fn side_len(&self, io: Io) -> usize {
        self.fields.iter().filter(|f| f.io == io).count()
    }
}

impl fmt::Display for SignatureSpec {
    /// DSPy's `signature.signature` form: `a, b -> c`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.input_names().join(", "), self.output_names().join(", "))
    }
}

impl FromStr for SignatureSpec {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        SignatureSpec::parse(s)
    }
}

fn io_word(io: Io) -> &'static str {
    match io {
        Io::Input => "input",
        Io::Output => "output",
    }
}

fn validate_fields(fields: &[FieldSpec]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for f in fields {
        if !is_identifier(&f.name) {
            return Err(CoreError::InvalidSignature(format!("`{}` is not a valid field name", f.name)));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(CoreError::InvalidSignature(format!("duplicate field name `{}`", f.name)));
        }
    }
    Ok(())
}

/// True for a Python/Rust-style identifier (letters, digits, `_`, not
/// starting with a digit).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_') && chars.all(|c| c.is_alphanumeric() || c == '_')
}
