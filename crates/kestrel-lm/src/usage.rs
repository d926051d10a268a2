//! Usage and cost accounting: a [`PriceTable`] (per-million-token prices the
//! user can extend), [`UsageReport`] totals per LM and per model, and
//! task-local scopes ([`track_usage`]) so one compile or one evaluation can
//! report what it spent.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::request::LmResponse;

/// Price of one model in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Per million prompt tokens.
    pub input_per_million: f64,
    /// Per million completion tokens.
    pub output_per_million: f64,
}

/// Model → price. Lookups try the full model string (`openai/gpt-4o-mini`),
/// then the name without its provider prefix, then the longest known prefix
/// of that name (so `gpt-4o-mini-2024-07-18` is priced as `gpt-4o-mini`).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

/// Published list prices (USD per million tokens) of common models, as of
/// late 2025. Extend or override them with [`PriceTable::with_price`].
const DEFAULT_PRICES: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-5-nano", 0.05, 0.40),
    ("gpt-5-mini", 0.25, 2.00),
    ("gpt-5", 1.25, 10.00),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    ("o3", 2.00, 8.00),
    ("text-embedding-3-small", 0.02, 0.0),
    ("text-embedding-3-large", 0.13, 0.0),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-haiku-4-5", 1.00, 5.00),
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-opus-4", 15.00, 75.00),
];

impl Default for PriceTable {
    fn default() -> Self {
        let prices = DEFAULT_PRICES
            .iter()
            .map(|&(m, i, o)| (m.to_string(), Price { input_per_million: i, output_per_million: o }))
            .collect();
        Self { prices }
    }
}

impl PriceTable {
    /// A table with no prices (every cost unknown).
    pub fn empty() -> Self {
        Self { prices: BTreeMap::new() }
    }

    /// Builder: add or replace a model's price (USD per million tokens).
    pub fn with_price(mut self, model: impl Into<String>, input_per_million: f64, output_per_million: f64) -> Self {
        self.prices.insert(model.into(), Price { input_per_million, output_per_million });
        self
    }

    /// The price of `model`, if known.
    pub fn price(&self, model: &str) -> Option<Price> {
        if let Some(p) = self.prices.get(model) {
            return Some(*p);
        }
        let bare = model.split_once('/').map_or(model, |(_, name)| name);
        if let Some(p) = self.prices.get(bare) {
            return Some(*p);
        }
        self.prices
            .iter()
            .filter(|(known, _)| bare.starts_with(known.as_str()))
            .max_by_key(|(known, _)| known.len())
            .map(|(_, p)| *p)
    }

    /// Cost in USD of this many tokens on `model`, if its price is known.
    pub fn cost(&self, model: &str, prompt_tokens: u64, completion_tokens: u64) -> Option<f64> {
        self.price(model).map(|p| {
            (prompt_tokens as f64 * p.input_per_million + completion_tokens as f64 * p.output_per_million) / 1e6
        })
    }
}

/// Usage of one model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelUsage {
    /// LM calls answered (cache hits included).
    pub calls: u64,
    /// Calls answered from a cache.
    pub cache_hits: u64,
    /// Prompt tokens paid for.
    pub prompt_tokens: u64,
    /// Completion tokens paid for.
    pub completion_tokens: u64,
    /// Cost in USD (calls whose price is unknown count as zero).
    pub cost_usd: f64,
}

impl ModelUsage {
    // Token counts come off the wire: sums saturate instead of overflowing.
    fn add(&mut self, response: &LmResponse) {
        self.calls = self.calls.saturating_add(1);
        self.cache_hits = self.cache_hits.saturating_add(u64::from(response.cache_hit));
        self.prompt_tokens = self.prompt_tokens.saturating_add(response.usage.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(response.usage.completion_tokens);
        self.cost_usd += response.cost_usd.unwrap_or(0.0);
    }

    fn merge(&mut self, other: &ModelUsage) {
        self.calls = self.calls.saturating_add(other.calls);
        self.cache_hits = self.cache_hits.saturating_add(other.cache_hits);
        self.prompt_tokens = self.prompt_tokens.saturating_add(other.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(other.completion_tokens);
        self.cost_usd += other.cost_usd;
    }
}

/// Totals over many calls, overall and per model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    /// Sum over every model.
    pub total: ModelUsage,
    /// Per model string.
    pub by_model: BTreeMap<String, ModelUsage>,
}

impl UsageReport {
    /// Count one answered call.
    pub fn record(&mut self, model: &str, response: &LmResponse) {
        self.total.add(response);
        self.by_model.entry(model.to_string()).or_default().add(response);
    }

    /// Add another report into this one.
    pub fn merge(&mut self, other: &UsageReport) {
        self.total.merge(&other.total);
        for (model, usage) in &other.by_model {
            self.by_model.entry(model.clone()).or_default().merge(usage);
        }
    }
}

type Sink = Arc<Mutex<UsageReport>>;

tokio::task_local! {
    static SCOPES: Vec<Sink>;
}

/// Run `future` and return, with its output, the usage of every LM call made
/// inside it through an LM client (cache hits count as calls with zero
/// tokens). Scopes nest: a call counts in every enclosing scope.
pub async fn track_usage<F: Future>(future: F) -> (F::Output, UsageReport) {
    let sink: Sink = Arc::default();
    let mut scopes = SCOPES.try_with(Clone::clone).unwrap_or_default();
    scopes.push(Arc::clone(&sink));
    let output = SCOPES.scope(scopes, future).await;
    let report = std::mem::take(&mut *sink.lock().unwrap_or_else(PoisonError::into_inner));
    (output, report)
}

/// A live view of the usage recorded by [`track_usage_live`]: unlike
/// [`track_usage`], whose report arrives when the future ends, a meter can be
/// read while the work runs (an optimizer checks its budget between steps).
#[derive(Debug, Clone, Default)]
pub struct UsageMeter(Sink);

impl UsageMeter {
    /// A meter that has recorded nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The usage recorded so far.
    pub fn snapshot(&self) -> UsageReport {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Run `future`, recording the usage of every LM call made inside it (as
/// [`track_usage`] does) into `meter`, readable at any time.
pub async fn track_usage_live<F: Future>(meter: &UsageMeter, future: F) -> F::Output {
    let mut scopes = SCOPES.try_with(Clone::clone).unwrap_or_default();
    scopes.push(Arc::clone(&meter.0));
    SCOPES.scope(scopes, future).await
}

/// Count a call in every active [`track_usage`] scope of this task.
pub(crate) fn record_in_scopes(model: &str, response: &LmResponse) {
    let _ = SCOPES.try_with(|scopes| {
        for sink in scopes {
            sink.lock().unwrap_or_else(PoisonError::into_inner).record(model, response);
        }
    });
}

#[cfg(test)]
mod tests {
    use kestrel_core::Usage;

    use super::*;
    use crate::request::Completion;

    #[test]
    fn absurd_token_counts_from_a_server_saturate_instead_of_overflowing() {
        let usage = Usage { prompt_tokens: u64::MAX, completion_tokens: u64::MAX - 1 };
        let response = LmResponse::new(vec![Completion::stop("x")], usage, "m");
        let mut report = UsageReport::default();
        report.record("m", &response);
        report.record("m", &response);
        let copy = report.clone();
        report.merge(&copy);
        assert_eq!(report.total.prompt_tokens, u64::MAX);
        assert_eq!(report.by_model["m"].completion_tokens, u64::MAX);
        assert_eq!(report.total.calls, 4);
    }
}
