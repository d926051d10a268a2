//! Python text conventions that DSPy's prompts inherit: `str()` and `repr()` of
//! JSON values (`True`, `None`, `2.0`), `json.dumps` (compact with `", "` /
//! `": "` separators, or `indent=2`), `str.strip`, `str.splitlines` and
//! `textwrap.dedent`.

use serde_json::{Number, Value};

/// Python's `str.isspace` for one character (Unicode whitespace plus the
/// ASCII information separators `\x1c`..`\x1f`).
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `str.strip()` with no arguments.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `str.splitlines()` (no line ends kept, no trailing empty line).
pub(crate) fn py_splitlines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let is_break =
            matches!(c, '\n' | '\r' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}' | '\u{2029}');
        if is_break {
            lines.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(j, '\n')) = chars.peek() {
                    chars.next();
                    end = j + 1;
                }
            }
            start = end;
        }
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// Python's `textwrap.dedent`: blank (space/tab only) lines are emptied and the
/// longest common leading run of spaces and tabs is removed from every line.
pub(crate) fn py_dedent(text: &str) -> String {
    let is_blank = |line: &str| !line.is_empty() && line.chars().all(|c| c == ' ' || c == '\t');
    let mut margin: Option<&str> = None;
    for line in text.split('\n') {
        if line.is_empty() || is_blank(line) {
            continue;
        }
        let indent_len = line.len() - line.trim_start_matches([' ', '\t']).len();
        let indent = &line[..indent_len];
        margin = Some(match margin {
            None => indent,
            Some(m) => {
                let common = m.bytes().zip(indent.bytes()).take_while(|(a, b)| a == b).count();
                &m[..common]
            }
        });
    }
    let margin = margin.unwrap_or("");
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if is_blank(line) {
            continue;
        }
        out.push_str(line.strip_prefix(margin).unwrap_or(line));
    }
    out
}

/// Python's `repr(float)`: the shortest digits that round-trip, written in
/// fixed notation with at least one decimal (`2.0`, `0.0001`) or, for very
/// large or small magnitudes, as `1e+16` / `1.5e-05`.
pub(crate) fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // `{:e}` finds how many digits the shortest round-trip form needs;
    // formatting again at that precision rounds exact ties to even, as
    // Python does (`{:e}` alone may round them up).
    let shortest = format!("{x:e}");
    let precision = shortest.split('e').next().map_or(0, |m| m.chars().filter(char::is_ascii_digit).count());
    let sci = format!("{x:.*e}", precision.saturating_sub(1));
    let (negative, body) = match sci.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, sci.as_str()),
    };
    let (mantissa, exp) = body.split_once('e').unwrap_or((body, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let decpt = exp + 1;
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if decpt > -4 && decpt <= 16 {
        let n = digits.len() as i32;
        if decpt <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-decpt) as usize));
            out.push_str(&digits);
        } else if decpt >= n {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (decpt - n) as usize));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..decpt as usize]);
            out.push('.');
            out.push_str(&digits[decpt as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        out.push_str(if e < 0 { "e-" } else { "e+" });
        let abs = e.unsigned_abs();
        if abs < 10 {
            out.push('0');
        }
        out.push_str(&abs.to_string());
    }
    out
}

/// A JSON number as Python writes it: integers as is, floats with `repr`.
pub(crate) fn push_number(out: &mut String, n: &Number) {
    match n.as_f64() {
        Some(f) if n.is_f64() => out.push_str(&py_float_repr(f)),
        _ => out.push_str(&n.to_string()),
    }
}

/// Python's `str(value)` for a value DSPy got from JSON: strings as is,
/// `True` / `False` / `None`, numbers as Python prints them, lists and dicts
/// as their Python `repr`.
pub(crate) fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => {
            let mut out = String::new();
            push_py_repr(&mut out, other);
            out
        }
    }
}

/// Python's `repr` of a JSON-like value (`'a'`, `[1, 'b']`, `{'k': None}`).
pub(crate) fn push_py_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => push_number(out, n),
        Value::String(s) => out.push_str(&crate::types::python_str_repr(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_py_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&crate::types::python_str_repr(k));
                out.push_str(": ");
                push_py_repr(out, v);
            }
            out.push('}');
        }
    }
}

/// `json.dumps(value, ensure_ascii=False)`: `", "` and `": "` separators.
pub(crate) fn json_dumps(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value, None, 0);
    out
}

/// `json.dumps(value, indent=2, ensure_ascii=False)`.
pub(crate) fn json_dumps_indent(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value, Some(2), 0);
    out
}

fn newline_indent(out: &mut String, indent: usize, level: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', indent * level));
}

fn write_json(out: &mut String, value: &Value, indent: Option<usize>, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => push_number(out, n),
        Value::String(s) => push_json_str(out, s),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                separate(out, i, indent, level + 1);
                write_json(out, item, indent, level + 1);
            }
            close(out, ']', indent, level);
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                separate(out, i, indent, level + 1);
                push_json_str(out, k);
                out.push_str(": ");
                write_json(out, v, indent, level + 1);
            }
            close(out, '}', indent, level);
        }
    }
}

fn separate(out: &mut String, index: usize, indent: Option<usize>, level: usize) {
    match indent {
        Some(width) => {
            if index > 0 {
                out.push(',');
            }
            newline_indent(out, width, level);
        }
        None if index > 0 => out.push_str(", "),
        None => {}
    }
}

fn close(out: &mut String, bracket: char, indent: Option<usize>, level: usize) {
    if let Some(width) = indent {
        newline_indent(out, width, level);
    }
    out.push(bracket);
}

/// A JSON string literal with Python's escapes (`ensure_ascii=False`: only
/// `"`, `\` and control characters are escaped).
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_python() {
        let cases = [
            (2.0, "2.0"),
            (12.75, "12.75"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (123456789.125, "123456789.125"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1.5e300, "1.5e+300"),
        ];
        for (x, want) in cases {
            assert_eq!(py_float_repr(x), want, "{x}");
        }
    }

    #[test]
    fn json_dumps_matches_python() {
        let v = json!({"a": [1, 2.5, "z\n\"ü"], "b": {}, "c": [], "d": null, "e": true});
        assert_eq!(json_dumps(&v), r#"{"a": [1, 2.5, "z\n\"ü"], "b": {}, "c": [], "d": null, "e": true}"#);
        assert_eq!(
            json_dumps_indent(&v),
            "{\n  \"a\": [\n    1,\n    2.5,\n    \"z\\n\\\"ü\"\n  ],\n  \"b\": {},\n  \"c\": [],\n  \"d\": null,\n  \"e\": true\n}"
        );
    }

    #[test]
    fn python_text_helpers() {
        assert_eq!(py_splitlines("a\r\nb\n\nc\n"), vec!["a", "b", "", "c"]);
        assert!(py_splitlines("").is_empty());
        assert_eq!(py_dedent("  a\n    b\n  \n  c"), "a\n  b\n\nc");
        assert_eq!(py_dedent("a\n  b"), "a\n  b");
        assert_eq!(py_strip(" \x1c x \n"), "x");
        assert_eq!(py_str(&json!({"k": [true, null, "it's"]})), r#"{'k': [True, None, "it's"]}"#);
    }
}
