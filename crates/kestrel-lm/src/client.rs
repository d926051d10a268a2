//! [`LmClient`]: wraps any provider (an [`Lm`]) with the production layers —
//! cache (memory + disk, single flight), retries with backoff, rate limits,
//! usage and cost accounting, and history — so a provider written in any crate
//! gets all of them by wrapping. [`lm`] builds one from a DSPy model string.
//!
//! Order of the layers for one call: history and usage (outermost, so cache
//! hits are counted) → cache → rate limits → retries → provider. A streamed
//! call ([`Lm::call_streaming`]) goes through the same layers; a cache hit is
//! replayed as a few chunks, and a call is not retried once it sent text.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use async_trait::async_trait;

use crate::cache::{Cache, CacheConfig, CacheKey};
use crate::error::LmError;
use crate::history::{History, HistoryEntry, format_history};
use crate::limits::{Limiter, RateLimits};
use crate::lm::{Lm, LmCapabilities, SharedLm};
use crate::request::{CallConfig, LmRequest, LmResponse};
use crate::retry::RetryPolicy;
use crate::stream::{CACHE_REPLAY_PIECES, DeltaSink};
use crate::usage::{PriceTable, UsageReport, record_in_scopes};

/// Default number of calls kept in history.
pub const DEFAULT_HISTORY: usize = 1_000;

/// Configures an [`LmClient`].
#[derive(Debug)]
pub struct LmBuilder {
    provider: SharedLm,
    cache: CacheConfig,
    retry: RetryPolicy,
    limits: RateLimits,
    prices: PriceTable,
    history: usize,
    defaults: CallConfig,
}

impl LmBuilder {
    /// Wrap a provider with the defaults: cache on (memory + disk), 3
    /// retries, no rate limits, the default price table, 1,000 calls of
    /// history. A provider that declares itself uncacheable (the testkit's
    /// scripted LM) is never cached.
    pub fn new(provider: impl Into<SharedLm>) -> Self {
        Self {
            provider: provider.into(),
            cache: CacheConfig::default(),
            retry: RetryPolicy::default(),
            limits: RateLimits::default(),
            prices: PriceTable::default(),
            history: DEFAULT_HISTORY,
            defaults: CallConfig::default(),
        }
    }

    /// The provider for a DSPy model string (`openai/gpt-4o-mini`,
    /// `anthropic/claude-3-5-haiku-latest`), configured from the environment.
    pub fn from_model(model: &str) -> Result<Self, LmError> {
        Ok(Self::new(crate::providers::provider_for_model(model)?))
    }

    /// [`Self::from_model`] through a registry of extra providers
    /// (`local/…` with kestrel-local; the facade's
    /// `kestrel::providers::registry()` holds them).
    pub fn from_model_in(model: &str, registry: &crate::registry::ProviderRegistry) -> Result<Self, LmError> {
        Ok(Self::new(registry.provider_for_model(model)?))
    }

    /// Builder: cache settings.
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    /// Builder: no cache at all.
    pub fn no_cache(self) -> Self {
        self.cache(CacheConfig::disabled())
    }

    /// Builder: retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Builder: number of retries (DSPy's `num_retries`).
    pub fn num_retries(mut self, n: u32) -> Self {
        self.retry.num_retries = n;
        self
    }

    /// Builder: rate limits.
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Builder: price table for cost accounting.
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// Builder: default call options for every call through this LM (DSPy's
    /// `dspy.LM(model, **kwargs)`), replacing any set before. A predictor's
    /// own config and `with_call_config` overrides take precedence; these
    /// fill only what they leave unset. They are part of every request sent
    /// and so of its cache key.
    pub fn call_defaults(mut self, defaults: CallConfig) -> Self {
        self.defaults = defaults;
        self
    }

    /// Builder: default sampling temperature (DSPy's `temperature`).
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.defaults.temperature = Some(temperature);
        self
    }

    /// Builder: default completion token limit (DSPy's `max_tokens`).
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.defaults.max_tokens = Some(max_tokens);
        self
    }

    /// Builder: default number of completions (DSPy's `n`); with `n > 1`
    /// and a temperature unset or at most 0.15, DSPy's rule raises the
    /// temperature to 0.7.
    pub fn n(mut self, n: u32) -> Self {
        self.defaults.n = Some(n);
        self
    }

    /// Builder: default stop sequences (DSPy's `stop`).
    pub fn stop<S: Into<String>>(mut self, stop: impl IntoIterator<Item = S>) -> Self {
        self.defaults.stop = stop.into_iter().map(Into::into).collect();
        self
    }

    /// Builder: default rollout id (DSPy's `rollout_id`: a cache-key
    /// component only, never sent).
    pub fn rollout_id(mut self, rollout_id: u64) -> Self {
        self.defaults.rollout_id = Some(rollout_id);
        self
    }

    /// Builder: how many calls history keeps.
    pub fn history_size(mut self, n: usize) -> Self {
        self.history = n;
        self
    }

    /// Open the cache and build the client.
    pub fn build(self) -> Result<LmClient, LmError> {
        let cacheable = !self.provider.capabilities().no_cache;
        let cache = if cacheable && self.cache.any_level() { Some(Cache::new(self.cache)?) } else { None };
        Ok(LmClient {
            inner: Arc::new(Inner {
                provider: self.provider,
                cache,
                retry: self.retry,
                limiter: Limiter::new(self.limits),
                prices: self.prices,
                totals: Mutex::default(),
                history: History::new(self.history),
                // None when empty: calls then skip the merge entirely.
                defaults: (self.defaults != CallConfig::default()).then_some(self.defaults),
            }),
        })
    }
}

