//! The number of program calls in flight never exceeds the setting, also
//! at thousands, and the run's usage is reported.

use std::sync::Arc;
use std::time::Duration;

use kestrel_eval::Evaluate;
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_lm::{LmBuilder, with_lm};
use kestrel_modules::Predict;
use tokio::sync::Semaphore;

use crate::support::{FakeLm, qa};

#[tokio::test(start_paused = true)]
async fn in_flight_calls_never_exceed_the_concurrency() {
    for concurrency in [1, 7, 16] {
        let lm = FakeLm::new();
        let devset: Vec<_> = (0..100).map(|i| qa(format!("q{i} delay_ms={}", 5 + i % 7), "x", "x")).collect();
        let program = Predict::from_signature("question -> answer").unwrap();
        let eval = Evaluate::new(devset).concurrency(concurrency).unwrap();
        let result = with_lm(lm.clone(), eval.run(&program, &AnswerExactMatch::new())).await.unwrap();
        assert_eq!(result.results.len(), 100);
        assert_eq!(lm.counters.max_in_flight(), concurrency, "concurrency {concurrency}");
    }
}

#[tokio::test(start_paused = true)]
async fn thousands_in_flight_finish_in_waves() {
    let lm = FakeLm::new();
    let devset: Vec<_> = (0..3000).map(|i| qa(format!("q{i} delay_ms=100"), "x", "x")).collect();
    let program = Predict::from_signature("question -> answer").unwrap();
    let started = tokio::time::Instant::now();
    let eval = Evaluate::new(devset).concurrency(1000).unwrap();
    let result = with_lm(lm.clone(), eval.run(&program, &AnswerExactMatch::new())).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(result.score, 100.0);
    assert_eq!(lm.counters.max_in_flight(), 1000);
    assert_eq!(lm.counters.calls(), 3000);
    // Three waves of 100 ms (on the paused test clock).
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_millis(310), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_shared_limiter_bounds_several_runs_at_once() {
    let lm = FakeLm::new();
    let limiter = Arc::new(Semaphore::new(4));
    let devset: Vec<_> = (0..30).map(|i| qa(format!("q{i} delay_ms=10"), "x", "x")).collect();
    let program = Predict::from_signature("question -> answer").unwrap();
    let metric = AnswerExactMatch::new();
    let eval = Evaluate::new(devset).concurrency(10).unwrap().limiter(Arc::clone(&limiter));
    let (a, b) =
        with_lm(lm.clone(), async { tokio::join!(eval.run(&program, &metric), eval.run(&program, &metric)) }).await;
    assert_eq!((a.unwrap().score, b.unwrap().score), (100.0, 100.0));
    assert_eq!(lm.counters.max_in_flight(), 4);
    assert_eq!(limiter.available_permits(), 4);
}

#[test]
fn the_run_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let program = Predict::from_signature("question -> answer").unwrap();
    let metric = AnswerExactMatch::new();
    let eval = Evaluate::new(vec![qa("q", "x", "x")]).cancel_on_ctrl_c();
    let run = eval.run(&program, &metric);
    assert_send(&run);
}

#[tokio::test]
async fn usage_and_cost_of_the_run_are_reported() {
    let lm = LmBuilder::new(FakeLm::priced()).no_cache().num_retries(0).build().unwrap();
    let devset: Vec<_> = (0..4).map(|i| qa(format!("q{i}"), "x", "x")).collect();
    let program = Predict::from_signature("question -> answer").unwrap();
    let result = with_lm(lm, Evaluate::new(devset).run(&program, &AnswerExactMatch::new())).await.unwrap();
    let total = &result.usage.total;
    assert_eq!((total.calls, total.prompt_tokens, total.completion_tokens), (4, 400, 40));
    // gpt-4o-mini: $0.15 / M prompt tokens, $0.60 / M completion tokens.
    assert!((total.cost_usd - (400.0 * 0.15 + 40.0 * 0.60) / 1e6).abs() < 1e-12, "{}", total.cost_usd);
    assert!(result.usage.by_model.contains_key("openai/gpt-4o-mini"));
    assert!(result.elapsed > Duration::ZERO);
}
