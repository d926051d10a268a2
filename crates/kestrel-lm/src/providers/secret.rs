//! Keeping API keys out of everything a provider says: a key is checked
//! before it is sent (a character an HTTP header cannot carry, such as the
//! newline of a key read from a file, is a configuration error that does not
//! quote the key) and scrubbed from every error message (a server or proxy
//! may echo the key it was sent, in a 401 body or in a URL). Errors reach
//! logs (the retry warning), histories and users only after [`redact`].

use crate::error::LmError;

/// What a key is replaced by.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// Keys shorter than this are not scrubbed (replacing a 1–3 character
/// placeholder everywhere would garble messages and protects nothing).
const MIN_SCRUBBED_LEN: usize = 4;

/// `Err` when `key` cannot be sent as an HTTP header value; the message
/// names the provider and the problem, never the key.
pub(crate) fn check_key(provider: &str, key: &str) -> Result<(), LmError> {
    if key.is_empty() {
        return Err(LmError::Config(format!("the API key for {provider} is empty")));
    }
    if key.trim() != key {
        return Err(LmError::Config(format!(
            "the API key for {provider} starts or ends with whitespace (a trailing newline from a file?); strip it"
        )));
    }
    if let Some(position) = key.chars().position(|c| !(c.is_ascii_graphic() || c == ' ')) {
        return Err(LmError::Config(format!(
            "the API key for {provider} has a character an HTTP header cannot carry (at character {position}); \
             check how it was set"
        )));
    }
    Ok(())
}

/// `error` with `key` scrubbed from every message it carries.
pub(crate) fn redact(error: LmError, key: Option<&str>) -> LmError {
    let Some(key) = key.filter(|k| k.len() >= MIN_SCRUBBED_LEN) else { return error };
    let s = |text: String| if text.contains(key) { text.replace(key, REDACTED) } else { text };
    match error {
        LmError::Config(m) => LmError::Config(s(m)),
        LmError::RateLimited { model, message, retry_after } => {
            LmError::RateLimited { model: s(model), message: s(message), retry_after }
        }
        LmError::Timeout { model, message } => LmError::Timeout { model: s(model), message: s(message) },
        LmError::Connection { model, message } => LmError::Connection { model: s(model), message: s(message) },
        LmError::Auth { model, message } => LmError::Auth { model: s(model), message: s(message) },
        LmError::ContextWindowExceeded { model, message } => {
            LmError::ContextWindowExceeded { model: s(model), message: s(message) }
        }
        LmError::BadRequest { model, status, message } => {
            LmError::BadRequest { model: s(model), status, message: s(message) }
        }
        LmError::Server { model, status, message, retry_after } => {
            LmError::Server { model: s(model), status, message: s(message), retry_after }
        }
        LmError::BadResponse { model, message } => LmError::BadResponse { model: s(model), message: s(message) },
        LmError::Provider { model, message } => LmError::Provider { model: s(model), message: s(message) },
        LmError::EmptyResponse { model } => LmError::EmptyResponse { model: s(model) },
        LmError::Retrieval { retriever, message } => {
            LmError::Retrieval { retriever: s(retriever), message: s(message) }
        }
        LmError::Finetune { backend, job_id, status, message } => {
            LmError::Finetune { backend: s(backend), job_id: s(job_id), status: s(status), message: s(message) }
        }
        LmError::FinetuneData(m) => LmError::FinetuneData(s(m)),
        // No provider text: nothing a server sent.
        other @ (LmError::NotConfigured
        | LmError::NoRetriever
        | LmError::BudgetExhausted(_)
        | LmError::Parse(_)
        | LmError::Core(_)
        | LmError::Callback(_)) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-test-0123456789abcdef";

    #[test]
    fn every_message_loses_the_key() {
        let echo = format!("Incorrect API key provided: {KEY}. You can find your API key at ...");
        let errors = [
            LmError::Auth { model: "openai/m".into(), message: echo.clone() },
            LmError::Server { model: "openai/m".into(), status: 502, message: echo.clone(), retry_after: None },
            LmError::BadRequest { model: "openai/m".into(), status: 400, message: echo.clone() },
            LmError::Connection { model: "openai/m".into(), message: format!("http://u:{KEY}@host/v1: refused") },
            LmError::Config(echo.clone()),
            LmError::BadResponse { model: "openai/m".into(), message: echo.clone() },
        ];
        for error in errors {
            let text = redact(error, Some(KEY)).to_string();
            assert!(!text.contains(KEY) && text.contains(REDACTED), "{text}");
        }
        let short = redact(LmError::Config("a b c".into()), Some("b")).to_string();
        assert!(short.ends_with("a b c"), "too short to scrub: {short}");
    }

    #[test]
    fn keys_a_header_cannot_carry_are_refused_without_being_quoted() {
        check_key("openai/m", KEY).unwrap();
        for bad in
            [format!("{KEY}\n"), format!(" {KEY}"), "sk-\u{e9}t\u{e9}".to_string(), "sk-a\u{0}b".into(), String::new()]
        {
            let error = check_key("openai/m", &bad).unwrap_err();
            assert!(matches!(error, LmError::Config(_)));
            let text = error.to_string();
            assert!(!text.contains(bad.trim()) || bad.trim().is_empty(), "{text}");
        }
    }
}
