//! Python's `ast.literal_eval` for the values an LM writes in Python syntax
//! (`False`, `None`, `'spam'`, `(1, 2)`, `{'a': [1, 2]}`, `1_000`, `0x1f`).
//!
//! DSPy falls back to `literal_eval` when `json_repair` finds nothing in a
//! value. Tuples and sets become JSON arrays; dict keys that are not strings
//! become their Python `str()` text. Anything `literal_eval` rejects (names,
//! calls, f-strings, complex numbers) gives `None`.

use serde_json::{Map, Value};

use crate::adapter::pyfmt::py_str;
use crate::adapter::repair::{MAX_DEPTH, number_value};

/// Evaluate a Python literal; `None` where Python raises.
pub(crate) fn literal_eval(text: &str) -> Option<Value> {
    let text = text.trim_start_matches([' ', '\t']);
    let mut p = Lit { s: text, i: 0, nest: 0, depth: 0 };
    let first = p.expr()?;
    p.ws();
    let value = if p.peek() == Some(',') {
        // A bare tuple: `1, 2`.
        let mut items = vec![first];
        while p.eat(',') {
            p.ws();
            if p.at_end() {
                break;
            }
            items.push(p.expr()?);
            p.ws();
        }
        Value::Array(items)
    } else {
        first
    };
    p.ws();
    while p.eat('\n') || p.eat('\r') {
        p.ws();
    }
    if p.at_end() { Some(value) } else { None }
}

struct Lit<'a> {
    s: &'a str,
    i: usize,
    /// Bracket nesting: newlines are whitespace only inside brackets.
    nest: usize,
    depth: usize,
}

