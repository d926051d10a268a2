//! The providers over real HTTP, against the testkit's mock server on
//! `127.0.0.1`: [`openai`] (bodies, `n`, embeddings, the adapter path),
//! [`anthropic`] (bodies, headers, `n` as several requests), [`faults`]
//! (every injected fault, directly and through the client's retries),
//! [`concurrency`] (single flight, in-flight limits) and [`cache`]
//! (persistence across clients, corrupted entries, opt-outs).

use std::time::Duration;

use kestrel_core::Message;
use kestrel_lm::providers::{AnthropicProvider, OpenAiProvider};
use kestrel_lm::{LmBuilder, LmClient, LmRequest, RetryPolicy, SharedLm};
use kestrel_testkit::mock::MockServer;

mod anthropic;
mod cache;
mod concurrency;
mod faults;
mod openai;

/// The key the tests send.
pub(crate) const KEY: &str = "sk-test-key";

/// Provider timeout: long enough for a loaded CI machine, short enough
/// for the delay fault to trip it quickly.
pub(crate) const TIMEOUT: Duration = Duration::from_millis(400);

/// Retries with millisecond backoff, so fault tests stay fast.
pub(crate) fn fast_retries() -> RetryPolicy {
    RetryPolicy::default().with_initial_delay(Duration::from_millis(2)).with_max_delay(Duration::from_millis(10))
}

/// An OpenAI-compatible provider for `model` on `server`.
pub(crate) fn openai(server: &MockServer, model: &str) -> OpenAiProvider {
    OpenAiProvider::new(model).base_url(server.base_url()).api_key(KEY).timeout(TIMEOUT)
}

/// An Anthropic provider for `model` on `server`.
pub(crate) fn anthropic(server: &MockServer, model: &str) -> AnthropicProvider {
    AnthropicProvider::new(model).base_url(server.anthropic_base_url()).api_key(KEY).timeout(TIMEOUT)
}

/// `provider` wrapped with fast retries and no cache.
pub(crate) fn uncached(provider: impl Into<SharedLm>) -> LmClient {
    LmBuilder::new(provider).no_cache().retry(fast_retries()).build().unwrap()
}

/// A system prompt and one user question.
pub(crate) fn ask(question: &str) -> LmRequest {
    LmRequest::new(vec![Message::system("Be brief."), Message::user(question)])
}
