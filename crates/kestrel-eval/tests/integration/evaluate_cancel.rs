//! Cancellation: a token stops new calls and returns what finished; a
//! dropped run future stops everything.

use std::time::Duration;

use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_eval::{Evaluate, StopReason};
use kestrel_lm::with_lm;
use kestrel_modules::Predict;
use tokio_util::sync::CancellationToken;

use crate::support::{FakeLm, qa};

fn slow_devset(n: usize) -> Vec<kestrel_core::Example> {
    (0..n).map(|i| qa(format!("q{i} delay_ms=50"), "x", "x")).collect()
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_token_returns_what_finished_and_issues_no_more_calls() {
    let lm = FakeLm::new();
    let program = Predict::from_signature("question -> answer").unwrap();
    let token = CancellationToken::new();
    let eval = Evaluate::new(slow_devset(50)).concurrency(5).unwrap().cancel_token(token.clone());
    let canceller = async {
        tokio::time::sleep(Duration::from_millis(120)).await;
        token.cancel();
    };
    let metric = AnswerExactMatch::new();
    let (result, ()) = tokio::join!(with_lm(lm.clone(), eval.run(&program, &metric)), canceller);
    let result = result.unwrap();

    // Two waves of five finished (at 50 and 100 ms); the third was in flight.
    assert_eq!(result.stop, Some(StopReason::Cancelled));
    assert!(result.is_cancelled());
    assert_eq!(result.results.len(), 10);
    assert_eq!(result.results.iter().map(|r| r.index).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    assert_eq!(lm.counters.calls(), 15);
    assert_eq!(lm.counters.in_flight(), 0, "in-flight calls were dropped");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(lm.counters.calls(), 15, "no call after cancellation");
    // 10 correct over the whole devset of 50.
    assert_eq!(result.score, 20.0);
    assert!(result.table(3).contains("... 40 examples not evaluated ..."));
}

#[tokio::test]
async fn an_already_cancelled_token_makes_no_call() {
    let lm = FakeLm::new();
    let program = Predict::from_signature("question -> answer").unwrap();
    let token = CancellationToken::new();
    token.cancel();
    let eval = Evaluate::new(slow_devset(5)).cancel_token(token);
    let result = with_lm(lm.clone(), eval.run(&program, &AnswerExactMatch::new())).await.unwrap();
    assert_eq!(result.stop, Some(StopReason::Cancelled));
    assert!(result.results.is_empty());
    assert_eq!(result.score, 0.0);
    assert_eq!(lm.counters.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_run_future_stops_every_call() {
    let lm = FakeLm::new();
    let program = Predict::from_signature("question -> answer").unwrap();
    let eval = Evaluate::new(slow_devset(50)).concurrency(5).unwrap();
    let metric = AnswerExactMatch::new();
    let run = with_lm(lm.clone(), eval.run(&program, &metric));
    let timed_out = tokio::time::timeout(Duration::from_millis(120), run).await;
    assert!(timed_out.is_err());
    assert_eq!(lm.counters.calls(), 15);
    assert_eq!(lm.counters.in_flight(), 0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(lm.counters.calls(), 15);
}
