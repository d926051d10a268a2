//! Budgets: each kind refuses the call that would go over it (and every
//! later one), calls in flight never overshoot `max_lm_calls`, nested
//! scopes charge every enclosing budget, an LM client is charged once per
//! call (not again for its provider), cache hits cost calls but no tokens,
//! a failed call gives its reservation back, and a dropped one keeps it
//! unless it was still queued in an LM client.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use kestrel_core::{Message, Usage};
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::{
    Budget, BudgetKind, BudgetLimits, Completion, Lm, LmBuilder, LmCapabilities, LmError, LmRequest, LmResponse,
    PriceTable, SharedLm, exhausted_in_scope, with_budget,
};
use kestrel_testkit::ScriptedLm;

/// Answers every request after `delay` with 10 prompt and 5 completion
/// tokens; fails when the prompt says `FAIL`. Counts the calls it answers.
#[derive(Debug, Default)]
struct CountingLm {
    calls: AtomicUsize,
    delay_ms: u64,
}

#[async_trait]
impl Lm for CountingLm {
    fn model(&self) -> &str {
        "test/counting"
    }
    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        tokio::time::sleep(Duration::from_millis(self.delay_ms)).await;
        let text = request.messages.last().map(|m| m.content.clone()).unwrap_or_default();
        if text.contains("FAIL") {
            return Err(LmError::Provider { model: "test/counting".into(), message: "asked to fail".into() });
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(LmResponse::new(
            vec![Completion::stop(format!("echo {text}"))],
            Usage { prompt_tokens: 10, completion_tokens: 5 },
            "test/counting",
        ))
    }
}

fn ask(text: &str) -> LmRequest {
    LmRequest::new(vec![Message::user(text)])
}

fn refused(outcome: &Result<LmResponse, LmError>) -> Option<BudgetKind> {
    match outcome {
        Err(LmError::BudgetExhausted(why)) => Some(why.kind),
        _ => None,
    }
}

#[tokio::test]
async fn max_lm_calls_refuses_the_call_over_it_and_every_later_one() {
    let lm = SharedLm::new(ScriptedLm::sequence(["a", "b", "c", "d", "e"]));
    let budget = Budget::lm_calls(3);
    let outcomes = with_budget(&budget, async {
        let mut out = Vec::new();
        for i in 0..5 {
            out.push(lm.call(ask(&format!("q{i}"))).await);
        }
        out
    })
    .await;
    let answered: Vec<String> =
        outcomes.iter().filter_map(|o| o.as_ref().ok()).map(|r| r.completions[0].text.clone()).collect();
    assert_eq!(answered, ["a", "b", "c"]);
    assert_eq!(refused(&outcomes[3]), Some(BudgetKind::LmCalls));
    assert_eq!(refused(&outcomes[4]), Some(BudgetKind::LmCalls));
    assert_eq!(budget.spent().lm_calls, 3);
    assert_eq!(budget.refused_calls(), 2);
    let why = budget.exhausted().unwrap();
    assert_eq!((why.kind, why.limit, why.spent), (BudgetKind::LmCalls, 3.0, 3.0));
    assert_eq!(why.to_string(), "budget max_lm_calls = 3 reached (spent 3)");
    // Outside the scope the LM is not limited (and refused calls used no reply).
    assert_eq!(lm.call(ask("q5")).await.unwrap().completions[0].text, "d");
}

#[tokio::test]
async fn calls_in_flight_never_overshoot_max_lm_calls() {
    let provider = Arc::new(CountingLm { delay_ms: 5, ..CountingLm::default() });
    let lm = SharedLm::from_arc(provider.clone());
    let budget = Budget::lm_calls(40);
    let outcomes = with_budget(&budget, async {
        let calls = (0..200).map(|i| lm.call(ask(&format!("q{i}"))));
        futures::future::join_all(calls).await
    })
    .await;
    let ok = outcomes.iter().filter(|o| o.is_ok()).count();
    let over = outcomes.iter().filter(|o| refused(o) == Some(BudgetKind::LmCalls)).count();
    assert_eq!((ok, over), (40, 160));
    assert_eq!(provider.calls.load(Ordering::SeqCst), 40, "refused calls never reach the provider");
    assert_eq!(budget.spent().lm_calls, 40);
}

