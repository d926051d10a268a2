//! Parser for DSPy's signature strings (`"context: list[str], question -> answer: int"`).
//!
//! The rules follow DSPy 3.4.1 (`_parse_signature`, which reads each side as
//! the parameter list of a Python `def`):
//!
//! - exactly one `->` at bracket depth 0 (outside brackets and quotes);
//! - fields separated by commas at depth 0 (`dict[str, int]` and
//!   `Literal['a, b']` do not split); one trailing comma is allowed, as in
//!   Python (`a, b, -> c`);
//! - each field is `name` (a `str`) or `name: type` (see [`FieldType`]'s
//!   `FromStr`);
//! - names are Python identifiers, not Python keywords (`class`, `from`...),
//!   not starting with `_` (pydantic rejects those), unique across both sides;
//! - the input side may be empty (`-> answer`, as DSPy allows); the output
//!   side may not (a signature must produce something).
//!
//! [`FieldType`]: crate::types::FieldType

use crate::error::{CoreError, Result};
use crate::field::{FieldSpec, Io};
use crate::signature::{SignatureSpec, is_identifier};
use crate::type_parse::{Syntax, parse_type_syntax};
use crate::types::FieldType;

/// Python's hard keywords: `def f(class)` is a syntax error, so DSPy rejects
/// them as field names.
const PYTHON_KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Parse a DSPy signature string.
pub(crate) fn parse_signature(text: &str) -> Result<SignatureSpec> {
    let error =
        |e: Syntax| CoreError::SignatureSyntax { input: text.to_string(), position: e.position, message: e.message };
    let fields = parse_fields(text).map_err(error)?;
    SignatureSpec::new(fields, None)
}

fn parse_fields(text: &str) -> std::result::Result<Vec<FieldSpec>, Syntax> {
    let top = top_level_chars(text)?;
    let arrows: Vec<usize> =
        top.windows(2).filter(|w| w[0].1 == '-' && w[1].1 == '>' && w[1].0 == w[0].0 + 1).map(|w| w[0].0).collect();
    let arrow = match arrows.as_slice() {
        [] => {
            return Err(Syntax {
                position: text.len(),
                message: "missing `->`: a signature is `inputs -> outputs`, e.g. `question -> answer`".into(),
            });
        }
        [one] => *one,
        [_, second, ..] => {
            return Err(Syntax {
                position: *second,
                message: "more than one `->`: a signature has exactly one `->` between inputs and outputs".into(),
            });
        }
    };
    let commas: Vec<usize> = top.iter().filter(|(_, c)| *c == ',').map(|(i, _)| *i).collect();
    let inputs = parse_side(text, 0, arrow, &commas, Io::Input)?;
    let outputs = parse_side(text, arrow + 2, text.len(), &commas, Io::Output)?;
    if outputs.is_empty() {
        return Err(Syntax {
            position: arrow + 2,
            message: "no output fields after `->`: a signature needs at least one output".into(),
        });
    }
    let mut fields: Vec<FieldSpec> = Vec::with_capacity(inputs.len() + outputs.len());
    for (position, field) in inputs.into_iter().chain(outputs) {
        if let Some(first) = fields.iter().find(|f| f.name == field.name) {
            let side = if first.io == Io::Input { "an input" } else { "an output" };
            return Err(Syntax {
                position,
                message: format!("duplicate field name `{}` (already {side} field)", field.name),
            });
        }
        fields.push(field);
    }
    Ok(fields)
}

/// The fields of one side (`text[start..end]`), with the byte offset of each
/// field's name. `commas` are all top-level comma offsets in `text`.
fn parse_side(
    text: &str,
    start: usize,
    end: usize,
    commas: &[usize],
    io: Io,
) -> std::result::Result<Vec<(usize, FieldSpec)>, Syntax> {
    let mut bounds = vec![start];
    bounds.extend(commas.iter().copied().filter(|&c| c >= start && c < end).flat_map(|c| [c, c + 1]));
    bounds.push(end);
    let segments: Vec<(usize, usize)> = bounds.chunks(2).map(|p| (p[0], p.get(1).copied().unwrap_or(end))).collect();
    let last = segments.len() - 1;
    let mut fields = Vec::new();
    for (i, &(s, e)) in segments.iter().enumerate() {
        let segment = text.get(s..e).unwrap_or("");
        if segment.trim().is_empty() {
            if i == last && (i > 0 || last == 0) {
                // A trailing comma (Python allows one) or a side with no fields.
                continue;
            }
            let message = if i == 0 { "empty field before `,`" } else { "empty field between commas" };
            return Err(Syntax { position: e, message: format!("{message}: expected a field name") });
        }
        fields.push(parse_field(text, s, e, io)?);
    }
    Ok(fields)
}

