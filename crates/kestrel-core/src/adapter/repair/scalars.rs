//! The scalar pieces of the repairing JSON reader: quoted strings (with
//! the "does this quote really end the string?" look-ahead), backslash
//! escapes, and numbers.

use serde_json::{Number, Value};

use super::{Ctx, LEFT_SMART, Parser, RIGHT_SMART};

impl Parser<'_> {
    /// A number; text that only starts like one is read as unquoted text.
    pub(super) fn parse_number(&mut self, ctx: Ctx) -> Value {
        let start = self.i;
        while let Some(c) = self.peek() {
            let sign_ok = (c == b'-' || c == b'+') && (self.i == start || matches!(self.b[self.i - 1], b'e' | b'E'));
            if c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'_') || sign_ok {
                self.i += 1;
            } else {
                break;
            }
        }
        if self.rest().chars().next().is_some_and(char::is_alphabetic) {
            self.i = start;
            return Value::String(self.parse_unquoted(ctx));
        }
        // A trailing sign or exponent mark does not belong to the number.
        while self.i > start && matches!(self.b[self.i - 1], b'-' | b'+' | b'e' | b'E') {
            self.i -= 1;
        }
        if self.i == start {
            return Value::String(self.parse_unquoted(ctx));
        }
        let raw = self.s.get(start..self.i).unwrap_or("");
        number_value(raw).unwrap_or_else(|| Value::String(raw.to_string()))
    }

    /// A quoted string starting at the cursor. A closing quote only counts
    /// when what follows fits `ctx`; otherwise it is part of the text. If no
    /// quote fits, the first one closes the string.
    pub(super) fn parse_quoted(&mut self, ctx: Ctx) -> Option<String> {
        let rest = self.rest();
        let (open_len, close) = if rest.starts_with(LEFT_SMART) || rest.starts_with(RIGHT_SMART) {
            (LEFT_SMART.len(), '\u{201d}')
        } else {
            (1, char::from(*self.b.get(self.i)?))
        };
        let start = self.i + open_len;
        let cached_no_close = self.no_close.iter().any(|&(d, c, pos)| d == close && c == ctx && pos <= start);
        let mut out = String::new();
        let mut first_close: Option<(usize, usize)> = None; // (byte index of quote, out length)
        let mut chars = self.s.get(start..).unwrap_or("").char_indices().peekable();
        while let Some((off, ch)) = chars.next() {
            let pos = start + off;
            if ch == '\\' {
                match chars.next() {
                    Some((_, e)) => push_escape(&mut out, e, &mut chars),
                    None => out.push('\\'),
                }
                continue;
            }
            if ch == close {
                let after = pos + ch.len_utf8();
                if cached_no_close || self.close_fits(after, ctx) {
                    self.i = after;
                    return Some(out);
                }
                if first_close.is_none() {
                    first_close = Some((pos, out.len()));
                }
            }
            out.push(ch);
        }
        match first_close {
            Some((pos, len)) => {
                if !self.no_close.iter().any(|&(d, c, _)| d == close && c == ctx) {
                    self.no_close.push((close, ctx, start));
                }
                out.truncate(len);
                self.i = pos + close.len_utf8();
            }
            None => {
                // Never closed: closing brackets at the very end still close
                // the containers rather than joining the text.
                let source = self.s.get(start..).unwrap_or("");
                let body = source.trim_end_matches(['}', ']', ' ', '\t', '\r', '\n']);
                let tail = source.len() - body.len();
                let has_closer = source[body.len()..].contains(['}', ']']);
                if ctx != Ctx::Key && has_closer && out.len() >= tail {
                    out.truncate(out.len() - tail);
                    self.i = self.b.len() - tail;
                } else {
                    self.i = self.b.len();
                }
                let trimmed = out.trim_end().len();
                out.truncate(trimmed);
            }
        }
        Some(out)
    }

    /// Whether a quote ending just before byte `after` can close a string in `ctx`.
    fn close_fits(&self, after: usize, ctx: Ctx) -> bool {
        let tail = self.s.get(after..).unwrap_or("");
        let next = tail.trim_start().chars().next();
        match next {
            None => true,
            Some(c) => match ctx {
                Ctx::Key => c == ':',
                // A quote right after only ends the value when a key
                // follows (a missing comma), not in `"he said "no""`.
                Ctx::Value => {
                    matches!(c, ',' | '}' | ']') || ((c == '"' || c == '\'') && quoted_key_follows(tail.trim_start()))
                }
                Ctx::Array => matches!(c, ',' | ']' | '"' | '\'') || c == '\u{201c}',
            },
        }
    }
}

/// `text` starts with a quoted key followed by `:`. Looks no further than
/// the next matching quote, so scans stay short.
fn quoted_key_follows(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(quote) = chars.next() else { return false };
    let rest = chars.as_str();
    match rest.find(quote) {
        Some(end) => rest[end + quote.len_utf8()..].trim_start().starts_with(':'),
        None => false,
    }
}

/// Decode one backslash escape (`e` is the character after the backslash).
fn push_escape(out: &mut String, e: char, chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) {
    match e {
        'n' => out.push('\n'),
        't' => out.push('\t'),
        'r' => out.push('\r'),
        'b' => out.push('\u{8}'),
        'f' => out.push('\u{c}'),
        '/' | '"' | '\'' | '\\' => out.push(e),
        'u' => {
            let Some(first) = read_hex4(chars) else {
                out.push_str("\\u");
                return;
            };
            let code = if (0xD800..0xDC00).contains(&first) {
                let mut look = chars.clone();
                let low = match (look.next(), look.next()) {
                    (Some((_, '\\')), Some((_, 'u'))) => read_hex4(&mut look).filter(|l| (0xDC00..0xE000).contains(l)),
                    _ => None,
                };
                match low {
                    Some(low) => {
                        *chars = look;
                        0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
                    }
                    None => 0xFFFD,
                }
            } else {
                first
            };
            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
        }
        other => {
            out.push('\\');
            out.push(other);
        }
    }
}

fn read_hex4(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<u32> {
    let mut look = chars.clone();
    let mut code = 0u32;
    for _ in 0..4 {
        let (_, c) = look.next()?;
        code = code * 16 + c.to_digit(16)?;
    }
    *chars = look;
    Some(code)
}

pub(super) fn is_quote_start(c: u8, rest: &str) -> bool {
    c == b'"' || c == b'\'' || rest.starts_with(LEFT_SMART) || rest.starts_with(RIGHT_SMART)
}

/// A JSON number from number-like text (`_` separators dropped), as Python
/// would read it: integers stay integers, anything with `.`/`e` is a float.
pub(crate) fn number_value(raw: &str) -> Option<Value> {
    let cleaned: String = raw.chars().filter(|&c| c != '_').collect();
    let body = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    if body.is_empty() || body.starts_with(['+', '-']) && body.len() == 1 {
        return None;
    }
    if body.contains(['.', 'e', 'E']) {
        let has_digit = body.bytes().any(|c| c.is_ascii_digit());
        let f: f64 = body.parse().ok().filter(|_| has_digit)?;
        return Number::from_f64(f).map(Value::Number);
    }
    if let Ok(n) = body.parse::<i64>() {
        return Some(Value::from(n));
    }
    if let Ok(n) = body.parse::<u64>() {
        return Some(Value::from(n));
    }
    let digits = body.strip_prefix('-').unwrap_or(body);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        return body.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number);
    }
    None
}
