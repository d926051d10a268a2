//! Lenient JSON reading for LM replies, modelled on what the Python
//! `json_repair` library (0.64, as DSPy 3.4.1 uses it through
//! `json_repair.loads`) makes of common LM mistakes.
//!
//! [`repair_json`] first tries strict JSON. Otherwise it scans the text: at
//! the top level everything up to the first `{` or `[` is skipped (prose,
//! code fences, `json` tags), and inside a value it accepts single or smart
//! quotes, unquoted keys and values, trailing or doubled commas, missing
//! closing brackets, `//`, `/* */` and `#` comments, Python's
//! `True`/`False`/`None`, and quotes inside strings that do not end them.
//! Several top-level values become a list, as in `json_repair`.
//!
//! `None` means "nothing JSON-like was found" (`json_repair` returns `""`).
//! The scan is linear in the input; nesting deeper than [`MAX_DEPTH`] gives
//! `None` rather than risking the stack.

use serde_json::{Map, Value};

mod scalars;

use scalars::is_quote_start;
pub(crate) use scalars::number_value;

/// Deepest nesting the repairing parser follows.
pub(crate) const MAX_DEPTH: usize = 400;

/// Read `text` as JSON, repairing it as `json_repair.loads` does.
pub(crate) fn repair_json(text: &str) -> Option<Value> {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Some(value);
    }
    let mut parser = Parser { s: text, b: text.as_bytes(), i: 0, depth: 0, too_deep: false, no_close: Vec::new() };
    let value = parser.parse_top();
    if parser.too_deep { None } else { value }
}

/// Where a value sits; decides which characters end unquoted text and which
/// quotes may close a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Key,
    Value,
    Array,
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    depth: usize,
    too_deep: bool,
    /// (closing delimiter, context, position): a scan for that delimiter in
    /// that context from `position` on found no acceptable close, so later
    /// scans need not look again (keeps the parser linear).
    no_close: Vec<(char, Ctx, usize)>,
}

