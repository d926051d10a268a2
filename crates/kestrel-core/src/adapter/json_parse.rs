//! Reply parsing for the JSON adapter, as DSPy 3.4.1's `JSONAdapter.parse`.
//!
//! The reply is read as (repaired) JSON ([`repair_json`]). When that is not
//! an object, the first balanced `{...}` in the reply is read instead, and
//! the error messages then quote that part as the LM response, as DSPy does.
//! Keys that are not output fields are dropped; each value is converted to
//! its field type ([`parse_value`]), the first failure (in reply order)
//! being the error (it lists the fields found, in reply order). A missing
//! output field whose type allows `None` is `null`; any other missing field
//! is an error listing the fields found, in signature order.
//!
//! [`repair_json`]: crate::adapter::repair::repair_json
//! [`parse_value`]: crate::adapter::coerce::parse_value

use serde_json::Value;

use crate::adapter::coerce::{complete, parse_value};
use crate::adapter::repair::repair_json;
use crate::error::AdapterParseError;
use crate::example::Fields;
use crate::field::FieldSpec;
use crate::signature::SignatureSpec;

const ADAPTER: &str = "JSONAdapter";

pub(crate) fn parse(signature: &SignatureSpec, completion: &str) -> Result<Fields, AdapterParseError> {
    let mut lm_response = completion;
    let mut parsed = repair_json(completion);
    if !matches!(parsed, Some(Value::Object(_))) {
        if let Some(span) = first_balanced_braces(completion) {
            lm_response = span;
            parsed = repair_json(span);
        }
    }
    let error = |parsed_fields, detail| AdapterParseError {
        adapter_name: ADAPTER.to_string(),
        expected_fields: signature.output_names(),
        parsed_fields,
        lm_response: lm_response.to_string(),
        detail,
    };
    let Some(Value::Object(object)) = parsed else {
        return Err(error(None, Some("LM response cannot be serialized to a JSON object.".to_string())));
    };

    let outputs: Vec<&FieldSpec> = signature.output_fields().collect();
    // Output fields in reply order: (field index, raw value).
    let found: Vec<(usize, Value)> =
        object.into_iter().filter_map(|(k, v)| outputs.iter().position(|f| f.name == k).map(|i| (i, v))).collect();
    let found_names = || found.iter().map(|(i, _)| outputs[*i].name.clone()).collect::<Vec<_>>();

    let mut values: Vec<Option<Value>> = vec![None; outputs.len()];
    for (i, raw) in &found {
        match parse_value(raw, &outputs[*i].ty) {
            Ok(v) => values[*i] = Some(v),
            Err(e) => {
                let detail = format!("Failed to parse field {}: {e}", outputs[*i].name);
                return Err(error(Some(found_names()), Some(detail)));
            }
        }
    }
    complete(&outputs, values).map_err(|parsed| error(Some(parsed), None))
}

/// The first `{...}` whose braces balance (DSPy's recursive regex
/// `\{(?:[^{}]|(?R))*\}`): the leftmost `{` that has a matching `}`,
/// through that `}`. Quotes are not special, as in the regex. One pass.
fn first_balanced_braces(text: &str) -> Option<&str> {
    let mut open: Vec<usize> = Vec::new();
    let mut best: Option<(usize, usize)> = None;
    for (i, c) in text.bytes().enumerate() {
        match c {
            b'{' => open.push(i),
            b'}' => {
                if let Some(start) = open.pop() {
                    if best.is_none_or(|(s, _)| start < s) {
                        best = Some((start, i));
                    }
                }
            }
            _ => {}
        }
    }
    best.and_then(|(s, e)| text.get(s..=e))
}

#[cfg(test)]
mod tests {
    use super::first_balanced_braces;

    #[test]
    fn balanced_braces_like_the_regex() {
        assert_eq!(first_balanced_braces("x {a} {b}"), Some("{a}"));
        assert_eq!(first_balanced_braces("{ {a}"), Some("{a}"));
        assert_eq!(first_balanced_braces("{a {b} c} d}"), Some("{a {b} c}"));
        assert_eq!(first_balanced_braces("}{"), None);
        assert_eq!(first_balanced_braces("{{x}"), Some("{x}"));
    }
}
