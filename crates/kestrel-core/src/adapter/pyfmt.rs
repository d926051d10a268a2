//! How Python writes the values DSPy's prompts and error messages show:
//! `str()` and `repr()` of JSON values (`True`, `None`, `2.0`, `'it\'s'` vs
//! `"it's"`), `repr(float)`, and `json.dumps` (compact with `", "` / `": "`
//! separators, or `indent=2`). Python's `str` methods DSPy uses live in
//! `pytext`, and `==` between values in `pyeq`.

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// Python's `repr(float)`: the shortest digits that round-trip, written in
/// fixed notation with at least one decimal (`2.0`, `0.0001`) when the
/// decimal exponent is in `-4..16`, else as `1e+16` / `1.5e-05`.
pub(crate) fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // `{:e}` gives the shortest round-tripping digits, but when two such
    // candidates are equally near (2**-25 = 2.98023223876953125e-08) it takes
    // the upper one where Python takes the even one (`...312e-08`).
    // Formatting again at that precision rounds the exact value half to even:
    // Python's pick whenever it round-trips, which it may not next to a power
    // of two, where the gap below is half the gap above; there `{:e}` is right.
    let shortest = format!("{x:e}");
    let precision = shortest.split('e').next().map_or(0, |m| m.chars().filter(char::is_ascii_digit).count());
    let even = format!("{x:.*e}", precision.saturating_sub(1));
    let sci = if even.parse::<f64>() == Ok(x) { even } else { shortest };
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
        let _ = write!(out, "{:02}", e.unsigned_abs());
    }
    out
}

/// Python's text for a JSON number: integers as digits, floats as
/// `repr(float)` (`7.0`, `1e+16`).
pub(crate) fn py_number(n: &Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() => py_float_repr(f),
        _ => n.to_string(),
    }
}

