//! Call history per LM: the last N calls (messages, outputs, usage, cache
//! hit, latency), and [`format_history`], a readable dump in the spirit of
//! DSPy's `inspect_history`.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::request::{LmRequest, LmResponse};

/// One recorded call.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// When the call finished.
    pub timestamp: SystemTime,
    /// The model string.
    pub model: String,
    /// What was sent.
    pub request: LmRequest,
    /// What came back, or the error text.
    pub outcome: Result<LmResponse, String>,
    /// Wall time of the call, cache lookups and retries included.
    pub latency: Duration,
}

impl HistoryEntry {
    /// True when the answer came from a cache.
    pub fn cache_hit(&self) -> bool {
        self.outcome.as_ref().is_ok_and(|r| r.cache_hit)
    }
}

/// A bounded ring of the most recent calls.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    entries: Mutex<VecDeque<HistoryEntry>>,
}

impl History {
    /// Keep at most `capacity` calls (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        Self { capacity, entries: Mutex::new(VecDeque::new()) }
    }

    /// Record a call, dropping the oldest when full.
    pub fn push(&self, entry: HistoryEntry) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() == self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The last `n` calls, oldest first.
    pub fn last(&self, n: usize) -> Vec<HistoryEntry> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.iter().skip(entries.len().saturating_sub(n)).cloned().collect()
    }

    /// Forget every call.
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// One content part as DSPy's `inspect_history` shows it: text stripped,
/// an image as `<image_url: URL>`, a data URL without its payload.
fn part_text(part: &kestrel_core::ContentPart) -> String {
    match part {
        kestrel_core::ContentPart::Text(text) => text.trim().to_string(),
        kestrel_core::ContentPart::ImageUrl(url) => match url.split_once("base64,") {
            Some((head, data)) => format!("<{head}base64,<IMAGE BASE 64 ENCODED({})>", data.len()),
            None => format!("<image_url: {url}>"),
        },
        other => other.to_openai().to_string(),
    }
}

/// The entries as readable text: for each call a header (time, model, cache
/// hit, latency, tokens, cost), each message under its role, then the
/// response (and how many other completions there were).
pub fn format_history(entries: &[HistoryEntry]) -> String {
    let mut out = String::new();
    for entry in entries {
        let secs = entry.timestamp.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let _ = write!(out, "\n\n\n[unix {secs}] {} ({} ms", entry.model, entry.latency.as_millis());
        if let Ok(r) = &entry.outcome {
            let _ = write!(out, ", {} prompt + {} completion tokens", r.usage.prompt_tokens, r.usage.completion_tokens);
            if let Some(cost) = r.cost_usd {
                let _ = write!(out, ", ${cost:.6}");
            }
            if r.cache_hit {
                out.push_str(", cache hit");
            }
        }
        out.push_str(")\n");
        for message in &entry.request.messages {
            let role = message.role.as_str();
            let title = format!("{}{}", role[..1].to_uppercase(), &role[1..]);
            match message.parts() {
                None => {
                    let _ = write!(out, "\n{title} message:\n\n{}\n", message.content);
                }
                Some(parts) => {
                    let _ = write!(out, "\n{title} message:\n\n");
                    for part in &parts {
                        out.push_str(&part_text(part));
                        out.push('\n');
                    }
                }
            }
        }
        match &entry.outcome {
            Ok(response) => {
                let first = response.completions.first().map_or("", |c| c.text.as_str());
                let _ = write!(out, "\nResponse:\n\n{first}\n");
                let calls = response.completions.first().map_or(&[][..], |c| c.tool_calls.as_slice());
                if !calls.is_empty() {
                    out.push_str("Tool calls:\n");
                    for call in calls {
                        let args =
                            kestrel_core::adapter::python_json_dumps(&serde_json::Value::Object(call.args.clone()));
                        let _ = writeln!(out, "{}: {args}", call.name);
                    }
                }
                if response.completions.len() > 1 {
                    let _ = writeln!(out, "\n\t (and {} other completions)", response.completions.len() - 1);
                }
            }
            Err(error) => {
                let _ = write!(out, "\nError:\n\n{error}\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Completion;
    use kestrel_core::{Image, Message, ToolCall, Usage};

    #[test]
    fn images_and_tool_calls_are_shown_as_dspy_shows_them() {
        let inline = Image::from_bytes_with_mime(b"12345678", "image/png");
        let remote = Image::from_url("https://e.com/a.png").unwrap();
        let request =
            LmRequest::new(vec![Message::user(format!("look {}\nand {}", inline.marked_text(), remote.marked_text()))]);
        let mut completion = Completion::stop("");
        completion.tool_calls = vec![ToolCall {
            id: Some("c".into()),
            name: "search".into(),
            args: serde_json::json!({"q": "x"}).as_object().cloned().unwrap_or_default(),
        }];
        let entry = HistoryEntry {
            timestamp: SystemTime::UNIX_EPOCH,
            model: "m".into(),
            request,
            outcome: Ok(LmResponse::new(vec![completion], Usage::default(), "m")),
            latency: Duration::ZERO,
        };
        let text = format_history(&[entry]);
        assert!(
            text.contains(
                "look\n<data:image/png;base64,<IMAGE BASE 64 ENCODED(12)>\nand\n<image_url: https://e.com/a.png>\n"
            ),
            "{text}"
        );
        assert!(text.contains("Tool calls:\nsearch: {\"q\": \"x\"}\n"), "{text}");
        assert!(!text.contains("CUSTOM-TYPE"), "{text}");
    }
}
