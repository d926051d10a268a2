//! HTTP failures to [`LmError`], shared by every provider: status codes,
//! `Retry-After` headers (seconds or HTTP-date), the provider's error body
//! (OpenAI, Anthropic and the usual OpenAI-compatible shapes), and
//! context-window detection with the wording DSPy/LiteLLM look for.
//!
//! | status | error |
//! |---|---|
//! | 401, 403 | [`LmError::Auth`] |
//! | 408 | [`LmError::Timeout`] |
//! | 409 | [`LmError::Server`] (lock conflict; OpenAI's SDK retries it) |
//! | 429 | [`LmError::RateLimited`] (`insufficient_quota` is [`LmError::Provider`]: retrying cannot help) |
//! | other 4xx | [`LmError::BadRequest`] |
//! | 5xx (Anthropic's 529 "overloaded" included) | [`LmError::Server`] |
//!
//! Any status but 401/403/408/429 whose message says the prompt is too long
//! for the model is [`LmError::ContextWindowExceeded`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::error::LmError;

/// Longest provider body kept in an error message.
const MAX_BODY_CHARS: usize = 2_000;

/// Lower-case fragments that mark a context-window error (OpenAI's code and
/// message, Anthropic, vLLM, llama.cpp, Bedrock-style wording; the list
/// LiteLLM's exception mapping uses, trimmed to the unambiguous ones).
const CONTEXT_WINDOW_MARKERS: &[&str] = &[
    "context_length_exceeded",
    "maximum context length",
    "context length exceeded",
    "maximum context limit",
    "exceeds the context window",
    "exceed context limit",
    "context window exceeded",
    "prompt is too long",
    "input is too long",
    "exceed_context_size",
    "exceeds the available context size",
    "longer than the model's context length",
    "reduce the length of the messages",
];

/// The error a non-2xx answer stands for. `body` is the raw response body.
pub(crate) fn status_error(model: &str, status: u16, retry_after: Option<Duration>, body: &str) -> LmError {
    let detail = ErrorDetail::parse(body);
    let message = detail.render(status);
    let model = model.to_string();
    if !matches!(status, 401 | 403 | 408 | 429) && detail.is_context_window() {
        return LmError::ContextWindowExceeded { model, message };
    }
    match status {
        401 | 403 => LmError::Auth { model, message },
        408 => LmError::Timeout { model, message },
        429 if detail.code.as_deref() == Some("insufficient_quota") => LmError::Provider { model, message },
        429 => LmError::RateLimited { model, message, retry_after },
        409 | 500..=599 => LmError::Server { model, status, message, retry_after },
        400..=499 => LmError::BadRequest { model, status, message },
        _ => LmError::Provider { model, message: format!("unexpected HTTP status {status}: {message}") },
    }
}

/// Longest delay a `Retry-After` / `retry-after-ms` header is read as: one
/// day. Larger values (`1e20`, a date in the year 9999) are clamped to it
/// before any conversion, so no header can overflow a `Duration` or the date
/// arithmetic. [`crate::RetryPolicy::max_retry_after`] caps the wait again
/// (120 s by default).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// The delay a provider asked for: `retry-after-ms` (OpenAI) wins over
/// `Retry-After`, which is whole or fractional seconds or an HTTP-date.
/// Negative, NaN and unparsable values are ignored; anything above
/// [`MAX_RETRY_AFTER`] is clamped to it.
pub(crate) fn retry_after(retry_after_ms: Option<&str>, retry_after: Option<&str>) -> Option<Duration> {
    let from_ms = retry_after_ms.and_then(|v| v.trim().parse::<f64>().ok()).and_then(|ms| seconds_capped(ms / 1_000.0));
    from_ms.or_else(|| retry_after.and_then(|v| parse_retry_after(v, SystemTime::now())))
}

/// `secs` as a duration clamped to [`MAX_RETRY_AFTER`]; `None` for NaN and
/// negative values (infinity is clamped like any large value).
fn seconds_capped(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    let capped = secs.min(MAX_RETRY_AFTER.as_secs_f64());
    // `capped` is in [0, one day]: the conversion cannot fail.
    Duration::try_from_secs_f64(capped).ok()
}

/// One `Retry-After` value: delta-seconds or an IMF-fixdate
/// (`Wed, 21 Oct 2015 07:28:00 GMT`); a date in the past is zero; both are
/// clamped to [`MAX_RETRY_AFTER`].
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return seconds_capped(secs);
    }
    let at = parse_http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)).min(MAX_RETRY_AFTER))
}