/// Python's `str(value)` for a value DSPy got from JSON: strings as is,
/// `True` / `False` / `None`, numbers as Python prints them, lists and dicts
/// as their Python `repr`.
pub(crate) fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr` of the object a JSON value stands for (`'a'`, `7.0`,
/// `[1, 'b']`, `{'k': None}`).
pub(crate) fn py_repr(value: &Value) -> String {
    let mut out = String::new();
    push_py_repr(&mut out, value);
    out
}

/// [`py_repr`], appended to `out`.
pub(crate) fn push_py_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&py_number(n)),
        Value::String(s) => push_py_str_repr(out, s),
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
                push_py_str_repr(out, k);
                out.push_str(": ");
                push_py_repr(out, v);
            }
            out.push('}');
        }
    }
}

/// Python's `repr(str)`: single quotes unless the text holds a single quote
/// and no double quote (`"it's"`, `'both \' and "'`); backslashes, the chosen
/// quote, `\n` / `\r` / `\t` escaped, and characters Python does not print
/// written as `\x..`, `\u....` or `\U........`.
pub(crate) fn py_str_repr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_py_str_repr(&mut out, s);
    out
}

fn push_py_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_py_printable(c) => {
                let _ = match c as u32 {
                    n @ ..0x100 => write!(out, "\\x{n:02x}"),
                    n @ ..0x10000 => write!(out, "\\u{n:04x}"),
                    n => write!(out, "\\U{n:08x}"),
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable` for one character: false for the assigned
/// characters of categories Cc, Cf, Co, Zl, Zp and Zs (but the space).
/// Unassigned code points, which depend on the Python version's Unicode
/// database, count as printable.
fn is_py_printable(c: char) -> bool {
    /// Inclusive ranges of the characters above: the same from Unicode 15
    /// (Python 3.12) on; Python 3.11's Unicode 14 lacks U+13439..U+1343F,
    /// which it escapes as unassigned.
    const NOT_PRINTABLE: [(u32, u32); 28] = [
        (0x0, 0x1f),
        (0x7f, 0xa0),
        (0xad, 0xad),
        (0x600, 0x605),
        (0x61c, 0x61c),
        (0x6dd, 0x6dd),
        (0x70f, 0x70f),
        (0x890, 0x891),
        (0x8e2, 0x8e2),
        (0x1680, 0x1680),
        (0x180e, 0x180e),
        (0x2000, 0x200f),
        (0x2028, 0x202f),
        (0x205f, 0x2064),
        (0x2066, 0x206f),
        (0x3000, 0x3000),
        (0xe000, 0xf8ff),
        (0xfeff, 0xfeff),
        (0xfff9, 0xfffb),
        (0x110bd, 0x110bd),
        (0x110cd, 0x110cd),
        (0x13430, 0x1343f),
        (0x1bca0, 0x1bca3),
        (0x1d173, 0x1d17a),
        (0xe0001, 0xe0001),
        (0xe0020, 0xe007f),
        (0xf0000, 0xffffd),
        (0x100000, 0x10fffd),
    ];
    let n = c as u32;
    if (0x20..0x7f).contains(&n) {
        return true;
    }
    NOT_PRINTABLE
        .binary_search_by(|&(lo, hi)| {
            if hi < n {
                std::cmp::Ordering::Less
            } else if lo > n {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_err()
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
        Value::Number(n) => out.push_str(&py_number(n)),
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
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
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
            (7.0, "7.0"),
            (19.99, "19.99"),
            (1.5e16, "1.5e+16"),
            (123456789012345.0, "123456789012345.0"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (9999999999999998.0, "9999999999999998.0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            // Exact ties between two shortest candidates: Python takes the even one.
            (2f64.powi(-25), "2.9802322387695312e-08"),
            (1e15 + 0.25, "1000000000000000.2"),
            (-(111275153569243.0 + 0.125), "-111275153569243.12"),
            // Powers of two, where the correctly rounded digits do not round-trip.
            (7.120236347223045e-307, "7.120236347223045e-307"),
            (5.641232424577593e-278, "5.641232424577593e-278"),
            (5.858190679279809e-244, "5.858190679279809e-244"),
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
    fn values_print_like_python() {
        assert_eq!(py_str(&json!({"k": [true, null, "it's"]})), r#"{'k': [True, None, "it's"]}"#);
        assert_eq!(py_str(&json!({"a": [1, 2.0, true, null, "it's"]})), "{'a': [1, 2.0, True, None, \"it's\"]}");
        assert_eq!(py_str(&json!("plain")), "plain");
        assert_eq!(py_repr(&json!("plain")), "'plain'");
        assert_eq!(py_repr(&json!([1e16, -0.0, {"it's": "a\nb"}])), "[1e+16, -0.0, {\"it's\": 'a\\nb'}]");
        assert_eq!(py_number(&serde_json::Number::from(7)), "7");
        assert_eq!(py_number(&serde_json::Number::from_f64(7.0).unwrap()), "7.0");
    }

    #[test]
    fn strings_repr_like_python() {
        // Each expectation is `repr(s)` from CPython.
        let cases = [
            ("plain", "'plain'"),
            ("", "''"),
            ("'", "\"'\""),
            ("it's", "\"it's\""),
            ("say \"hi\"", "'say \"hi\"'"),
            ("both ' and \"", "'both \\' and \"'"),
            ("back\\slash", "'back\\\\slash'"),
            ("a\nb\tc\rd", "'a\\nb\\tc\\rd'"),
            ("\x00\x1f\x7f\u{80}\u{9f}", "'\\x00\\x1f\\x7f\\x80\\x9f'"),
            ("nbsp\u{a0}soft\u{ad}", "'nbsp\\xa0soft\\xad'"),
            ("\u{200b}\u{2028}\u{3000}\u{feff}", "'\\u200b\\u2028\\u3000\\ufeff'"),
            ("\u{e0001}\u{f0000}", "'\\U000e0001\\U000f0000'"),
            ("café 日本 😀", "'café 日本 😀'"),
        ];
        for (s, want) in cases {
            assert_eq!(py_str_repr(s), want, "{s:?}");
        }
    }
}