const LEFT_SMART: &str = "\u{201c}";
const RIGHT_SMART: &str = "\u{201d}";

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn rest(&self) -> &str {
        self.s.get(self.i..).unwrap_or("")
    }

    /// Top level: values start only at `{` or `[`; several values become a
    /// list, keeping `json_repair`'s "same shape means an update" rule.
    fn parse_top(&mut self) -> Option<Value> {
        let mut values: Vec<Value> = Vec::new();
        while let Some(start) = self.next_top_start() {
            let comma_before = self.prev_non_ws_is_comma(start);
            self.i = start + 1;
            let value = if self.b[start] == b'{' { self.parse_object() } else { self.parse_array() };
            if self.too_deep {
                return None;
            }
            match values.last() {
                None => values.push(value),
                Some(_) if is_empty_container(&value) => {}
                Some(last) => {
                    if (!comma_before && same_shape(last, &value)) || is_empty_container(last) {
                        values.pop();
                    }
                    values.push(value);
                }
            }
        }
        match values.len() {
            0 => None,
            1 => values.pop(),
            _ => Some(Value::Array(values)),
        }
    }

    /// The next `{` or `[` at the top level, skipping comments.
    fn next_top_start(&mut self) -> Option<usize> {
        while let Some(c) = self.peek() {
            match c {
                b'{' | b'[' => return Some(self.i),
                b'#' | b'/' if self.skip_comment() => {}
                _ => self.i += 1,
            }
        }
        None
    }

    fn prev_non_ws_is_comma(&self, start: usize) -> bool {
        self.b[..start].iter().rev().find(|c| !c.is_ascii_whitespace()) == Some(&b',')
    }

    /// Skip one comment starting at the cursor; false if there is none.
    fn skip_comment(&mut self) -> bool {
        let rest = &self.b[self.i..];
        if rest.starts_with(b"#") || rest.starts_with(b"//") {
            let len = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            self.i += len;
            true
        } else if rest.starts_with(b"/*") {
            let len = find_bytes(&rest[2..], b"*/").map_or(rest.len(), |p| p + 4);
            self.i += len;
            true
        } else {
            false
        }
    }

    fn skip_ws_and_comments(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() {
                self.i += 1;
            } else if self.rest().starts_with('\u{a0}') {
                self.i += '\u{a0}'.len_utf8();
            } else if !((c == b'#' || c == b'/') && self.skip_comment()) {
                break;
            }
        }
    }

    fn enter(&mut self) -> bool {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.too_deep = true;
        }
        !self.too_deep
    }

    /// After the opening `{`.
    fn parse_object(&mut self) -> Value {
        let mut map = Map::new();
        if !self.enter() {
            return Value::Object(map);
        }
        loop {
            self.skip_ws_and_comments();
            let Some(c) = self.peek() else { break };
            match c {
                b'}' => {
                    self.i += 1;
                    break;
                }
                b']' => break,
                b',' | b':' => {
                    self.i += 1;
                    continue;
                }
                b'{' => {
                    // An object where a key belongs: its members join this one.
                    self.i += 1;
                    if let Value::Object(inner) = self.parse_object() {
                        map.extend(inner);
                    }
                    if self.too_deep {
                        break;
                    }
                    continue;
                }
                _ => {}
            }
            let before = self.i;
            let key = self.parse_key();
            if self.too_deep {
                break;
            }
            self.skip_ws_and_comments();
            if self.peek() == Some(b':') {
                self.i += 1;
                self.skip_ws_and_comments();
            }
            let value = match self.peek() {
                None | Some(b',') | Some(b'}') | Some(b']') => Some(Value::String(String::new())),
                _ => self.parse_value(Ctx::Value),
            };
            if self.too_deep {
                break;
            }
            match (key, value) {
                (Some(k), Some(v)) => {
                    map.insert(k, v);
                }
                _ if self.i == before => self.i += 1,
                _ => {}
            }
        }
        self.depth -= 1;
        Value::Object(map)
    }

    fn parse_key(&mut self) -> Option<String> {
        let c = self.peek()?;
        if is_quote_start(c, self.rest()) {
            return self.parse_quoted(Ctx::Key);
        }
        if c == b'[' {
            // A list where a key belongs: read and drop it.
            self.parse_value(Ctx::Key);
            return None;
        }
        let start = self.i;
        while let Some(c) = self.peek() {
            if matches!(c, b':' | b',' | b'}' | b']' | b'\n') {
                break;
            }
            self.i += 1;
        }
        let key = self.s.get(start..self.i).unwrap_or("").trim();
        if key.is_empty() { None } else { Some(key.to_string()) }
    }

    /// After the opening `[`.
    fn parse_array(&mut self) -> Value {
        let mut items = Vec::new();
        if !self.enter() {
            return Value::Array(items);
        }
        loop {
            self.skip_ws_and_comments();
            let Some(c) = self.peek() else { break };
            match c {
                b']' => {
                    self.i += 1;
                    break;
                }
                b'}' => break,
                b',' | b':' => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            let before = self.i;
            let value = self.parse_value(Ctx::Array);
            if self.too_deep {
                break;
            }
            match value {
                Some(v) => items.push(v),
                None if self.i == before => self.i += 1,
                None => {}
            }
        }
        self.depth -= 1;
        Value::Array(items)
    }

    /// One value at the cursor (whitespace already skipped).
    fn parse_value(&mut self, ctx: Ctx) -> Option<Value> {
        self.skip_ws_and_comments();
        let c = self.peek()?;
        match c {
            b'{' => {
                self.i += 1;
                Some(self.parse_object())
            }
            b'[' => {
                self.i += 1;
                Some(self.parse_array())
            }
            b'`' if self.rest().starts_with("```") => self.parse_fenced(ctx),
            _ if is_quote_start(c, self.rest()) => self.parse_quoted(ctx).map(Value::String),
            b'0'..=b'9' | b'-' | b'+' | b'.' => Some(self.parse_number(ctx)),
            _ => {
                if let Some(v) = self.parse_word_literal() {
                    return Some(v);
                }
                let text = self.parse_unquoted(ctx);
                if text.is_empty() { None } else { Some(Value::String(text)) }
            }
        }
    }

    /// A value wrapped in a ```` ``` ```` fence (with an optional language tag).
    fn parse_fenced(&mut self, ctx: Ctx) -> Option<Value> {
        self.i += 3;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.i += 1;
        }
        let value = self.parse_value(ctx);
        self.skip_ws_and_comments();
        if self.rest().starts_with("```") {
            self.i += 3;
        }
        value
    }

    /// `true`/`false`/`null` in any case, and Python's `None`.
    fn parse_word_literal(&mut self) -> Option<Value> {
        let rest = self.rest();
        let end = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let word = &rest[..end];
        let value = if word.eq_ignore_ascii_case("true") {
            Value::Bool(true)
        } else if word.eq_ignore_ascii_case("false") {
            Value::Bool(false)
        } else if word.eq_ignore_ascii_case("null") || word == "None" {
            Value::Null
        } else {
            return None;
        };
        self.i += end;
        Some(value)
    }

    /// Text without quotes, up to what ends a value in `ctx`; trailing
    /// whitespace trimmed.
    fn parse_unquoted(&mut self, ctx: Ctx) -> String {
        let start = self.i;
        while let Some(c) = self.peek() {
            let stop = match ctx {
                Ctx::Key => matches!(c, b':' | b',' | b'}' | b']'),
                Ctx::Value => matches!(c, b',' | b'}' | b']'),
                Ctx::Array => matches!(c, b',' | b']' | b'}'),
            };
            if stop {
                break;
            }
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or("").trim_end().to_string()
    }
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// `json_repair`'s `ObjectComparer.is_same_object`: same types, same keys,
/// same lengths, recursively.
fn same_shape(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_shape(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_shape(v, w)),
        (Value::Number(x), Value::Number(y)) => x.is_f64() == y.is_f64(),
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

#[cfg(test)]
mod tests {
    use super::repair_json;
    use serde_json::json;

    #[test]
    fn repairs_common_llm_mistakes() {
        assert_eq!(
            repair_json("{answer: 'Lyon', score: 7, labels: ['city', 'france',],}"),
            Some(json!({"answer": "Lyon", "score": 7, "labels": ["city", "france"]}))
        );
        assert_eq!(repair_json("['math', 'computing', 'poetry',]"), Some(json!(["math", "computing", "poetry"])));
        assert_eq!(repair_json("```json\n{\"a\": 1}\n```"), Some(json!({"a": 1})));
        assert_eq!(
            repair_json("Sure: {\"a\": True, \"b\": None, \"c\": false}"),
            Some(json!({"a": true, "b": null, "c": false}))
        );
        assert_eq!(repair_json("{\"a\": [1, 2"), Some(json!({"a": [1, 2]})));
        assert_eq!(repair_json("{'name': 'St James's Square'}"), Some(json!({"name": "St James's Square"})));
        assert_eq!(repair_json("{\"t\": \"He said \"hi\" to me\"}"), Some(json!({"t": "He said \"hi\" to me"})));
        assert_eq!(repair_json("{\"a\": 1} // done"), Some(json!({"a": 1})));
        assert_eq!(repair_json("[1] and [2, 3]"), Some(json!([[1], [2, 3]])));
        assert_eq!(repair_json("{\"a\": 1} {\"a\": 2}"), Some(json!({"a": 2})));
        assert_eq!(repair_json("{\"u\": \"\\u00e9\\ud83d\\ude00\"}"), Some(json!({"u": "é😀"})));
        assert_eq!(repair_json("{\"a\": \"abc}"), Some(json!({"a": "abc"})));
        assert_eq!(repair_json("{ {\"a\": \"x\", \"b\": 1}"), Some(json!({"a": "x", "b": 1})));
        assert_eq!(repair_json("{\"k\": 1, {\"a\": 2}}"), Some(json!({"k": 1, "a": 2})));
        assert_eq!(repair_json("{\"a\": \"x\" \"b\": \"y\"}"), Some(json!({"a": "x", "b": "y"})));
        assert_eq!(repair_json("{\"b\": \"he said \"no\"\"}"), Some(json!({"b": "he said \"no\""})));
    }

    #[test]
    fn plain_text_is_nothing() {
        assert_eq!(repair_json("Paris"), None);
        assert_eq!(repair_json("False"), None);
        assert_eq!(repair_json(""), None);
        assert_eq!(repair_json("4"), Some(json!(4)));
        assert_eq!(repair_json("\"spam\""), Some(json!("spam")));
    }

    #[test]
    fn survives_garbage() {
        for text in
            ["{", "[", "{{{{", "}]", "{\"a", "{'a': 'b", "[\"\\", "{\"a\": \"\\u12", "\u{201c}x", "{:}", "[,,,]"]
        {
            let _ = repair_json(text);
        }
        assert_eq!(repair_json(&"[".repeat(100_000)), None);
        let quotes = "[\"a \"b ".repeat(5_000);
        let _ = repair_json(&quotes);
    }
}
