//! The grammars a request asks for: the ChatAdapter's field structure as a
//! Lark grammar (llguidance's Lark frontend), or a `response_format` JSON
//! schema.
//!
//! The Lark grammar spells out exactly what core's ChatAdapter parser reads:
//! `[[ ## field ## ]]\n<value>\n\n` for each output field in order, then
//! `[[ ## completed ## ]]`. Values follow their [`ValueShape`]: free text
//! that never contains a marker's opening `[[ ## `, the digits of an
//! integer, a bounded decimal number, a boolean word, one of a `Literal`'s
//! texts, or a JSON value of the field's schema.

use kestrel_core::{OutputStructure, ValueShape};
use llguidance::api::TopLevelGrammar;
use serde_json::{Value, json};

use crate::LocalError;

/// What follows a free-text value: the next field's marker, or the
/// completion marker. A free-text value is a lazy rule ending at this
/// suffix, since its own text may hold blank lines.
const COMPLETED: &str = "\n\n[[ ## completed ## ]]";

/// Free text without `[[ ## ` anywhere in it.
const TEXT_TERMINAL: &str = r"TEXT: /(?s:.*)/ & ~/(?s:.*)\[\[ ## (?s:.*)/";

/// An optional sign and at most 18 digits (always an `i64`).
const INT_REGEX: &str = r"/-?[0-9]{1,18}/";

/// A decimal number whose exponent stays finite as an `f64`.
const FLOAT_REGEX: &str = r"/-?[0-9]{1,16}(\.[0-9]{1,16})?([eE][-+]?[0-9]{1,2})?/";

/// JSON whitespace between tokens: at most this much per gap, so a model
/// can indent as its demos do but never loops on whitespace.
const JSON_WHITESPACE: &str = r"[\x20\x0A\x0D\x09]{1,24}";

