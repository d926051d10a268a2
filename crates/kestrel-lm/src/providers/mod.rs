//! Real LM providers, chosen by a DSPy model string (`openai/gpt-4o-mini`,
//! `anthropic/claude-3-5-haiku-latest`).
//!
//! - [`OpenAiProvider`] (feature `openai`): any OpenAI-compatible
//!   chat-completions server — OpenAI, vLLM, Ollama, llama.cpp, OpenRouter,
//!   Together, Groq, DeepSeek — by base URL; also an [`crate::Embedder`].
//! - [`AnthropicProvider`] (feature `anthropic`): Anthropic's Messages API.
//!
//! Both stream ([`crate::Lm::call_streaming`]): server-sent events read as
//! they arrive (`sse.rs`, `event_stream.rs`; `openai_stream.rs`,
//! `anthropic_stream.rs` for each wire format).
//!
//! Providers send exactly one HTTP request per call (per completion for
//! Anthropic with `n > 1`) and never retry: [`crate::LmClient`] retries once,
//! above them, with backoff. Every failure is a typed [`LmError`] (see
//! `http_errors` for the status mapping). See `docs/PROVIDERS.md`.

use std::time::Duration;

use crate::error::LmError;
use crate::lm::SharedLm;

#[cfg(any(feature = "openai", feature = "anthropic", feature = "retrieval"))]
pub(crate) mod http_errors;

#[cfg(feature = "anthropic")]
mod anthropic;
#[cfg(feature = "anthropic")]
mod anthropic_stream;
#[cfg(feature = "anthropic")]
mod anthropic_wire;
#[cfg(any(feature = "openai", feature = "anthropic"))]
mod event_stream;
#[cfg(feature = "openai")]
mod openai;
#[cfg(feature = "openai")]
mod openai_http;
#[cfg(feature = "openai")]
mod openai_stream;
#[cfg(feature = "openai")]
mod openai_wire;
#[cfg(any(feature = "openai", feature = "anthropic"))]
pub(crate) mod secret;
#[cfg(any(feature = "openai", feature = "anthropic"))]
mod sse;

#[cfg(feature = "anthropic")]
pub use anthropic::{AnthropicProvider, DEFAULT_ANTHROPIC_MAX_TOKENS};
#[cfg(any(feature = "openai", feature = "anthropic"))]
pub use http_errors::MAX_RETRY_AFTER;
#[cfg(feature = "openai")]
pub use openai::OpenAiProvider;
#[cfg(feature = "openai")]
pub use openai_wire::is_reasoning_model;

/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the
/// parsers of what an HTTP server sends back. Not an API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use std::time::{Duration, SystemTime};

    use crate::error::LmError;

    /// The error of a non-2xx answer, with the `retry-after-ms` and
    /// `Retry-After` headers read as the providers read them.
    pub fn http_error(status: u16, retry_after_ms: Option<&str>, retry_after: Option<&str>, body: &str) -> LmError {
        let wait = super::http_errors::retry_after(retry_after_ms, retry_after);
        super::http_errors::status_error("fuzz/model", status, wait, body)
    }

    /// One `Retry-After` value at `now`.
    pub fn retry_after_at(value: &str, now: SystemTime) -> Option<Duration> {
        super::http_errors::parse_retry_after(value, now)
    }

    /// The API-key check of the providers.
    pub fn check_key(key: &str) -> Result<(), LmError> {
        super::secret::check_key("fuzz/model", key)
    }

    /// A provider error with `key` scrubbed from it.
    pub fn redact(error: LmError, key: &str) -> LmError {
        super::secret::redact(error, Some(key))
    }
}

/// Default request timeout, as LiteLLM's (600 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// A provider family, named by the prefix of a model string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderKind {
    /// `openai/…`: OpenAI and every OpenAI-compatible server.
    OpenAi,
    /// `anthropic/…`: Anthropic's Messages API.
    Anthropic,
}

/// Every known prefix, its provider and the cargo feature that enables it.
const KNOWN: &[(&str, ProviderKind, &str)] =
    &[("openai", ProviderKind::OpenAi, "openai"), ("anthropic", ProviderKind::Anthropic, "anthropic")];

