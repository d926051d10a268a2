//! The error budget (`max_errors`) and the failure score.

use kestrel_core::{Example, Prediction};
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_eval::{EvalError, Evaluate, ExampleError, StopReason, Trace};
use kestrel_lm::with_lm;
use kestrel_modules::Predict;

use crate::support::{FakeLm, qa};

fn program() -> Predict {
    Predict::from_signature("question -> answer").unwrap()
}

#[tokio::test]
async fn a_failed_example_scores_the_failure_score() {
    let devset = vec![qa("q0", "yes", "yes"), qa("q1 FAIL", "yes", "yes")];
    let eval = Evaluate::new(devset).failure_score(0.5);
    let result = with_lm(FakeLm::new(), eval.run(&program(), &AnswerExactMatch::new())).await.unwrap();
    let failed = &result.results[1];
    assert!(failed.prediction.is_none());
    assert_eq!(failed.score.score, 0.5);
    let error = failed.error.as_ref().unwrap();
    assert!(matches!(error, ExampleError::Program(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.starts_with("program error:") && message.contains("refused"), "{message}");
    assert_eq!(result.errors, 1);
    assert_eq!(result.stop, None);
    // round(100 * (1 + 0.5) / 2, 2)
    assert_eq!(result.score, 75.0);
}

#[tokio::test]
async fn reaching_the_budget_stops_the_run_with_partial_results() {
    let lm = FakeLm::new();
    let questions = ["ok0", "FAIL1", "ok2", "FAIL3", "FAIL4", "ok5", "ok6", "FAIL7", "ok8", "ok9"];
    let devset: Vec<_> = questions.iter().map(|q| qa(*q, "x", "x")).collect();
    let eval = Evaluate::new(devset).concurrency(1).unwrap().max_errors(3).unwrap();
    let result = with_lm(lm.clone(), eval.run(&program(), &AnswerExactMatch::new())).await.unwrap();

    // DSPy's rule (`error_count >= max_errors`): the third error (FAIL4)
    // stops the run.
    assert_eq!(result.stop, Some(StopReason::TooManyErrors { errors: 3, max_errors: 3 }));
    assert_eq!(result.errors, 3);
    assert_eq!(result.results.iter().map(|r| r.index).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    assert_eq!(lm.counters.calls(), 5, "no call after the budget ran out");
    assert!(!result.is_complete());
    // The denominator is the whole devset: 2 correct of 10.
    assert_eq!(result.score, 20.0);
    assert_eq!(result.scores(), vec![1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert!(result.summary().contains("stopped after 3 errors (max_errors = 3), 5 of 10 examples evaluated"));
}

#[tokio::test]
async fn with_concurrency_the_stop_keeps_what_finished_and_issues_nothing_new() {
    let lm = FakeLm::new();
    let mut devset: Vec<_> = (0..8).map(|i| qa(format!("ok{i}"), "x", "x")).collect();
    devset.extend((0..40).map(|i| qa(format!("FAIL{i} delay_ms=5"), "x", "x")));
    let eval = Evaluate::new(devset).concurrency(4).unwrap().max_errors(6).unwrap();
    let result = with_lm(lm.clone(), eval.run(&program(), &AnswerExactMatch::new())).await.unwrap();
    assert!(matches!(result.stop, Some(StopReason::TooManyErrors { errors: 6, max_errors: 6 })));
    assert_eq!(result.results.iter().filter(|r| r.is_ok()).count(), 8);
    assert_eq!(result.errors, 6);
    let calls = lm.counters.calls();
    assert!(calls <= 8 + 6 + 3, "at most the in-flight window beyond the stop: {calls}");
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    assert_eq!(lm.counters.calls(), calls, "no call starts after the run returned");
    assert_eq!(lm.counters.in_flight(), 0, "calls in flight were dropped");
}

#[tokio::test]
async fn no_budget_means_every_example_runs_and_the_default_budget_is_ten() {
    let devset: Vec<_> = (0..15).map(|i| qa(format!("FAIL{i}"), "x", "x")).collect();
    let lm = FakeLm::new();
    let unlimited = Evaluate::new(devset.clone()).unlimited_errors();
    let result = with_lm(lm.clone(), unlimited.run(&program(), &AnswerExactMatch::new())).await.unwrap();
    assert_eq!((result.errors, result.results.len(), result.stop.clone()), (15, 15, None));

    let eval = Evaluate::new(devset).concurrency(1).unwrap();
    let result = with_lm(FakeLm::new(), eval.run(&program(), &AnswerExactMatch::new())).await.unwrap();
    assert_eq!(result.stop, Some(StopReason::TooManyErrors { errors: 10, max_errors: 10 }));
}

#[tokio::test]
async fn metric_errors_count_against_the_budget_and_keep_the_prediction() {
    let devset: Vec<_> = (0..6).map(|i| qa(format!("q{i}"), &format!("{i}"), "x")).collect();
    let picky = |_: &Example, p: &Prediction, _: Option<&Trace>| -> Result<bool, EvalError> {
        match p.get_str("answer") {
            Some("1") | Some("3") => Err(EvalError::metric("cannot judge odd answers")),
            _ => Ok(true),
        }
    };
    let eval = Evaluate::new(devset).concurrency(1).unwrap().max_errors(2).unwrap().failure_score(0.25);
    let result = with_lm(FakeLm::new(), eval.run(&program(), &picky)).await.unwrap();
    assert_eq!(result.stop, Some(StopReason::TooManyErrors { errors: 2, max_errors: 2 }));
    let row = &result.results[1];
    assert_eq!(row.prediction.as_ref().unwrap().get_str("answer"), Some("1"));
    let error = row.error.as_ref().unwrap();
    assert!(
        matches!(error, ExampleError::Metric(EvalError::Metric(m)) if m == "cannot judge odd answers"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "metric error: metric failed: cannot judge odd answers");
    assert_eq!(row.score.score, 0.25);
    // Rows 0 and 2 scored 1; rows 1 and 3 failed (0.25); rows 4 and 5 never ran (0.25).
    assert_eq!(result.score, round2(100.0 * (2.0 + 4.0 * 0.25) / 6.0));
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[tokio::test]
async fn zero_counts_are_an_immediate_typed_error() {
    let eval = Evaluate::new(vec![qa("q", "a", "a")]);
    let err = eval.clone().concurrency(0).unwrap_err();
    assert!(matches!(err, EvalError::InvalidArgument { name: "concurrency", .. }), "{err}");
    let err = eval.clone().max_errors(0).unwrap_err();
    assert!(matches!(err, EvalError::InvalidArgument { name: "max_errors", .. }), "{err}");
    let n: usize = 3;
    let eval = eval.concurrency(n).unwrap().max_errors(std::num::NonZeroUsize::MIN).unwrap();
    assert_eq!((eval.get_concurrency().get(), eval.get_max_errors().map(|n| n.get())), (3, Some(1)));
}

#[tokio::test]
async fn a_rate_limit_is_told_apart_from_other_failures() {
    // The row keeps the typed error: a caller can match the LM error.
    let devset = vec![qa("q0 RATELIMIT", "x", "x"), qa("q1 FAIL", "x", "x")];
    let eval = Evaluate::new(devset).unlimited_errors();
    let result = with_lm(FakeLm::new(), eval.run(&program(), &AnswerExactMatch::new())).await.unwrap();
    let kinds: Vec<bool> = result
        .results
        .iter()
        .map(|r| matches!(r.error.as_ref().and_then(|e| e.lm_error()), Some(kestrel_lm::LmError::RateLimited { .. })))
        .collect();
    assert_eq!(kinds, [true, false]);
    assert!(result.results[1].error.as_ref().unwrap().lm_error().is_some());
}