/// One `name` or `name: type` field in `text[start..end]`.
fn parse_field(text: &str, start: usize, end: usize, io: Io) -> std::result::Result<(usize, FieldSpec), Syntax> {
    let segment = text.get(start..end).unwrap_or("");
    let colon = top_level_chars(segment)?.into_iter().find(|(_, c)| *c == ':').map(|(i, _)| i);
    let name_part = match colon {
        Some(i) => segment.get(..i).unwrap_or(""),
        None => segment,
    };
    let name = name_part.trim();
    let name_at = start + (name_part.len() - name_part.trim_start().len());
    check_name(name, name_at, colon.map(|i| start + i))?;
    let ty = match colon {
        None => FieldType::Str,
        Some(i) => {
            let type_text = segment.get(i + 1..).unwrap_or("");
            let type_at = start + i + 1;
            if type_text.trim().is_empty() {
                return Err(Syntax {
                    position: type_at,
                    message: format!("missing type after `{name}:`; write `{name}: str` or just `{name}`"),
                });
            }
            parse_type_syntax(type_text).map_err(|e| Syntax {
                position: type_at + e.position,
                message: format!("field `{name}`: {}", e.message),
            })?
        }
    };
    Ok((name_at, FieldSpec::new(name, io, ty)))
}

/// Reject names DSPy (Python's parser, then pydantic) would reject.
fn check_name(name: &str, at: usize, colon: Option<usize>) -> std::result::Result<(), Syntax> {
    let fail = |message: String| Err(Syntax { position: at, message });
    if name.is_empty() {
        let position = colon.unwrap_or(at);
        return Err(Syntax { position, message: "missing field name before `:`".into() });
    }
    if !is_identifier(name) {
        let hint = if name.split_whitespace().count() > 1 {
            " (a missing comma between fields?)"
        } else if name.contains('=') {
            " (default values are not supported)"
        } else {
            ""
        };
        return fail(format!(
            "`{name}` is not a valid field name{hint}; names are identifiers (letters, digits and `_`, not starting \
             with a digit)"
        ));
    }
    if PYTHON_KEYWORDS.contains(&name) {
        return fail(format!("`{name}` is a Python keyword and cannot be a field name"));
    }
    if name.starts_with('_') {
        let suggestion = match name.trim_start_matches('_') {
            "" => "my_field",
            s => s,
        };
        return fail(format!(
            "field names must not start with an underscore (pydantic rejects them); use `{suggestion}` instead of \
             `{name}`"
        ));
    }
    Ok(())
}

/// The characters of `text` that are at bracket depth 0 and outside string
/// literals, with their byte offsets. Fails on unbalanced brackets and
/// unterminated strings.
pub(crate) fn top_level_chars(text: &str) -> std::result::Result<Vec<(usize, char)>, Syntax> {
    let mut out = Vec::new();
    let mut open: Vec<(usize, char)> = Vec::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' | '"' => skip_string(i, c, &mut chars)?,
            '[' | '(' => open.push((i, c)),
            ']' | ')' => {
                let expected = if c == ']' { '[' } else { '(' };
                match open.pop() {
                    None => return Err(Syntax::new(i, format!("unmatched `{c}` (no opening `{expected}` before it)"))),
                    Some((at, o)) if o != expected => {
                        return Err(Syntax::new(i, format!("`{c}` does not close the `{o}` opened at byte {at}")));
                    }
                    Some(_) => {}
                }
            }
            _ if open.is_empty() => out.push((i, c)),
            _ => {}
        }
    }
    match open.pop() {
        Some((at, o)) => {
            let close = if o == '[' { ']' } else { ')' };
            Err(Syntax::new(at, format!("unclosed `{o}` (no matching `{close}`)")))
        }
        None => Ok(out),
    }
}

/// Skip a string literal opened by `quote` at `start`; a backslash escapes
/// the next character. A newline or the end of the text leaves it unterminated.
fn skip_string(start: usize, quote: char, chars: &mut std::str::CharIndices<'_>) -> std::result::Result<(), Syntax> {
    let unterminated = || Syntax::new(start, format!("unterminated string literal (no closing {quote})"));
    loop {
        match chars.next() {
            Some((_, '\\')) => {
                if chars.next().is_none() {
                    return Err(unterminated());
                }
            }
            Some((_, c)) if c == quote => return Ok(()),
            Some((_, '\n')) | None => return Err(unterminated()),
            Some(_) => {}
        }
    }
}
