//! [`FallbackCounter`]: an [`Lm`] wrapper that counts DSPy's JSON fallbacks —
//! the JSONAdapter requests a ChatAdapter call sends after its reply failed
//! to parse — so a row can say how often a real model broke the format.
//!
//! The programs `bench-compile` runs use the ChatAdapter (with DSPy's
//! fallback), so a request formatted by the JSONAdapter is always a
//! fallback. The JSONAdapter's last user message ends with DSPy's
//! `Respond with a JSON object in the following order of fields: ...`
//! ([`JSON_REQUEST_MARK`]), which no ChatAdapter request contains.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use kestrel_core::Role;
use kestrel_lm::{CallConfig, HistoryEntry, Lm, LmCapabilities, LmError, LmRequest, LmResponse, SharedLm, UsageReport};

/// The text that marks a JSONAdapter request (DSPy's wording).
pub const JSON_REQUEST_MARK: &str = "Respond with a JSON object in the following order of fields:";

/// Counts JSON-fallback requests on their way to `inner`; everything else
/// passes through.
#[derive(Debug, Clone)]
pub struct FallbackCounter {
    inner: SharedLm,
    fallbacks: Arc<AtomicU64>,
}

impl FallbackCounter {
    /// Wrap `inner`.
    pub fn new(inner: SharedLm) -> Self {
        Self { inner, fallbacks: Arc::default() }
    }

    /// JSON fallbacks sent so far.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }
}

/// True when `request` was formatted by the JSONAdapter.
pub fn is_json_request(request: &LmRequest) -> bool {
    request.messages.iter().rev().find(|m| m.role == Role::User).is_some_and(|m| m.content.contains(JSON_REQUEST_MARK))
}

#[async_trait]
impl Lm for FallbackCounter {
    fn model(&self) -> &str {
        self.inner.model()
    }

    fn capabilities(&self) -> LmCapabilities {
        self.inner.capabilities()
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        if is_json_request(&request) {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.call(request).await
    }

    fn get_call_defaults(&self) -> Option<&CallConfig> {
        self.inner.get_call_defaults()
    }

    fn usage(&self) -> Option<UsageReport> {
        self.inner.usage()
    }

    fn history(&self, n: usize) -> Vec<HistoryEntry> {
        self.inner.history(n)
    }
}

#[cfg(test)]
mod tests {
    use kestrel_core::{Example, SignatureSpec};
    use kestrel_lm::{AdapterChoice, call_with_adapter};
    use kestrel_testkit::ScriptedLm;

    use super::*;

    /// A reply the ChatAdapter cannot parse makes the call fall back to the
    /// JSONAdapter; the counter sees exactly that second request.
    #[tokio::test]
    async fn counts_only_the_json_fallback_requests() {
        let scripted = ScriptedLm::sequence([
            "no fields here",
            r#"{"label": "b"}"#,
            "[[ ## label ## ]]\na\n\n[[ ## completed ## ]]",
        ]);
        let counter = FallbackCounter::new(SharedLm::new(scripted));
        let lm = SharedLm::new(counter.clone());
        let signature = SignatureSpec::parse("text -> label: Literal['a', 'b']").unwrap();
        let inputs = Example::from_pairs([("text", "hello")]).with_inputs(["text"]);
        let config = CallConfig::default();
        let out = call_with_adapter(&lm, AdapterChoice::default(), &signature, &[], &inputs, &config).await.unwrap();
        assert!(out.json_fallback);
        assert_eq!(counter.fallbacks(), 1);
        let out = call_with_adapter(&lm, AdapterChoice::default(), &signature, &[], &inputs, &config).await.unwrap();
        assert!(!out.json_fallback);
        assert_eq!(counter.fallbacks(), 1);
    }
}
