//! [`FieldListener`]: DSPy 3.4.1's `StreamListener` — one output field's
//! chunks cut out of a predictor's token stream, with DSPy's buffering
//! rules, so the chunks a user sees are the ones DSPy yields for the same
//! tokens (`testdata/streaming/listener_dspy.json` holds DSPy's own outputs
//! and the tests replay them).
//!
//! The rules, for the ChatAdapter (`[[ ## name ## ]]` markers) and the
//! JSON adapter (`"name":`):
//!
//! - Start: a token holding the start indicator (`[` / `"`) opens a start
//!   buffer; tokens are added while the buffer's tail could still begin the
//!   field's marker, and the stream starts once the whole marker is there
//!   (the text after it, left-trimmed, is the first value text). A buffer
//!   that can no longer become the marker is dropped, with the token that
//!   ended it. For the ChatAdapter a single token holding the field marker
//!   and a following marker is a whole reply at once (a cache hit in DSPy):
//!   nothing is streamed.
//! - Body: tokens go to an end buffer. While its trimmed text could begin an
//!   end marker (ends with `[`, `[[`, `[[ `, `[[ #`, `[[ ##` or holds
//!   `[[ ##`; for JSON ends with `"`, `",`, `" `, `"}` or holds `}`) it is
//!   held back, except that beyond 10 held tokens the oldest is released.
//!   Otherwise the buffer is released (for the ChatAdapter cut at its first
//!   `[[`).
//! - End (ChatAdapter): a complete `[[ ## word ## ]]` in the end buffer ends
//!   the field; the buffer up to its `[[` is the last chunk, right-trimmed.
//!   Leading whitespace of the value is dropped and trailing whitespace of
//!   each chunk is held until more text follows.
//! - End (JSON): the `{` + marker + tokens so far form a whole JSON object,
//!   or partial parsing finds a second key: the buffer up to the closing
//!   `}` (or to the next key's name) is the last chunk.
//! - Finalize (the LM call is over): what is still buffered is the last
//!   chunk, held whitespace in front.

use super::partial_json::partial_object_keys;

/// The adapter whose wire format a token stream follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamAdapter {
    /// DSPy's ChatAdapter: `[[ ## field ## ]]` sections.
    Chat,
    /// DSPy's JSONAdapter: one JSON object.
    Json,
}

/// Tokens held back at most while they could form an end marker.
const MAX_HELD_TOKENS: usize = 10;

/// One output field's listener (DSPy's `StreamListener`). Feed it a
/// predictor's token deltas in order with [`FieldListener::receive`], then
/// [`FieldListener::finalize`] when the call is over.
#[derive(Debug, Clone)]
pub struct FieldListener {
    field: String,
    allow_reuse: bool,
    start_queue: Vec<String>,
    end_queue: Vec<String>,
    stream_start: bool,
    stream_end: bool,
    cache_hit: bool,
    json_accumulated: String,
    value_started: bool,
    held_whitespace: String,
}

impl FieldListener {
    /// A listener for output `field`. With `allow_reuse`, a listener whose
    /// field ended starts over on the next token (a predictor called several
    /// times, as in ReAct's loop).
    pub fn new(field: impl Into<String>, allow_reuse: bool) -> Self {
        Self {
            field: field.into(),
            allow_reuse,
            start_queue: Vec::new(),
            end_queue: Vec::new(),
            stream_start: false,
            stream_end: false,
            cache_hit: false,
            json_accumulated: String::new(),
            value_started: false,
            held_whitespace: String::new(),
        }
    }

    /// The field listened to.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// True once the field's start marker was seen.
    pub fn started(&self) -> bool {
        self.stream_start
    }

    /// True when the whole reply came in one token (nothing was streamed).
    pub fn cache_hit(&self) -> bool {
        self.cache_hit
    }

    fn start_identifier(&self, adapter: StreamAdapter) -> String {
        match adapter {
            StreamAdapter::Chat => format!("[[ ## {} ## ]]", self.field),
            StreamAdapter::Json => format!("\"{}\":", self.field),
        }
    }

    fn reset(&mut self) {
        *self = FieldListener::new(std::mem::take(&mut self.field), self.allow_reuse);
    }

    /// Take one token; returns `(chunk, is_last_chunk)` when the field has
    /// text to give.
    pub fn receive(&mut self, adapter: StreamAdapter, token: &str) -> Option<(String, bool)> {
        if self.stream_end {
            if !self.allow_reuse {
                return None;
            }
            self.reset();
        }
        let start = self.start_identifier(adapter);
        let mut text = token.to_string();
        if adapter == StreamAdapter::Chat
            && let Some(at) = text.find(&start)
            && find_chat_marker(&text[at + start.len()..]).is_some()
        {
            self.cache_hit = true;
            self.stream_start = true;
            self.stream_end = true;
            return None;
        }
        let indicator = match adapter {
            StreamAdapter::Chat => '[',
            StreamAdapter::Json => '"',
        };
        if self.start_queue.is_empty() && !self.stream_start && text.contains(indicator) {
            self.start_queue.push(text);
            return None;
        }
        if !self.start_queue.is_empty() && !self.stream_start {
            self.start_queue.push(text);
            let joined = self.start_queue.concat();
            if let Some(at) = joined.find(&start) {
                self.stream_start = true;
                self.start_queue.clear();
                text = joined[at + start.len()..].trim_start().to_string();
                if adapter == StreamAdapter::Json {
                    self.json_accumulated.push('{');
                    self.json_accumulated.push_str(&start);
                }
            } else if tail_begins(joined.trim(), &start) {
                return None;
            } else {
                self.start_queue.clear();
                return None;
            }
        }
        if !self.stream_start || text.is_empty() {
            return None;
        }
        self.end_queue.push(text.clone());
        let joined = self.end_queue.concat();
        let mut released = None;
        if !could_form_end(joined.trim(), adapter) {
            released = Some(self.flush(adapter));
        } else if self.end_queue.len() > MAX_HELD_TOKENS {
            released = Some(self.end_queue.remove(0));
        }
        match adapter {
            StreamAdapter::Json => self.json_chunk(released, &text),
            StreamAdapter::Chat => self.chat_chunk(released),
        }
    }

