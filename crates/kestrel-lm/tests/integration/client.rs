//! The LM client around an outside provider: retries (backoff, Retry-After,
//! non-retryable errors), rate limits, usage and cost, history, cache
//! opt-outs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kestrel_core::{Message, Usage};
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::{
    Completion, Lm, LmBuilder, LmCapabilities, LmError, LmRequest, LmResponse, PriceTable, RateLimits, RetryPolicy,
    UsageMeter, track_usage, track_usage_live,
};

/// Fails with the scripted errors first, then answers "ok"; tracks calls and
/// concurrency.
#[derive(Debug, Default)]
struct Flaky {
    failures: std::sync::Mutex<Vec<LmError>>,
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    delay: Duration,
    uncacheable: bool,
}

impl Flaky {
    fn failing(errors: Vec<LmError>) -> Arc<Self> {
        Arc::new(Flaky { failures: std::sync::Mutex::new(errors), ..Flaky::default() })
    }
}

#[async_trait]
impl Lm for Flaky {
    fn model(&self) -> &str {
        "openai/gpt-4o-mini"
    }
    fn capabilities(&self) -> LmCapabilities {
        if self.uncacheable { LmCapabilities::default().uncacheable() } else { LmCapabilities::default() }
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let next = {
            let mut failures = self.failures.lock().unwrap();
            if failures.is_empty() { None } else { Some(failures.remove(0)) }
        };
        match next {
            Some(err) => Err(err),
            None => Ok(LmResponse::new(
                vec![Completion::stop(format!("ok: {}", request.messages[0].content))],
                Usage { prompt_tokens: 1_000, completion_tokens: 100 },
                "openai/gpt-4o-mini",
            )),
        }
    }
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default().with_initial_delay(Duration::from_millis(5)).with_max_delay(Duration::from_millis(20))
}

fn server_error() -> LmError {
    LmError::Server { model: "m".into(), status: 503, message: "busy".into(), retry_after: None }
}

fn ask(text: &str) -> LmRequest {
    LmRequest::new(vec![Message::user(text)])
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let provider = Flaky::failing(vec![server_error(), server_error()]);
    let client = LmBuilder::new(kestrel_lm::SharedLm::from_arc(provider.clone()))
        .no_cache()
        .retry(fast_retries())
        .build()
        .unwrap();
    let response = client.call(ask("hi")).await.unwrap();
    assert_eq!(response.completions[0].text, "ok: hi");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_stop_after_num_retries_with_the_last_error() {
    let provider = Flaky::failing((0..10).map(|_| server_error()).collect());
    let client = LmBuilder::new(kestrel_lm::SharedLm::from_arc(provider.clone()))
        .no_cache()
        .retry(fast_retries().num_retries(3))
        .build()
        .unwrap();
    let err = client.call(ask("hi")).await.unwrap_err();
    assert!(matches!(err, LmError::Server { status: 503, .. }), "{err}");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 4, "1 attempt + 3 retries (DSPy's default)");
}