/// The Lark grammar of a ChatAdapter reply with `structure`'s fields.
pub fn chat_lark(structure: &OutputStructure) -> Result<String, LocalError> {
    if structure.fields.is_empty() {
        return Err(LocalError::Constraint { message: "the output structure has no fields".into() });
    }
    if let Some(bad) = structure.fields.iter().find(|f| !is_field_name(&f.name)) {
        return Err(LocalError::Constraint { message: format!("`{}` is not a field name", bad.name) });
    }
    let mut start = Vec::new();
    let mut rules = Vec::new();
    // Literal text not yet emitted: the marker line before the next value.
    let mut pending = format!("[[ ## {} ## ]]\n", structure.fields[0].name);
    for (i, field) in structure.fields.iter().enumerate() {
        let next = match structure.fields.get(i + 1) {
            Some(next) => format!("\n\n[[ ## {} ## ]]\n", next.name),
            None => COMPLETED.to_string(),
        };
        if !pending.is_empty() {
            start.push(lark_string(&pending));
            pending.clear();
        }
        let rule = format!("v{i}");
        start.push(rule.clone());
        match &field.shape {
            ValueShape::Text => {
                // The lazy rule emits the separator itself (its suffix).
                rules.push(format!("{rule}[suffix={}]: TEXT", lark_string(&next)));
                continue;
            }
            ValueShape::Int => rules.push(format!("{rule}: {INT_REGEX}")),
            ValueShape::Float => rules.push(format!("{rule}: {FLOAT_REGEX}")),
            ValueShape::Bool => rules.push(format!(r#"{rule}: "true" | "false" | "True" | "False""#)),
            ValueShape::OneOf { choices } if !choices.is_empty() => {
                let alternatives: Vec<String> = choices.iter().map(|c| lark_string(c)).collect();
                rules.push(format!("{rule}: {}", alternatives.join(" | ")));
            }
            ValueShape::OneOf { .. } => {
                return Err(LocalError::Constraint { message: format!("field `{}` has no allowed value", field.name) });
            }
            ValueShape::Json { schema } => rules.push(format!("{rule}: %json {}", json_schema_text(schema)?)),
            other => {
                return Err(LocalError::Constraint { message: format!("unsupported value shape {other:?}") });
            }
        }
        pending = next;
    }
    if !pending.is_empty() {
        start.push(lark_string(&pending));
    }
    let mut grammar = format!("start: {}\n", start.join(" "));
    for rule in rules {
        grammar.push_str(&rule);
        grammar.push('\n');
    }
    grammar.push_str(TEXT_TERMINAL);
    grammar.push('\n');
    Ok(grammar)
}

/// The grammar of a ChatAdapter reply with `structure`'s fields.
pub fn chat_grammar(structure: &OutputStructure) -> Result<TopLevelGrammar, LocalError> {
    Ok(TopLevelGrammar::from_lark(chat_lark(structure)?))
}

/// The grammar a `response_format` asks for: a JSON value of the schema of
/// `{"type": "json_schema", "json_schema": {"schema": ..}}`, any JSON
/// object for `{"type": "json_object"}`, none for `{"type": "text"}`.
pub fn response_format_grammar(format: &Value) -> Result<Option<TopLevelGrammar>, LocalError> {
    let bad = |message: String| LocalError::Constraint { message };
    let schema = match format.get("type").and_then(Value::as_str) {
        Some("json_schema") => format
            .get("json_schema")
            .and_then(|j| j.get("schema"))
            .cloned()
            .ok_or_else(|| bad("response_format json_schema without a `json_schema.schema`".into()))?,
        Some("json_object") => json!({"type": "object"}),
        Some("text") => return Ok(None),
        _ => return Err(bad(format!("unsupported response_format {format}"))),
    };
    Ok(Some(TopLevelGrammar::from_json_schema(with_json_options(schema)?)))
}

/// `schema` with llguidance's JSON options: bounded whitespace.
fn with_json_options(schema: Value) -> Result<Value, LocalError> {
    let Value::Object(mut map) = schema else {
        return Err(LocalError::Constraint { message: format!("a JSON schema must be an object, got {schema}") });
    };
    map.insert("x-guidance".into(), json!({"whitespace_pattern": JSON_WHITESPACE}));
    Ok(Value::Object(map))
}

/// The schema as inline JSON for a Lark `%json` rule.
fn json_schema_text(schema: &Value) -> Result<String, LocalError> {
    Ok(with_json_options(schema.clone())?.to_string())
}

/// A Lark string literal (JSON escapes, which llguidance's Lark reads).
fn lark_string(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// Python's `\w+` over the name, as the ChatAdapter's marker match.
fn is_field_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use kestrel_core::SignatureSpec;

    use super::*;

    #[test]
    fn the_lark_grammar_spells_the_chat_layout() {
        let sig = SignatureSpec::parse("q -> label: Literal['a', 'b'], notes, n: int").unwrap();
        let lark = chat_lark(&OutputStructure::for_signature(&sig)).unwrap();
        let expected = concat!(
            r#"start: "[[ ## label ## ]]\n" v0 "\n\n[[ ## notes ## ]]\n" v1 v2 "\n\n[[ ## completed ## ]]""#,
            "\n",
            r#"v0: "a" | "b""#,
            "\n",
            r#"v1[suffix="\n\n[[ ## n ## ]]\n"]: TEXT"#,
            "\n",
            "v2: /-?[0-9]{1,18}/\n",
        );
        assert_eq!(lark, format!("{expected}{TEXT_TERMINAL}\n"));
    }

    #[test]
    fn bad_structures_and_formats_are_typed_errors() {
        let empty = OutputStructure { fields: Vec::new() };
        assert!(matches!(chat_lark(&empty), Err(LocalError::Constraint { .. })));
        assert!(matches!(response_format_grammar(&json!({"type": "xml"})), Err(LocalError::Constraint { .. })));
        assert!(matches!(response_format_grammar(&json!({"type": "json_schema"})), Err(LocalError::Constraint { .. })));
        assert!(response_format_grammar(&json!({"type": "text"})).unwrap().is_none());
    }
}