#[tokio::test]
async fn max_tokens_counts_prompt_and_completion_tokens() {
    let provider = Arc::new(CountingLm::default());
    let lm = SharedLm::from_arc(provider.clone());
    // 15 tokens a call: 6 calls reach 90 < 100, the 7th reaches 105; the 8th is refused.
    let budget = Budget::tokens(100);
    let outcomes = with_budget(&budget, async {
        let mut out = Vec::new();
        for i in 0..10 {
            out.push(lm.call(ask(&format!("q{i}"))).await);
        }
        out
    })
    .await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 7);
    assert_eq!(refused(&outcomes[7]), Some(BudgetKind::Tokens));
    assert_eq!(budget.spent().tokens, 105);
    assert_eq!(provider.calls.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn max_cost_usd_counts_the_clients_prices_once_per_call() {
    let provider = Arc::new(CountingLm::default());
    // $1 per million tokens: 15 tokens cost $0.000015 a call.
    let client = LmBuilder::new(SharedLm::from_arc(provider.clone()))
        .cache(CacheConfig::disabled())
        .prices(PriceTable::empty().with_price("test/counting", 1.0, 1.0))
        .build()
        .unwrap();
    let lm = SharedLm::new(client);
    // 9 calls spend 0.000135 < 0.000145; the 10th reaches 0.00015.
    let budget = Budget::cost_usd(0.000145).unwrap();
    let outcomes = with_budget(&budget, async {
        let mut out = Vec::new();
        for i in 0..12 {
            out.push(lm.call(ask(&format!("q{i}"))).await);
        }
        out
    })
    .await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 10);
    assert_eq!(refused(&outcomes[10]), Some(BudgetKind::CostUsd));
    // The client's provider call is not charged a second time.
    assert_eq!(budget.spent().lm_calls, 10);
    assert!((budget.spent().cost_usd - 0.00015).abs() < 1e-12);
    assert_eq!(provider.calls.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn nested_budgets_are_all_charged_and_the_tightest_wins() {
    let lm = SharedLm::new(CountingLm::default());
    let outer = Budget::lm_calls(10);
    let inner = Budget::lm_calls(4);
    let (inner_ok, after_ok) = with_budget(&outer, async {
        let mut inner_ok = 0;
        with_budget(&inner, async {
            for i in 0..6 {
                inner_ok += usize::from(lm.call(ask(&format!("in{i}"))).await.is_ok());
            }
        })
        .await;
        // The inner budget is spent; the outer one still has 6 calls.
        assert!(exhausted_in_scope().is_none());
        let mut after_ok = 0;
        for i in 0..8 {
            after_ok += usize::from(lm.call(ask(&format!("out{i}"))).await.is_ok());
        }
        (inner_ok, after_ok)
    })
    .await;
    assert_eq!((inner_ok, after_ok), (4, 6));
    assert_eq!(inner.spent().lm_calls, 4);
    assert_eq!(outer.spent().lm_calls, 10);
    assert_eq!(outer.exhausted().map(|w| w.kind), Some(BudgetKind::LmCalls));
}

#[tokio::test]
async fn cache_hits_cost_a_call_but_no_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(CountingLm::default());
    let client = LmBuilder::new(SharedLm::from_arc(provider.clone()))
        .cache(CacheConfig::default().with_dir(dir.path().to_path_buf()))
        .build()
        .unwrap();
    let lm = SharedLm::new(client);
    let budget =
        Budget::new(BudgetLimits { max_lm_calls: Some(5), max_tokens: Some(1000), ..BudgetLimits::default() }).unwrap();
    let ok = with_budget(&budget, async {
        let mut ok = 0;
        for _ in 0..8 {
            ok += usize::from(lm.call(ask("same question")).await.is_ok());
        }
        ok
    })
    .await;
    assert_eq!(ok, 5);
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
    assert_eq!(budget.spent().lm_calls, 5);
    assert_eq!(budget.spent().tokens, 15, "four hits were free");
}

#[tokio::test]
async fn a_failed_call_gives_its_reservation_back_and_a_dropped_one_keeps_it() {
    let lm = SharedLm::new(CountingLm { delay_ms: 50, ..CountingLm::default() });
    let budget = Budget::lm_calls(3);
    with_budget(&budget, async {
        assert!(lm.call(ask("FAIL please")).await.is_err());
        // Dropped before it is answered, after the provider got it: it may
        // be billed, so it still counts.
        let slow = lm.call(ask("slow"));
        assert!(tokio::time::timeout(Duration::from_millis(5), slow).await.is_err());
        assert!(lm.call(ask("one")).await.is_ok());
        assert!(lm.call(ask("two")).await.is_ok());
        assert!(matches!(lm.call(ask("three")).await, Err(LmError::BudgetExhausted(_))));
    })
    .await;
    assert_eq!(budget.spent().lm_calls, 3);
    assert_eq!(budget.spent().tokens, 30, "the dropped call's tokens are unknown");
}

#[tokio::test]
async fn a_call_dropped_while_queued_in_a_client_gives_its_reservation_back() {
    let provider = Arc::new(CountingLm { delay_ms: 50, ..CountingLm::default() });
    let client = LmBuilder::new(SharedLm::from_arc(provider.clone()))
        .cache(CacheConfig::disabled())
        .rate_limits(kestrel_lm::RateLimits::default().max_in_flight(1))
        .build()
        .unwrap();
    let lm = SharedLm::new(client);
    let budget = Budget::lm_calls(2);
    with_budget(&budget, async {
        let first = lm.call(ask("first"));
        // Waits for the client's one slot while `first` holds it.
        let queued = lm.call(ask("queued"));
        let (first, queued) = tokio::join!(first, tokio::time::timeout(Duration::from_millis(5), queued));
        assert!(first.is_ok());
        assert!(queued.is_err(), "dropped while queued");
        assert!(lm.call(ask("second")).await.is_ok());
        assert!(matches!(lm.call(ask("third")).await, Err(LmError::BudgetExhausted(_))));
    })
    .await;
    assert_eq!(budget.spent().lm_calls, 2);
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn wait_exhausted_wakes_on_the_first_refusal() {
    let lm = SharedLm::new(CountingLm::default());
    let budget = Budget::lm_calls(1);
    let watcher = budget.clone();
    let waiting = tokio::spawn(async move { watcher.wait_exhausted().await });
    with_budget(&budget, async {
        lm.call(ask("a")).await.unwrap();
        assert!(budget.exhausted().is_none(), "reached but nothing refused yet");
        assert!(budget.reached().is_some());
        let _ = lm.call(ask("b")).await;
    })
    .await;
    let why = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    assert_eq!(why.kind, BudgetKind::LmCalls);
}

#[test]
fn a_negative_or_nan_cost_budget_is_a_config_error() {
    assert!(matches!(Budget::cost_usd(-1.0), Err(LmError::Config(_))));
    assert!(matches!(Budget::cost_usd(f64::NAN), Err(LmError::Config(_))));
    assert!(Budget::cost_usd(0.0).is_ok());
}
