//! [`OutputStructure`]: the shape of a ChatAdapter reply, for providers that
//! can constrain decoding to it.
//!
//! A ChatAdapter reply is `[[ ## field ## ]]\n<value>\n\n` for each output
//! field in signature order, then `[[ ## completed ## ]]`. The structure
//! names the fields and, per field, the texts its value may take
//! ([`ValueShape`]): free text for `str`, the digits of an `int`, one of a
//! `Literal`'s or an `Enum`'s values, a JSON value of the type's schema for
//! lists, dicts and models. Every text a shape admits parses back through
//! the ChatAdapter's parser into the field's type; the choices of a
//! `Literal` are chosen so (each is checked against the parser when the
//! structure is built).
//!
//! The structure is pure data (serde), so it rides on an LM request, takes
//! part in its cache key and is turned into a grammar by the provider.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::adapter::coerce::parse_value;
use crate::adapter::pyeq::py_eq;
use crate::adapter::pyfmt::py_str;
use crate::adapter::schema::type_schema;
use crate::field::FieldSpec;
use crate::signature::SignatureSpec;
use crate::types::FieldType;

/// The ChatAdapter's reply layout for a signature: its output fields in
/// order, each with the shape of its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputStructure {
    /// The output fields, in signature order.
    pub fields: Vec<StructuredField>,
}

/// One output field of an [`OutputStructure`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StructuredField {
    /// The field name, as in its `[[ ## name ## ]]` marker.
    pub name: String,
    /// What its value may be.
    pub shape: ValueShape,
}

/// The texts a field's value may take in a ChatAdapter reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ValueShape {
    /// Any text that does not contain a field marker's opening `[[ ## `
    /// (`str`, `Any`, and unions of `str` and `None`).
    Text,
    /// An integer: an optional `-` and decimal digits.
    Int,
    /// A decimal number, optionally with a fraction and an exponent.
    Float,
    /// `true` / `false` (either capitalized as Python writes them or not).
    Bool,
    /// Exactly one of these texts (a `Literal`'s or an `Enum`'s values as
    /// they parse back into the field).
    OneOf {
        /// The allowed texts.
        choices: Vec<String>,
    },
    /// A JSON value valid against this schema (lists, dicts, tuples,
    /// models, other unions).
    Json {
        /// The type's JSON schema (pydantic's layout, as the JSON adapter
        /// uses).
        schema: Value,
    },
}

impl OutputStructure {
    /// The structure of `signature`'s ChatAdapter replies.
    pub fn for_signature(signature: &SignatureSpec) -> Self {
        let fields = signature
            .output_fields()
            .map(|f| StructuredField { name: f.name.clone(), shape: ValueShape::of_field(f) })
            .collect();
        Self { fields }
    }
}

impl ValueShape {
    /// The shape of `field`'s value.
    pub fn of_field(field: &FieldSpec) -> Self {
        Self::of_type(&field.ty)
    }

    /// The shape of a value of type `ty`.
    pub fn of_type(ty: &FieldType) -> Self {
        match ty {
            FieldType::Str | FieldType::Any => ValueShape::Text,
            // DSPy validates these on the raw text, which a `str` member takes.
            FieldType::Union(members) if members.contains(&FieldType::Str) && members.contains(&FieldType::None) => {
                ValueShape::Text
            }
            FieldType::Int => ValueShape::Int,
            FieldType::Float => ValueShape::Float,
            FieldType::Bool => ValueShape::Bool,
            FieldType::Literal(values) => one_of(ty, values.iter()),
            FieldType::Enum { members, .. } => one_of(ty, members.iter().map(|(_, v)| v)),
            _ => ValueShape::Json { schema: type_schema(ty) },
        }
    }
}

/// The texts that parse back into each of `values` as a `ty`: the value's
/// Python `str()` (the text a demo shows), else its JSON text. A value with
/// neither (none known) is left out; a type whose values all are gets the
/// free-text shape, so the constraint never admits nothing.
fn one_of<'a>(ty: &FieldType, values: impl Iterator<Item = &'a Value>) -> ValueShape {
    let mut choices: Vec<String> = Vec::new();
    for value in values {
        let candidates = [py_str(value), value.to_string()];
        let parses = |text: &String| {
            !text.contains("[[ ## ")
                && parse_value(&Value::String(text.clone()), ty).is_ok_and(|parsed| py_eq(&parsed, value))
        };
        if let Some(text) = candidates.iter().find(|t| parses(t)) {
            if !choices.contains(text) {
                choices.push(text.clone());
            }
        }
    }
    if choices.is_empty() { ValueShape::Text } else { ValueShape::OneOf { choices } }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn signature_fields_get_their_shapes() {
        let sig = SignatureSpec::parse(
            "q -> label: Literal['card_arrival', 'change_pin'], n: int, x: float, ok: bool, notes, tags: list[str]",
        )
        .unwrap();
        let s = OutputStructure::for_signature(&sig);
        let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["label", "n", "x", "ok", "notes", "tags"]);
        assert_eq!(s.fields[0].shape, ValueShape::OneOf { choices: vec!["card_arrival".into(), "change_pin".into()] });
        assert_eq!(s.fields[1].shape, ValueShape::Int);
        assert_eq!(s.fields[2].shape, ValueShape::Float);
        assert_eq!(s.fields[3].shape, ValueShape::Bool);
        assert_eq!(s.fields[4].shape, ValueShape::Text);
        assert_eq!(
            s.fields[5].shape,
            ValueShape::Json { schema: json!({"items": {"type": "string"}, "type": "array"}) }
        );
    }

    #[test]
    fn non_string_literals_use_texts_that_parse_back() {
        let ty = FieldType::Literal(vec![json!(1), json!(true), json!("a b")]);
        let ValueShape::OneOf { choices } = ValueShape::of_type(&ty) else { panic!("not one-of") };
        assert_eq!(choices, ["1", "True", "a b"]);
        for (text, value) in choices.iter().zip([json!(1), json!(true), json!("a b")]) {
            assert_eq!(parse_value(&Value::String(text.clone()), &ty).unwrap(), value);
        }
    }
}