#[tokio::test]
async fn auth_and_bad_request_fail_at_once() {
    for err in [
        LmError::Auth { model: "m".into(), message: "bad key".into() },
        LmError::BadRequest { model: "m".into(), status: 400, message: "nope".into() },
        LmError::ContextWindowExceeded { model: "m".into(), message: "too long".into() },
    ] {
        let provider = Flaky::failing(vec![err]);
        let client = LmBuilder::new(kestrel_lm::SharedLm::from_arc(provider.clone()))
            .no_cache()
            .retry(fast_retries())
            .build()
            .unwrap();
        assert!(client.call(ask("hi")).await.is_err());
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let provider = Flaky::failing(vec![LmError::RateLimited {
        model: "m".into(),
        message: "slow down".into(),
        retry_after: Some(Duration::from_millis(300)),
    }]);
    let client = LmBuilder::new(kestrel_lm::SharedLm::from_arc(provider.clone()))
        .no_cache()
        .retry(RetryPolicy::default().with_initial_delay(Duration::from_millis(1)))
        .build()
        .unwrap();
    let started = Instant::now();
    client.call(ask("hi")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300), "waited {:?}", started.elapsed());
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_is_shared_by_all_tasks() {
    let provider = Arc::new(Flaky { delay: Duration::from_millis(20), ..Flaky::default() });
    let client = LmBuilder::new(kestrel_lm::SharedLm::from_arc(provider.clone()))
        .no_cache()
        .rate_limits(RateLimits::default().max_in_flight(3))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.call(ask(&i.to_string())).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(provider.max_in_flight.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn requests_per_minute_are_limited() {
    let provider = Arc::new(Flaky::default());
    // 60 per minute: a burst of 60, then one per second.
    let client = LmBuilder::new(kestrel_lm::SharedLm::from_arc(provider.clone()))
        .no_cache()
        .history_size(0)
        .rate_limits(RateLimits::default().requests_per_minute(60))
        .build()
        .unwrap();
    let burst = Instant::now();
    for i in 0..60 {
        client.call(ask(&i.to_string())).await.unwrap();
    }
    let burst = burst.elapsed();
    let started = Instant::now();
    client.call(ask("one more")).await.unwrap();
    // The 61st request waits for the next cell: one second after the burst began.
    let waited = started.elapsed();
    assert!(waited + burst >= Duration::from_millis(900), "burst {burst:?}, waited {waited:?}");
}

#[tokio::test]
async fn usage_and_cost_are_counted_per_client_and_per_scope() {
    let provider = Arc::new(Flaky::default());
    let client = LmBuilder::new(kestrel_lm::SharedLm::from_arc(provider.clone()))
        .no_cache()
        .prices(PriceTable::empty().with_price("gpt-4o-mini", 0.15, 0.60))
        .build()
        .unwrap();
    let ((), outer) = track_usage(async {
        client.call(ask("a")).await.unwrap();
        let ((), inner) = track_usage(async {
            client.call(ask("b")).await.unwrap();
        })
        .await;
        assert_eq!(inner.total.calls, 1);
    })
    .await;
    assert_eq!(outer.total.calls, 2, "a call counts in every enclosing scope");
    assert_eq!(outer.total.prompt_tokens, 2_000);
    let expected = 2.0 * (1_000.0 * 0.15 + 100.0 * 0.60) / 1e6;
    assert!((outer.total.cost_usd - expected).abs() < 1e-12, "{}", outer.total.cost_usd);
    assert_eq!(outer.by_model["openai/gpt-4o-mini"].calls, 2);
    let totals = client.usage();
    assert_eq!((totals.total.calls, totals.total.completion_tokens), (2, 200));
    // Outside any scope nothing is recorded by track_usage, but the client still counts.
    client.call(ask("c")).await.unwrap();
    assert_eq!(client.usage().total.calls, 3);
}

#[tokio::test]
async fn a_usage_meter_is_readable_while_the_work_runs() {
    let client = LmBuilder::new(kestrel_lm::SharedLm::from_arc(Arc::new(Flaky::default())))
        .no_cache()
        .prices(PriceTable::empty().with_price("gpt-4o-mini", 0.15, 0.60))
        .build()
        .unwrap();
    let meter = UsageMeter::new();
    let ((), outer) = track_usage(track_usage_live(&meter, async {
        assert_eq!(meter.snapshot().total.calls, 0);
        client.call(ask("a")).await.unwrap();
        assert_eq!(meter.snapshot().total.calls, 1, "seen before the scope ends");
        client.call(ask("b")).await.unwrap();
        let now = meter.snapshot().total;
        assert_eq!(now.calls, 2);
        assert!(now.cost_usd > 0.0);
    }))
    .await;
    assert_eq!(outer.total.calls, 2, "enclosing scopes still count");
    client.call(ask("c")).await.unwrap();
    assert_eq!(meter.snapshot().total.calls, 2, "nothing after the scope");
}

#[tokio::test]
async fn price_lookup_handles_prefixes_and_dated_names() {
    let prices = PriceTable::default();
    assert!(prices.price("openai/gpt-4o-mini").is_some());
    assert_eq!(prices.price("gpt-4o-mini-2024-07-18"), prices.price("gpt-4o-mini"));
    assert_ne!(prices.price("gpt-4o-2024-08-06"), prices.price("gpt-4o-mini"));
    assert!(prices.price("local/my-model").is_none());
    assert_eq!(PriceTable::empty().cost("gpt-4o-mini", 10, 10), None);
}

#[tokio::test]
async fn history_keeps_the_last_calls_and_reads_well() {
    let provider = Flaky::failing(vec![LmError::Auth { model: "m".into(), message: "bad key".into() }]);
    let client = LmBuilder::new(kestrel_lm::SharedLm::from_arc(provider)).no_cache().history_size(2).build().unwrap();
    let _ = client.call(ask("first")).await;
    client.call(ask("second")).await.unwrap();
    client.call(ask("third")).await.unwrap();
    let last = client.history(10);
    assert_eq!(last.len(), 2, "capacity 2");
    assert_eq!(last[0].request.messages[0].content, "second");
    let text = client.history_text(1);
    assert!(text.contains("User message:\n\nthird"), "{text}");
    assert!(text.contains("Response:\n\nok: third"), "{text}");
    let shared = kestrel_lm::SharedLm::new(client);
    assert_eq!(shared.history(5).len(), 2);
    assert!(shared.usage().is_some());
}

#[tokio::test]
async fn memory_cache_answers_repeats_and_respects_opt_outs() {
    let provider = Arc::new(Flaky::default());
    let client = LmBuilder::new(kestrel_lm::SharedLm::from_arc(provider.clone()))
        .cache(CacheConfig::memory_only())
        .build()
        .unwrap();
    let first = client.call(ask("same")).await.unwrap();
    let second = client.call(ask("same")).await.unwrap();
    assert!(!first.cache_hit && second.cache_hit);
    assert_eq!(second.usage, Usage::default(), "a hit costs nothing");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
    let mut bypass = ask("same");
    bypass.use_cache = false;
    assert!(!client.call(bypass).await.unwrap().cache_hit);
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
    assert_eq!(client.usage().total.cache_hits, 1);

    let scripted = Arc::new(Flaky { uncacheable: true, ..Flaky::default() });
    let client = LmBuilder::new(kestrel_lm::SharedLm::from_arc(scripted.clone()))
        .cache(CacheConfig::memory_only())
        .build()
        .unwrap();
    client.call(ask("same")).await.unwrap();
    client.call(ask("same")).await.unwrap();
    assert_eq!(scripted.calls.load(Ordering::SeqCst), 2, "an uncacheable provider is never cached");
    assert!(client.cache().is_none());
}