/// Seconds since the epoch of an IMF-fixdate (RFC 9110's preferred format,
/// a four-digit year).
fn parse_http_date(value: &str) -> Option<u64> {
    // "Wed, 21 Oct 2015 07:28:00 GMT"
    let (_weekday, rest) = value.split_once(", ")?;
    let parts: Vec<&str> = rest.split_whitespace().collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    let day: u64 = day.parse().ok()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| m == month)? as u64
        + 1;
    if year.len() != 4 {
        return None;
    }
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    days.checked_mul(86_400)?.checked_add(h * 3_600 + m * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm); `None` before the epoch or outside years 0..=9999 (the only
/// ones an IMF-fixdate can spell, so the arithmetic cannot overflow).
fn days_from_civil(year: i64, month: u64, day: u64) -> Option<u64> {
    if !(0..=9_999).contains(&year) || !(1..=12).contains(&month) || day > 31 {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).ok()
}

/// What a provider's error body says.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ErrorDetail {
    /// The human-readable message (or the raw body).
    pub(crate) message: String,
    /// `error.type` (OpenAI, Anthropic).
    pub(crate) kind: Option<String>,
    /// `error.code` (OpenAI), as text.
    pub(crate) code: Option<String>,
}

impl ErrorDetail {
    /// Read `{"error": {"message", "type", "code"}}` (OpenAI and Anthropic),
    /// `{"error": "..."}` (Ollama, some proxies), `{"message": ...}` or
    /// `{"detail": ...}`; anything else is kept as raw text.
    pub(crate) fn parse(body: &str) -> Self {
        let raw = || ErrorDetail { message: shorten(body.trim()), ..Self::default() };
        let Ok(value) = serde_json::from_str::<Value>(body) else { return raw() };
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        match value.get("error") {
            Some(Value::Object(error)) => ErrorDetail {
                message: text(error.get("message")).map_or_else(|| shorten(body.trim()), |m| shorten(&m)),
                kind: text(error.get("type")),
                code: text(error.get("code")),
            },
            Some(Value::String(message)) => ErrorDetail { message: shorten(message), ..Self::default() },
            _ => match text(value.get("message")).or_else(|| text(value.get("detail"))) {
                Some(message) => ErrorDetail { message: shorten(&message), ..Self::default() },
                None => raw(),
            },
        }
    }

    /// The message with type and code, as the provider spelled them.
    pub(crate) fn render(&self, status: u16) -> String {
        let mut out =
            if self.message.is_empty() { format!("HTTP {status} with an empty body") } else { self.message.clone() };
        match (&self.kind, &self.code) {
            (Some(kind), Some(code)) => out.push_str(&format!(" (type: {kind}, code: {code})")),
            (Some(kind), None) => out.push_str(&format!(" (type: {kind})")),
            (None, Some(code)) => out.push_str(&format!(" (code: {code})")),
            (None, None) => {}
        }
        out
    }

    /// True when the code or message says the context window was exceeded.
    pub(crate) fn is_context_window(&self) -> bool {
        let haystack =
            format!("{} {} {}", self.message, self.code.as_deref().unwrap_or(""), self.kind.as_deref().unwrap_or(""))
                .to_lowercase();
        CONTEXT_WINDOW_MARKERS.iter().any(|marker| haystack.contains(marker))
    }
}

/// An error and its sources, `: `-joined (reqwest's own
/// messages are terse: the cause is in the sources).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_BODY_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text.to_string(),
    }
}