impl ProviderKind {
    /// The model-string prefix (`openai`, `anthropic`).
    pub fn prefix(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }

    /// The cargo feature (of `kestrel-lm` and `kestrel`) that enables it.
    pub fn feature(self) -> &'static str {
        self.prefix()
    }

    /// Whether this build includes the provider.
    pub fn enabled(self) -> bool {
        match self {
            ProviderKind::OpenAi => cfg!(feature = "openai"),
            ProviderKind::Anthropic => cfg!(feature = "anthropic"),
        }
    }
}

fn known_list() -> String {
    KNOWN
        .iter()
        .map(|(prefix, kind, feature)| {
            let state = if kind.enabled() { "enabled" } else { "disabled" };
            format!("`{prefix}/…` (cargo feature `{feature}`, {state})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Split a DSPy model string into its provider and the provider's own model
/// name (everything after the first `/`, so `openai/meta-llama/Llama-3-8B`
/// names `meta-llama/Llama-3-8B`). A bare name, an empty part or an unknown
/// prefix is [`LmError::Config`] listing the accepted prefixes. The provider's
/// feature need not be enabled (see [`provider_for_model`]).
pub fn parse_model(model: &str) -> Result<(ProviderKind, &str), LmError> {
    let model = model.trim();
    let hint = "OpenAI-compatible servers (vLLM, Ollama, llama.cpp, OpenRouter, Together, Groq, DeepSeek) use \
                `openai/<model>` with OPENAI_BASE_URL";
    let Some((prefix, name)) = model.split_once('/') else {
        return Err(LmError::Config(format!(
            "model string `{model}` has no provider prefix; write `provider/model`, e.g. `openai/{model}`. \
             Accepted prefixes: {}. {hint}",
            known_list()
        )));
    };
    let Some((_, kind, _)) = KNOWN.iter().find(|(known, _, _)| known.eq_ignore_ascii_case(prefix)) else {
        return Err(LmError::Config(format!(
            "unknown provider `{prefix}` in model string `{model}`. Accepted prefixes: {}. {hint}",
            known_list()
        )));
    };
    if name.trim().is_empty() {
        return Err(LmError::Config(format!("model string `{model}` names no model after `{prefix}/`")));
    }
    Ok((*kind, name))
}

/// The raw provider for a DSPy model string, configured from the environment
/// (`OPENAI_API_KEY`/`OPENAI_BASE_URL`, `ANTHROPIC_API_KEY`/`ANTHROPIC_BASE_URL`).
/// No cache, retries or accounting: [`crate::LmBuilder::from_model`] wraps it
/// with those. A known provider whose cargo feature is off is
/// [`LmError::Config`] naming the feature.
pub fn provider_for_model(model: &str) -> Result<SharedLm, LmError> {
    match parse_model(model)? {
        #[cfg(feature = "openai")]
        (ProviderKind::OpenAi, name) => Ok(SharedLm::new(OpenAiProvider::from_env(name)?)),
        #[cfg(feature = "anthropic")]
        (ProviderKind::Anthropic, name) => Ok(SharedLm::new(AnthropicProvider::from_env(name)?)),
        #[allow(unreachable_patterns)]
        (other, _) => Err(feature_disabled(other, model)),
    }
}

/// The embedder for a DSPy model string (`openai/text-embedding-3-small`),
/// configured from the environment. Only OpenAI-compatible servers embed.
pub fn embedder_for_model(model: &str) -> Result<std::sync::Arc<dyn crate::embed::Embedder>, LmError> {
    match parse_model(model)? {
        #[cfg(feature = "openai")]
        (ProviderKind::OpenAi, name) => Ok(std::sync::Arc::new(OpenAiProvider::from_env(name)?)),
        (ProviderKind::Anthropic, _) => Err(LmError::Config(format!(
            "`{model}`: Anthropic has no embeddings API; use an `openai/…` embedding model"
        ))),
        #[allow(unreachable_patterns)]
        (other, _) => Err(feature_disabled(other, model)),
    }
}

#[allow(dead_code)] // unused when every provider feature is on
fn feature_disabled(kind: ProviderKind, model: &str) -> LmError {
    LmError::Config(format!(
        "model string `{model}` needs the `{}` provider, which this build leaves out: enable the cargo feature `{}` \
         of kestrel (or kestrel-lm)",
        kind.prefix(),
        kind.feature()
    ))
}

/// [`LmError::Config`] for an `https` URL in a build without the `tls`
/// feature (checked before anything is sent).
#[allow(dead_code)] // unused without provider features
pub(crate) fn check_tls(base_url: &str) -> Result<(), LmError> {
    let https = base_url.trim_start().get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if https && !cfg!(feature = "tls") {
        return Err(LmError::Config(format!(
            "`{base_url}` is an https URL but this build has no TLS: enable the cargo feature `tls` of kestrel \
             (or kestrel-lm), or use a plain http:// URL for a local server"
        )));
    }
    Ok(())
}

/// The host of `url` (`https://api.openai.com/v1` → `api.openai.com`).
#[allow(dead_code)] // unused without provider features
pub(crate) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_port.split(':').next().unwrap_or(host_port)
}

/// An `f32` option (temperature) as the JSON number its shortest decimal
/// spells: `0.3f32` is sent as `0.3`, as Python sends it, not as the
/// widened `0.30000001192092896`. Not finite is `null`.
#[allow(dead_code)] // unused without provider features
pub(crate) fn f32_json(value: f32) -> serde_json::Value {
    value
        .to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// A non-empty environment variable.
#[allow(dead_code)] // unused without provider features
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_strings_split_at_the_first_slash() {
        assert_eq!(parse_model("openai/gpt-4o-mini").unwrap(), (ProviderKind::OpenAi, "gpt-4o-mini"));
        assert_eq!(
            parse_model("anthropic/claude-3-5-haiku-latest").unwrap(),
            (ProviderKind::Anthropic, "claude-3-5-haiku-latest")
        );
        assert_eq!(
            parse_model("openai/meta-llama/Llama-3-8B").unwrap(),
            (ProviderKind::OpenAi, "meta-llama/Llama-3-8B")
        );
        assert_eq!(parse_model("OpenAI/gpt-4o").unwrap().0, ProviderKind::OpenAi);
    }

    #[test]
    fn bad_model_strings_name_the_accepted_prefixes() {
        for bad in ["gpt-4o-mini", "ollama_chat/llama3", "openai/", "openai/  "] {
            let LmError::Config(message) = parse_model(bad).unwrap_err() else { panic!("{bad}: not a Config error") };
            if bad != "openai/" && bad != "openai/  " {
                assert!(message.contains("`openai/…`") && message.contains("`anthropic/…`"), "{message}");
                assert!(message.contains("cargo feature `openai`"), "{message}");
            }
        }
        assert!(matches!(provider_for_model("gpt-4o-mini"), Err(LmError::Config(_))));
    }

    #[test]
    fn https_needs_the_tls_feature() {
        assert!(check_tls("http://127.0.0.1:8000/v1").is_ok());
        let https = check_tls("HTTPS://api.openai.com/v1");
        if cfg!(feature = "tls") {
            assert!(https.is_ok());
        } else {
            assert!(matches!(https, Err(LmError::Config(m)) if m.contains("`tls`")));
        }
    }

    #[test]
    fn f32_options_keep_their_short_decimal() {
        assert_eq!(f32_json(0.3).to_string(), "0.3");
        assert_eq!(f32_json(0.7).to_string(), "0.7");
        assert_eq!(f32_json(1.0).to_string(), "1.0");
        assert_eq!(f32_json(0.0), serde_json::json!(0.0));
        assert_eq!(f32_json(f32::NAN), serde_json::Value::Null);
    }

    #[test]
    fn hosts_are_extracted() {
        assert_eq!(host_of("https://api.openai.com/v1"), "api.openai.com");
        assert_eq!(host_of("http://user:pw@localhost:11434/v1"), "localhost");
        assert_eq!(host_of("api.anthropic.com"), "api.anthropic.com");
    }
}