/// A provider wrapped with cache, retries, limits, usage and history. Cheap
/// to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct LmClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provider: SharedLm,
    cache: Option<Cache>,
    retry: RetryPolicy,
    limiter: Limiter,
    prices: PriceTable,
    totals: Mutex<UsageReport>,
    history: History,
    defaults: Option<CallConfig>,
}

/// `dspy.LM(model)`: the provider for a DSPy model string from the
/// environment, wrapped with the default cache, retries and accounting.
/// For DSPy's `dspy.LM(model, temperature=0, max_tokens=256)` use the
/// builder: `LmBuilder::from_model(model)?.temperature(0.0).max_tokens(256).build()`.
pub fn lm(model: &str) -> Result<SharedLm, LmError> {
    Ok(SharedLm::new(LmBuilder::from_model(model)?.build()?))
}

impl LmClient {
    /// The wrapped provider.
    pub fn provider(&self) -> &SharedLm {
        &self.inner.provider
    }

    /// The default call options set with [`LmBuilder::call_defaults`] and
    /// friends, if any were set.
    pub fn get_call_defaults(&self) -> Option<&CallConfig> {
        self.inner.defaults.as_ref()
    }

    /// The prices this client charges calls at.
    pub fn price_table(&self) -> &PriceTable {
        &self.inner.prices
    }

    /// The cache, if enabled.
    pub fn cache(&self) -> Option<&Cache> {
        self.inner.cache.as_ref()
    }

    /// Everything this client has answered so far.
    pub fn usage(&self) -> UsageReport {
        self.inner.totals.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The last `n` calls, oldest first.
    pub fn history(&self, n: usize) -> Vec<HistoryEntry> {
        self.inner.history.last(n)
    }

    /// The last `n` calls as readable text.
    pub fn history_text(&self, n: usize) -> String {
        format_history(&self.history(n))
    }

    /// Print the last `n` calls (DSPy's `inspect_history`).
    pub fn inspect_history(&self, n: usize) {
        println!("{}", self.history_text(n));
    }

    /// Limits, retries and the provider: one uncached call, streamed to
    /// `sink` when given (then never retried once text was sent).
    async fn call_provider(&self, request: &LmRequest, sink: Option<&DeltaSink>) -> Result<LmResponse, LmError> {
        let inner = &self.inner;
        let before = sink.map(DeltaSink::sent);
        let mut response = inner
            .retry
            .run_while(
                || async {
                    let _permit = inner.limiter.acquire(request).await;
                    match sink {
                        Some(sink) => inner.provider.call_streaming(request.clone(), sink).await,
                        None => inner.provider.call(request.clone()).await,
                    }
                },
                || sink.map(DeltaSink::sent) == before,
            )
            .await?;
        if response.cost_usd.is_none() {
            response.cost_usd = inner.prices.cost(
                inner.provider.model(),
                response.usage.prompt_tokens,
                response.usage.completion_tokens,
            );
        }
        Ok(response)
    }

    /// One call through every layer; `sink` streams it.
    async fn call_layers(&self, mut request: LmRequest, sink: Option<&DeltaSink>) -> Result<LmResponse, LmError> {
        // Dropped before the provider is called, a call is not charged.
        crate::budget::mark_queued();
        let started = Instant::now();
        // Before the cache key: the key is that of the request actually sent.
        if let Some(defaults) = &self.inner.defaults {
            request.fill_unset_from(defaults);
        }
        let model = self.model().to_string();
        let before = sink.map(DeltaSink::sent);
        let outcome = match (&self.inner.cache, request.use_cache) {
            (Some(cache), true) => {
                let key = CacheKey::for_request(&model, &request);
                cache.get_or_fetch(key, || self.call_provider(&request, sink)).await
            }
            _ => self.call_provider(&request, sink).await,
        };
        if let Ok(response) = &outcome {
            // A cache hit (or a join of an identical call in flight) sent
            // nothing: replay the reply as a stream.
            if let Some(sink) = sink.filter(|s| Some(s.sent()) == before) {
                let pieces = if response.cache_hit { CACHE_REPLAY_PIECES } else { 1 };
                sink.replay(response, pieces).await;
            }
            self.inner.totals.lock().unwrap_or_else(PoisonError::into_inner).record(&model, response);
            record_in_scopes(&model, response);
        }
        self.inner.history.push(HistoryEntry {
            timestamp: SystemTime::now(),
            model,
            request,
            outcome: outcome.clone().map_err(|e| e.to_string()),
            latency: started.elapsed(),
        });
        outcome
    }
}

#[async_trait]
impl Lm for LmClient {
    fn model(&self) -> &str {
        self.inner.provider.model()
    }

    fn capabilities(&self) -> LmCapabilities {
        self.inner.provider.capabilities()
    }

    fn get_call_defaults(&self) -> Option<&CallConfig> {
        self.inner.defaults.as_ref()
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        self.call_layers(request, None).await
    }

    async fn call_streaming(&self, request: LmRequest, sink: &DeltaSink) -> Result<LmResponse, LmError> {
        self.call_layers(request, Some(sink)).await
    }

    fn usage(&self) -> Option<UsageReport> {
        Some(LmClient::usage(self))
    }

    fn history(&self, n: usize) -> Vec<HistoryEntry> {
        LmClient::history(self, n)
    }
}