    fn chat_chunk(&mut self, released: Option<String>) -> Option<(String, bool)> {
        let mut token = released;
        if find_chat_marker(self.end_queue.concat().trim()).is_some() {
            self.stream_end = true;
            let last = self.flush(StreamAdapter::Chat);
            let whole = token.unwrap_or_default() + &last;
            token = Some(whole.trim_end().to_string());
        }
        let mut token = token.unwrap_or_default();
        if !token.is_empty() && !self.value_started {
            token = token.trim_start().to_string();
        }
        if !token.is_empty() {
            let stripped_len = token.trim_end().len();
            if stripped_len > 0 {
                self.value_started = true;
                let trailing = token.split_off(stripped_len);
                token = std::mem::replace(&mut self.held_whitespace, trailing) + &token;
            } else {
                self.held_whitespace.push_str(&token);
                token.clear();
            }
        }
        (!token.is_empty() || self.stream_end).then_some((token, self.stream_end))
    }

    fn json_chunk(&mut self, released: Option<String>, text: &str) -> Option<(String, bool)> {
        let mut token = released;
        self.json_accumulated.push_str(text);
        if self.json_accumulated.trim_end().ends_with('}')
            && serde_json::from_str::<serde_json::Value>(&self.json_accumulated).is_ok()
        {
            self.stream_end = true;
            let last = self.flush(StreamAdapter::Json);
            let cut = python_prefix(&last, last.rfind('}'));
            return Some((token.unwrap_or_default() + cut, true));
        }
        if let Some(keys) = partial_object_keys(&self.json_accumulated)
            && keys.len() > 1
        {
            self.stream_end = true;
            let last = self.flush(StreamAdapter::Json);
            let next = keys.iter().find(|k| **k != self.field).map_or("", String::as_str);
            let cut = python_prefix(&last, last.find(next));
            token = Some(token.unwrap_or_default() + cut);
        }
        match token {
            Some(token) if !token.is_empty() || self.stream_end => Some((token, self.stream_end)),
            None if self.stream_end => Some((String::new(), true)),
            _ => None,
        }
    }

    /// Release the end buffer (for the ChatAdapter up to its first `[[`).
    fn flush(&mut self, adapter: StreamAdapter) -> String {
        let mut last = std::mem::take(&mut self.end_queue).concat();
        if adapter == StreamAdapter::Chat
            && let Some(at) = last.find("[[")
        {
            last.truncate(at);
        }
        last
    }

    /// The LM call is over: what is still buffered, as the last chunk.
    pub fn finalize(&mut self, adapter: StreamAdapter) -> Option<(String, bool)> {
        if self.stream_end || !self.stream_start {
            return None;
        }
        self.stream_end = true;
        if self.end_queue.is_empty() {
            return None;
        }
        let token = self.flush(adapter);
        (!token.is_empty()).then(|| (std::mem::take(&mut self.held_whitespace) + &token, true))
    }
}

/// Python's `s[:i]` for an index from `find` (`-1`, here `None`, drops the
/// last character).
fn python_prefix(s: &str, index: Option<usize>) -> &str {
    match index {
        Some(i) => &s[..i],
        None => s.char_indices().last().map_or("", |(i, _)| &s[..i]),
    }
}

/// True when some non-empty tail of `text` is a beginning of `marker`.
fn tail_begins(text: &str, marker: &str) -> bool {
    text.char_indices().any(|(i, _)| marker.starts_with(&text[i..]))
}

/// Whether the held-back text could still become an end marker.
fn could_form_end(text: &str, adapter: StreamAdapter) -> bool {
    let (prefixes, contains): (&[&str], &str) = match adapter {
        StreamAdapter::Chat => (&["[", "[[", "[[ ", "[[ #", "[[ ##"], "[[ ##"),
        StreamAdapter::Json => (&["\"", "\",", "\" ", "\"}"], "}"),
    };
    prefixes.iter().any(|p| text.ends_with(p)) || text.contains(contains)
}

/// The byte offset of the first `[[ ## word ## ]]` in `text` (`word`:
/// letters, digits, `_`).
fn find_chat_marker(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find("[[ ## ") {
        let at = from + found;
        let rest = &text[at + 6..];
        let word = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        if word > 0 && rest[word..].starts_with(" ## ]]") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_markers_are_found_in_text() {
        assert_eq!(find_chat_marker("x [[ ## completed ## ]]"), Some(2));
        assert_eq!(find_chat_marker("[[ ## a b ## ]]"), None);
        assert_eq!(find_chat_marker("[[ ##  ## ]] [[ ## x_1 ## ]]"), Some(13));
        assert!(tail_begins("abc [[ ## ans", "[[ ## answer ## ]]"));
        assert!(!tail_begins("abc", "[[ ## answer ## ]]"));
        assert_eq!(python_prefix("abc", None), "ab");
    }
}
