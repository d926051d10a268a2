//! Reply parsing for the chat adapter, as DSPy 3.4.1's `ChatAdapter.parse`.
//!
//! The reply is split into lines (Python's `splitlines`). A line whose
//! stripped form starts with `[[ ## name ## ]]` opens a section; the rest of
//! that line belongs to it. Text before the first marker, sections that are
//! not output fields, and repeats of a field are ignored. Each value is
//! stripped and converted to its field type ([`coerce::parse_value`]); the
//! first value that does not convert, in reply order, is the error. A
//! missing output field whose type allows `None` is `null`; any other
//! missing output field is an error listing, in signature order, the fields
//! that were found.
//!
//! One DSPy quirk is kept on purpose: DSPy cuts the text after a marker at
//! the marker's length counted on the *stripped* line but applied to the
//! line as written, so on an indented marker line the kept text starts that
//! many characters early (`  [[ ## a ## ]] x` gives `]] x`).
//!
//! [`coerce::parse_value`]: crate::adapter::coerce::parse_value

use serde_json::Value;

use crate::adapter::coerce::{complete, parse_value};
use crate::adapter::pytext::{py_splitlines, py_strip};
use crate::error::AdapterParseError;
use crate::example::Fields;
use crate::field::FieldSpec;
use crate::signature::SignatureSpec;

const ADAPTER: &str = "ChatAdapter";

pub(crate) fn parse(signature: &SignatureSpec, completion: &str) -> Result<Fields, AdapterParseError> {
    let outputs: Vec<&FieldSpec> = signature.output_fields().collect();
    // First section of each output field, in reply order: (field, lines).
    let mut sections: Vec<(usize, Vec<&str>)> = Vec::new();
    let mut open: Option<usize> = None; // index into `sections` being filled
    for line in py_splitlines(completion) {
        let stripped = py_strip(line);
        if let Some((name, marker_chars)) = match_header(stripped) {
            open = None;
            let Some(field) = outputs.iter().position(|f| f.name == name) else { continue };
            if sections.iter().any(|(f, _)| *f == field) {
                continue;
            }
            let rest = py_strip(skip_chars(line, marker_chars));
            sections.push((field, if rest.is_empty() { Vec::new() } else { vec![rest] }));
            open = Some(sections.len() - 1);
        } else if let Some(i) = open {
            sections[i].1.push(line);
        }
    }

    let error = |parsed_fields, detail| AdapterParseError {
        adapter_name: ADAPTER.to_string(),
        expected_fields: signature.output_names(),
        parsed_fields,
        lm_response: completion.to_string(),
        detail,
    };
    let mut values: Vec<Option<Value>> = vec![None; outputs.len()];
    for (field, lines) in &sections {
        let text = lines.join("\n");
        let text = py_strip(&text);
        let spec = outputs[*field];
        match parse_value(&Value::String(text.to_string()), &spec.ty) {
            Ok(v) => values[*field] = Some(v),
            Err(e) => {
                let detail = format!(
                    "Failed to parse field {} with value {text} from the LM response. Error message: {e}",
                    spec.name
                );
                return Err(error(None, Some(detail)));
            }
        }
    }
    complete(&outputs, values).map_err(|parsed| error(Some(parsed), None))
}

/// `[[ ## name ## ]]` at the start of `line`: the name and the marker's
/// length in characters (Python's `\w+` for the name).
fn match_header(line: &str) -> Option<(&str, usize)> {
    let rest = line.strip_prefix("[[ ## ")?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
    if end == 0 || !rest[end..].starts_with(" ## ]]") {
        return None;
    }
    let name = &rest[..end];
    Some((name, "[[ ## ".len() + name.chars().count() + " ## ]]".len()))
}

/// `line` without its first `n` characters.
fn skip_chars(line: &str, n: usize) -> &str {
    match line.char_indices().nth(n) {
        Some((i, _)) => &line[i..],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_python() {
        let lines: Vec<&str> = py_splitlines("a\r\nb\rc\n\nd\u{2028}e\n");
        assert_eq!(lines, ["a", "b", "c", "", "d", "e"]);
        assert!(py_splitlines("").is_empty());
    }

    #[test]
    fn headers() {
        assert_eq!(match_header("[[ ## answer ## ]] rest"), Some(("answer", 18)));
        assert_eq!(match_header("[[ ## an swer ## ]]"), None);
        assert_eq!(match_header("[[ ##  ## ]]"), None);
        assert_eq!(match_header("[[ ## é_1 ## ]]"), Some(("é_1", 15)));
    }

    #[test]
    fn indented_marker_keeps_dspy_offset() {
        let line = "  [[ ## answer ## ]] Paris";
        let (_, n) = match_header(py_strip(line)).expect("header");
        assert_eq!(py_strip(skip_chars(line, n)), "]] Paris");
    }
}
