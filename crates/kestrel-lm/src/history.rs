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
            let _ = write!(out, "\n{title} message:\n\n{}\n", message.content);
        }
        match &entry.outcome {
            Ok(response) => {
                let first = response.completions.first().map_or("", |c| c.text.as_str());
                let _ = write!(out, "\nResponse:\n\n{first}\n");
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