impl Lit<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\x0c' => self.i += 1,
                '\n' | '\r' if self.nest > 0 => self.i += 1,
                '\\' if self.rest().starts_with("\\\n") => self.i += 2,
                '#' if self.nest > 0 => {
                    let len = self.rest().find('\n').unwrap_or(self.rest().len());
                    self.i += len;
                }
                _ => break,
            }
        }
    }

    fn expr(&mut self) -> Option<Value> {
        self.ws();
        let c = self.peek()?;
        match c {
            '+' | '-' => {
                // One sign, directly on a number (as `literal_eval` allows).
                self.i += 1;
                self.ws();
                if !self.peek().is_some_and(|d| d.is_ascii_digit() || d == '.') {
                    return None;
                }
                let v = self.number()?;
                let n = v.as_number()?;
                if c == '+' {
                    return Some(v);
                }
                if let Some(i) = n.as_i64() {
                    return Some(Value::from(i.checked_neg()?));
                }
                if n.is_u64() {
                    let u = n.as_u64()?;
                    return (u == 1 << 63).then(|| Value::from(i64::MIN));
                }
                serde_json::Number::from_f64(-n.as_f64()?).map(Value::Number)
            }
            '[' => self.seq(']').map(Value::Array),
            '(' => self.paren(),
            '{' => self.brace(),
            '0'..='9' | '.' => self.number(),
            _ => {
                if let Some(s) = self.strings()? {
                    return Some(Value::String(s));
                }
                let end = self.rest().find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(self.rest().len());
                let value = match &self.rest()[..end] {
                    "True" => Value::Bool(true),
                    "False" => Value::Bool(false),
                    "None" => Value::Null,
                    _ => return None,
                };
                self.i += end;
                Some(value)
            }
        }
    }

    fn open(&mut self) -> Option<()> {
        self.i += 1;
        self.nest += 1;
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn close(&mut self, c: char) -> Option<()> {
        self.ws();
        if !self.eat(c) {
            return None;
        }
        self.nest -= 1;
        self.depth -= 1;
        Some(())
    }

    /// Items up to `close`; returns them and whether a comma was seen.
    fn items(&mut self, close: char) -> Option<(Vec<Value>, bool)> {
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            self.ws();
            if self.peek() == Some(close) {
                break;
            }
            items.push(self.expr()?);
            self.ws();
            if self.eat(',') {
                comma = true;
            } else {
                break;
            }
        }
        self.close(close)?;
        Some((items, comma))
    }

    fn seq(&mut self, close: char) -> Option<Vec<Value>> {
        self.open()?;
        self.items(close).map(|(items, _)| items)
    }

    fn paren(&mut self) -> Option<Value> {
        self.open()?;
        let (mut items, comma) = self.items(')')?;
        if items.len() == 1 && !comma { items.pop() } else { Some(Value::Array(items)) }
    }

    /// `{}` (dict), `{k: v, ...}` (dict) or `{a, b}` (set, as a list).
    fn brace(&mut self) -> Option<Value> {
        self.open()?;
        self.ws();
        if self.peek() == Some('}') {
            self.close('}')?;
            return Some(Value::Object(Map::new()));
        }
        let first = self.expr()?;
        self.ws();
        if !self.eat(':') {
            let mut items = vec![first];
            self.ws();
            if self.eat(',') {
                let (rest, _) = self.items('}')?;
                items.extend(rest);
            } else {
                self.close('}')?;
            }
            return Some(Value::Array(items));
        }
        let mut map = Map::new();
        let mut key = first;
        loop {
            let value = self.expr()?;
            map.insert(py_str(&key), value);
            self.ws();
            if !self.eat(',') {
                break;
            }
            self.ws();
            if self.peek() == Some('}') {
                break;
            }
            key = self.expr()?;
            self.ws();
            if !self.eat(':') {
                return None;
            }
        }
        self.close('}')?;
        Some(Value::Object(map))
    }

    fn number(&mut self) -> Option<Value> {
        let s = self.s;
        let rest = &s[self.i..];
        let lower = rest.get(..2).map(str::to_ascii_lowercase);
        let radix = match lower.as_deref() {
            Some("0x") => 16,
            Some("0o") => 8,
            Some("0b") => 2,
            _ => 10,
        };
        if radix != 10 {
            let end = rest[2..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(rest.len(), |e| e + 2);
            let digits: String = rest[2..end].chars().filter(|&c| c != '_').collect();
            self.i += end;
            return u64::from_str_radix(&digits, radix).ok().map(Value::from);
        }
        let bytes = rest.as_bytes();
        let mut end = 0;
        while end < bytes.len() {
            let c = bytes[end];
            let exp_sign = (c == b'+' || c == b'-') && end > 0 && matches!(bytes[end - 1], b'e' | b'E');
            if c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'e' | b'E') || exp_sign {
                end += 1;
            } else {
                break;
            }
        }
        let raw = &rest[..end];
        if rest[end..].starts_with(['j', 'J']) || raw.contains("__") || raw.ends_with('_') {
            return None;
        }
        let is_int = !raw.contains(['.', 'e', 'E']);
        if is_int && raw.len() > 1 && raw.starts_with('0') && raw.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
            return None; // `007` is a syntax error in Python 3
        }
        self.i += end;
        number_value(raw)
    }

    /// One or more adjacent string literals, concatenated; `Ok(None)` when
    /// the cursor is not at a string.
    fn strings(&mut self) -> Option<Option<String>> {
        let mut out: Option<String> = None;
        loop {
            let save = self.i;
            match self.string()? {
                Some(s) => out.get_or_insert_with(String::new).push_str(&s),
                None => {
                    self.i = save;
                    return Some(out);
                }
            }
            let after = self.i;
            self.ws();
            if !self.rest().starts_with(|c: char| c == '\'' || c == '"' || c.is_ascii_alphabetic()) {
                self.i = after;
                return Some(out);
            }
        }
    }

    /// `Some(None)`: not a string here; `None`: a malformed string.
    fn string(&mut self) -> Option<Option<String>> {
        let rest = self.rest();
        let Some(prefix_len) = rest.bytes().take(3).position(|c| c == b'\'' || c == b'"') else {
            return Some(None);
        };
        let prefix = rest[..prefix_len].to_ascii_lowercase();
        let raw = match prefix.as_str() {
            "" | "u" | "b" => false,
            "r" | "rb" | "br" => true,
            _ => return Some(None),
        };
        let body = &rest[prefix_len..];
        let quote = if body.starts_with("'''") || body.starts_with("\"\"\"") { &body[..3] } else { &body[..1] };
        let triple = quote.len() == 3;
        let content_start = self.i + prefix_len + quote.len();
        let mut out = String::new();
        let mut chars = self.s[content_start..].char_indices();
        while let Some((off, c)) = chars.next() {
            if self.s[content_start + off..].starts_with(quote) {
                self.i = content_start + off + quote.len();
                return Some(Some(out));
            }
            match c {
                '\n' if !triple => return None,
                '\\' => {
                    let (_, e) = chars.next()?;
                    if raw {
                        out.push('\\');
                        out.push(e);
                        continue;
                    }
                    match e {
                        '\n' => {}
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'v' => out.push('\u{b}'),
                        '\\' | '\'' | '"' => out.push(e),
                        '0'..='7' => {
                            let mut code = e.to_digit(8)?;
                            for _ in 0..2 {
                                let mut look = chars.clone();
                                match look.next().and_then(|(_, d)| d.to_digit(8)) {
                                    Some(d) => {
                                        code = code * 8 + d;
                                        chars = look;
                                    }
                                    None => break,
                                }
                            }
                            out.push(char::from_u32(code)?);
                        }
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let mut code = 0u32;
                            for _ in 0..n {
                                code = code.checked_mul(16)? + chars.next()?.1.to_digit(16)?;
                            }
                            out.push(char::from_u32(code)?);
                        }
                        other => {
                            out.push('\\');
                            out.push(other);
                        }
                    }
                }
                c => out.push(c),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::literal_eval;
    use serde_json::json;

    #[test]
    fn python_literals() {
        assert_eq!(literal_eval("False"), Some(json!(false)));
        assert_eq!(literal_eval("None"), Some(json!(null)));
        assert_eq!(literal_eval("'spam'"), Some(json!("spam")));
        assert_eq!(literal_eval("(1, 2)"), Some(json!([1, 2])));
        assert_eq!(literal_eval("(1)"), Some(json!(1)));
        assert_eq!(literal_eval("1, 'a'"), Some(json!([1, "a"])));
        assert_eq!(literal_eval("{'a': [1, -2.5], 3: None}"), Some(json!({"a": [1, -2.5], "3": null})));
        assert_eq!(literal_eval("{1, 2}"), Some(json!([1, 2])));
        assert_eq!(literal_eval("1_000"), Some(json!(1000)));
        assert_eq!(literal_eval("0x1f"), Some(json!(31)));
        assert_eq!(literal_eval("1."), Some(json!(1.0)));
        assert_eq!(literal_eval("'a' \"b\""), Some(json!("ab")));
        assert_eq!(literal_eval("'''x\ny'''"), Some(json!("x\ny")));
        assert_eq!(literal_eval("'\\x41\\n'"), Some(json!("A\n")));
    }

    #[test]
    fn rejects_what_python_rejects() {
        for text in
            ["Paris", "forty-two", "Literal['mixed']", "1j", "007", "f'x'", "[1, 2", "'a", "1\n2", "", "-", "{1: }"]
        {
            assert_eq!(literal_eval(text), None, "{text:?}");
        }
        assert_eq!(literal_eval(&"[".repeat(10_000)), None);
    }
}
