//! Fuzz target: what an HTTP server sends back — the error body of a non-2xx
//! answer (OpenAI's and Anthropic's shapes, or anything), the
//! `retry-after-ms` / `Retry-After` headers (seconds or an HTTP-date) — and
//! the API-key check. Invariants: every status and body is a typed
//! `LmError`; no header gives a wait above `MAX_RETRY_AFTER`; a key the
//! check accepts is a valid header value (`Bearer <key>`), and a scrubbed
//! error never shows a key of realistic length (`sk-` and 9 more bytes).

#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use kestrel_lm::providers::{MAX_RETRY_AFTER, fuzzing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let status = u16::from_le_bytes([data[0], data[1]]) % 1000;
    let Ok(text) = std::str::from_utf8(&data[2..]) else { return };
    // Fields separated by NUL: ms header, Retry-After header, key, body.
    let mut parts = text.splitn(4, '\0');
    let ms = parts.next().filter(|s| !s.is_empty());
    let after = parts.next().filter(|s| !s.is_empty());
    // Real keys look like `sk-...`: no wording of Kestrel's holds `sk-`, so
    // a key found in a scrubbed error can only have come from the server.
    let key = format!("sk-{}", parts.next().unwrap_or(""));
    let key = key.as_str();
    let body = parts.next().unwrap_or(text);

    let error = fuzzing::http_error(status, ms, after, body);
    let _ = error.to_string();
    if let Some(value) = after {
        for now in [UNIX_EPOCH, UNIX_EPOCH + Duration::from_secs(1_764_000_000)] {
            if let Some(wait) = fuzzing::retry_after_at(value, now) {
                assert!(wait <= MAX_RETRY_AFTER, "{value:?} gave {wait:?}");
            }
        }
    }
    if fuzzing::check_key(key).is_ok() {
        let header = format!("Bearer {key}");
        assert!(reqwest::header::HeaderValue::from_str(&header).is_ok(), "accepted key {key:?} is no header value");
        assert!(reqwest::header::HeaderValue::from_str(key).is_ok(), "accepted key {key:?} is no header value");
        if key.len() >= 12 {
            let echoed = fuzzing::http_error(status, None, None, &format!("{body}{key}"));
            let scrubbed = fuzzing::redact(echoed, key).to_string();
            assert!(!scrubbed.contains(key), "{key:?} survives in {scrubbed:?}");
        }
    }
});