/// A sent request's JSON reply, or its failure as an [`LmError`] naming
/// `model`: a timeout, a request that could not be built (a configuration
/// error), a connection failure, an error status (through [`status_error`],
/// with the `Retry-After` wait), a body that could not be read, or one that
/// is not JSON (quoted, cut to 500 characters). Shared by the providers and
/// clients that talk to their server with reqwest directly.
#[cfg(any(feature = "anthropic", feature = "retrieval", feature = "openai"))]
pub(crate) async fn json_reply(sent: Result<reqwest::Response, reqwest::Error>, model: &str) -> Result<Value, LmError> {
    let name = || model.to_string();
    let response = sent.map_err(|e| {
        if e.is_timeout() {
            LmError::Timeout { model: name(), message: error_chain(&e) }
        } else if e.is_builder() {
            LmError::Config(format!("cannot send to {model}: {}", error_chain(&e)))
        } else {
            LmError::Connection { model: name(), message: error_chain(&e) }
        }
    })?;
    let status = response.status();
    let header = |h: &str| response.headers().get(h).and_then(|v| v.to_str().ok()).map(str::to_string);
    let wait = retry_after(header("retry-after-ms").as_deref(), header("retry-after").as_deref());
    let bytes = response.bytes().await;
    if !status.is_success() {
        let body = match bytes {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!("(the error body could not be read: {e})"),
        };
        return Err(status_error(model, status.as_u16(), wait, &body));
    }
    let bytes = bytes.map_err(|e| match e.is_timeout() {
        true => LmError::Timeout { model: name(), message: error_chain(&e) },
        false => {
            LmError::BadResponse { model: name(), message: format!("reading the body failed: {}", error_chain(&e)) }
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| LmError::BadResponse {
        model: name(),
        message: format!(
            "invalid JSON ({e}): {}",
            String::from_utf8_lossy(&bytes).chars().take(500).collect::<String>()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openai_body(message: &str, code: Option<&str>) -> String {
        serde_json::json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}})
            .to_string()
    }

    #[test]
    fn statuses_map_to_variants() {
        let e = status_error(
            "m",
            429,
            Some(Duration::from_secs(1)),
            &openai_body("slow down", Some("rate_limit_exceeded")),
        );
        assert!(
            matches!(&e, LmError::RateLimited { retry_after: Some(d), message, .. } if *d == Duration::from_secs(1) && message.contains("slow down"))
        );
        assert!(matches!(status_error("m", 401, None, "{}"), LmError::Auth { .. }));
        assert!(matches!(status_error("m", 403, None, ""), LmError::Auth { .. }));
        assert!(matches!(status_error("m", 400, None, "bad"), LmError::BadRequest { status: 400, .. }));
        assert!(matches!(status_error("m", 404, None, "nope"), LmError::BadRequest { status: 404, .. }));
        assert!(matches!(status_error("m", 422, None, "nope"), LmError::BadRequest { status: 422, .. }));
        assert!(matches!(status_error("m", 408, None, ""), LmError::Timeout { .. }));
        let e = status_error("m", 503, Some(Duration::from_secs(2)), "busy");
        assert!(matches!(e, LmError::Server { status: 503, retry_after: Some(_), .. }));
        assert!(e.is_retryable());
        let overloaded = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let e = status_error("m", 529, None, overloaded);
        assert!(
            matches!(&e, LmError::Server { status: 529, message, .. } if message == "Overloaded (type: overloaded_error)")
        );
        assert!(e.is_retryable());
        let quota = openai_body("You exceeded your current quota", Some("insufficient_quota"));
        assert!(matches!(status_error("m", 429, None, &quota), LmError::Provider { .. }));
    }

    #[test]
    fn context_window_wording_is_recognised() {
        let openai = openai_body(
            "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
            Some("context_length_exceeded"),
        );
        assert!(matches!(status_error("m", 400, None, &openai), LmError::ContextWindowExceeded { .. }));
        let code_only = openai_body("too big", Some("context_length_exceeded"));
        assert!(matches!(status_error("m", 400, None, &code_only), LmError::ContextWindowExceeded { .. }));
        let anthropic = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}"#;
        assert!(matches!(status_error("m", 400, None, anthropic), LmError::ContextWindowExceeded { .. }));
        let llama_cpp = r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#;
        assert!(matches!(status_error("m", 400, None, llama_cpp), LmError::ContextWindowExceeded { .. }));
        // A rate limit on tokens is not a context error.
        let tpm = openai_body("Rate limit reached on tokens per min (TPM)", Some("rate_limit_exceeded"));
        assert!(matches!(status_error("m", 429, None, &tpm), LmError::RateLimited { .. }));
        let output_limit = openai_body("max_tokens: 9000 > 8192, the maximum allowed number of output tokens", None);
        assert!(matches!(status_error("m", 400, None, &output_limit), LmError::BadRequest { .. }));
    }

    #[test]
    fn bodies_of_every_shape_keep_the_message() {
        let d = ErrorDetail::parse(&openai_body("Invalid key", Some("invalid_api_key")));
        assert_eq!(d.render(401), "Invalid key (type: invalid_request_error, code: invalid_api_key)");
        assert_eq!(ErrorDetail::parse(r#"{"error":"model 'x' not found"}"#).message, "model 'x' not found");
        assert_eq!(ErrorDetail::parse(r#"{"detail":"Not Found"}"#).message, "Not Found");
        assert_eq!(ErrorDetail::parse("<html>502 Bad Gateway</html>").message, "<html>502 Bad Gateway</html>");
        assert_eq!(ErrorDetail::parse(r#"{"error":{"code":500,"message":"x"}}"#).code.as_deref(), Some("500"));
        assert_eq!(ErrorDetail::parse("").render(500), "HTTP 500 with an empty body");
        let long = "x".repeat(MAX_BODY_CHARS + 10);
        assert!(ErrorDetail::parse(&long).message.ends_with("bytes in all)"));
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_milliseconds() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 0.5 ", now), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", UNIX_EPOCH), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("Wed, 32 Oct 2015 07:28:00 GMT", now), None);
        assert_eq!(retry_after(Some("250"), Some("7")), Some(Duration::from_millis(250)));
        assert_eq!(retry_after(None, Some("7")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(Some("x"), None), None);
    }

    #[test]
    fn absurd_retry_after_values_are_clamped_or_ignored_never_a_panic() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        for huge in ["1e20", "1e300", "inf", "+inf", "18446744073709551616", "9999999999999999999999"] {
            assert_eq!(parse_retry_after(huge, now), Some(MAX_RETRY_AFTER), "{huge}");
            assert_eq!(retry_after(Some(huge), None), Some(MAX_RETRY_AFTER), "ms {huge}");
        }
        for bad in ["NaN", "nan", "-0.5", "-inf", "-1e20"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
            assert_eq!(retry_after(Some(bad), None), None, "ms {bad}");
        }
        // Dates far in the future clamp; years an IMF-fixdate cannot spell are ignored.
        assert_eq!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Wed, 21 Oct 9223372036854775807 07:28:00 GMT", now), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct -9223372036854775808 07:28:00 GMT", now), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 99999999999999 07:28:00 GMT", now), None);
    }

    /// A bounded, seeded generator of header values (SplitMix64): numbers of
    /// every shape, dates with random fields, and random bytes from an
    /// alphabet that makes both parsers work hard.
    fn arbitrary_header(state: &mut u64) -> String {
        fn next(state: &mut u64) -> u64 {
            *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        let pick = |state: &mut u64, items: &[&str]| items[(next(state) % items.len() as u64) as usize].to_string();
        match next(state) % 5 {
            0 => f64::from_bits(next(state)).to_string(),
            1 => format!("{}e{}", next(state) as i64, (next(state) % 700) as i64 - 350),
            2 => {
                let random_year = (next(state) as i64).to_string();
                let year = pick(state, &["0000", "1969", "2015", "9999", "-001", "18446744073709551615", &random_year]);
                let weekday = pick(state, &["Wed", "Thu", "x"]);
                let month = pick(state, &["Jan", "Feb", "Dec", "Foo"]);
                let zone = pick(state, &["GMT", "UTC"]);
                let (day, h, m, s) =
                    (next(state) as i64 % 100, next(state) % 100, next(state) % 100, next(state) % 100);
                format!("{weekday}, {day} {month} {year} {h}:{m}:{s} {zone}")
            }
            3 => (next(state) as i64).to_string(),
            _ => {
                let alphabet = b"0123456789.eE+-infINFnaNA :,GMTWedOct ";
                let len = next(state) % 40;
                (0..len).map(|_| char::from(alphabet[(next(state) % alphabet.len() as u64) as usize])).collect()
            }
        }
    }

    #[test]
    fn property_no_header_value_panics_and_every_delay_is_within_the_cap() {
        let mut state = 0x5EED_u64;
        let now = SystemTime::now();
        for _ in 0..20_000 {
            let value = arbitrary_header(&mut state);
            for delay in
                [parse_retry_after(&value, now), retry_after(Some(&value), None), retry_after(None, Some(&value))]
                    .into_iter()
                    .flatten()
            {
                assert!(delay <= MAX_RETRY_AFTER, "{value:?} gave {delay:?}");
            }
        }
    }

    #[test]
    fn civil_dates_count_days() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(1969, 12, 31), None);
    }
}
