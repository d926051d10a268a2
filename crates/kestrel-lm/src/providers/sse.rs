//! Server-sent events: the `text/event-stream` body both providers stream
//! in. [`SseParser`] takes the body's bytes as they arrive, in pieces cut
//! anywhere (inside a line, inside a UTF-8 character), and gives back whole
//! events (`event:` name and `data:` lines joined by `\n`); comments (`:`)
//! and unknown fields are skipped, as the WHATWG spec says.

/// The longest line accepted (a stream that never ends its line is broken).
const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SseEvent {
    /// The `event:` field (empty when the event named none).
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// An incremental event-stream parser.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    event: String,
    data: Option<String>,
    /// The last byte was a `\r` (a `\n` right after it ends nothing more).
    after_cr: bool,
}

impl SseParser {
    /// Feed `bytes`; returns the events they complete, or what is wrong
    /// with the stream (a line that is not UTF-8 or is too long).
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, String> {
        let mut events = Vec::new();
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            match b {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    let line = std::mem::take(&mut self.line);
                    let line =
                        String::from_utf8(line).map_err(|e| format!("an event-stream line is not UTF-8: {e}"))?;
                    if let Some(event) = self.line_done(&line) {
                        events.push(event);
                    }
                }
                _ => {
                    if self.line.len() >= MAX_LINE_BYTES {
                        return Err(format!("an event-stream line is longer than {MAX_LINE_BYTES} bytes"));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(events)
    }

    /// The body ended: true when nothing was left half-sent (an event without
    /// its blank line still counts as sent, as browsers drop it).
    pub(crate) fn is_clean(&self) -> bool {
        self.line.is_empty()
    }

    fn line_done(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let data = self.data.take()?;
            return Some(SseEvent { event: std::mem::take(&mut self.event), data });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(body: &[u8], size: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        body.chunks(size).flat_map(|piece| parser.push(piece).unwrap_or_default()).collect()
    }

    #[test]
    fn events_survive_any_cut() {
        let body =
            "event: a\ndata: {\"x\": \"é\"}\n\n: comment\r\ndata: one\r\ndata:two\r\n\r\ndata: [DONE]\n\n".as_bytes();
        let want = vec![
            SseEvent { event: "a".into(), data: "{\"x\": \"é\"}".into() },
            SseEvent { event: String::new(), data: "one\ntwo".into() },
            SseEvent { event: String::new(), data: "[DONE]".into() },
        ];
        for size in 1..body.len() {
            assert_eq!(parse_in_pieces(body, size), want, "pieces of {size} bytes");
        }
    }

    #[test]
    fn bad_utf8_is_an_error() {
        assert!(SseParser::default().push(b"data: \xff\xfe\n").is_err());
    }
}
