//! Metrics as closures (sync and async), scores with feedback, shared
//! metrics, and DSPy's acceptance rule.

use std::sync::Arc;

use kestrel_core::{Example, Prediction};
use kestrel_eval::{EvalError, Evaluate, Metric, Score, SharedMetric, Trace, metric_fn, metric_fn_async};
use kestrel_lm::with_lm;
use kestrel_modules::Predict;

use crate::support::{FakeLm, qa};

fn devset() -> Vec<Example> {
    vec![qa("q0", "Paris", "Paris"), qa("q1", "Lyon", "Paris"), qa("q2", "paris", "Paris")]
}

#[tokio::test]
async fn closures_returning_bool_f64_or_score_are_metrics() {
    let program = Predict::from_signature("question -> answer").unwrap();
    let eval = Evaluate::new(devset());

    // A plain closure with annotated argument types; evaluation passes no trace.
    let exact = |e: &Example, p: &Prediction, trace: Option<&Trace>| {
        assert!(trace.is_none());
        e.get("answer") == p.get("answer")
    };
    let result = with_lm(FakeLm::new(), eval.run(&program, &exact)).await.unwrap();
    assert_eq!((result.score, result.metric_name.as_str()), (33.33, "metric"));

    // `metric_fn` infers the argument types and names the column.
    let length = metric_fn("length", |_, p, _| p.get_str("answer").map_or(0.0, |a| a.len() as f64 / 10.0));
    let result = with_lm(FakeLm::new(), eval.run(&program, &length)).await.unwrap();
    assert_eq!(result.scores(), vec![0.5, 0.4, 0.5]);
    assert_eq!(result.score, 46.67);
    assert_eq!(result.metric_name, "length");

    // A score with feedback keeps it on the row.
    let with_feedback = metric_fn("graded", |e, p, _| {
        let ok = e.get_str("answer").map(str::to_lowercase) == p.get_str("answer").map(str::to_lowercase);
        Score::with_feedback(ok, if ok { "correct" } else { "expected Paris" })
    });
    let result = with_lm(FakeLm::new(), eval.run(&program, &with_feedback)).await.unwrap();
    assert_eq!(result.scores(), vec![1.0, 0.0, 1.0]);
    assert_eq!(result.results[1].score.feedback.as_deref(), Some("expected Paris"));
    assert_eq!(result.records()[1]["feedback"], "expected Paris");
}

#[tokio::test]
async fn async_closures_and_shared_metrics_work() {
    let program = Predict::from_signature("question -> answer").unwrap();
    let judged = metric_fn_async("judged", |e: Example, p: Prediction, _| async move {
        tokio::task::yield_now().await;
        match (e.get_str("answer"), p.get_str("answer")) {
            (Some(g), Some(a)) => Ok(Score::from(g.eq_ignore_ascii_case(a))),
            _ => Err(EvalError::metric("missing answer")),
        }
    });
    let result = with_lm(FakeLm::new(), Evaluate::new(devset()).run(&program, &judged)).await.unwrap();
    assert_eq!(result.scores(), vec![1.0, 0.0, 1.0]);

    let shared: SharedMetric = Arc::new(kestrel_eval::metrics::AnswerExactMatch::new());
    assert_eq!(shared.name(), "answer_exact_match");
    let result = with_lm(FakeLm::new(), Evaluate::new(devset()).run(&program, &shared)).await.unwrap();
    assert_eq!(result.scores(), vec![1.0, 0.0, 1.0]);
    let result = with_lm(FakeLm::new(), Evaluate::new(devset()).run(&program, shared.as_ref())).await.unwrap();
    assert_eq!(result.metric_name, "answer_exact_match");
}

#[tokio::test]
async fn a_metric_sees_the_trace_it_is_given() {
    let saw_trace = |_: &Example, _: &Prediction, trace: Option<&Trace>| trace.map_or(0.0, |t| t.len() as f64);
    let (e, p) = (Example::new(), Prediction::default());
    assert_eq!(saw_trace.score(&e, &p, None).await.unwrap().score, 0.0);
    assert_eq!(saw_trace.score(&e, &p, Some(&Trace::new())).await.unwrap().score, 0.0);
}

#[test]
fn scores_convert_and_follow_dspys_acceptance_rule() {
    assert_eq!(Score::from(true).score, 1.0);
    assert_eq!(Score::from(false).score, 0.0);
    assert_eq!(Score::from(0.25f32).score, 0.25);
    assert_eq!(Score::with_feedback(0.5, "half").feedback.as_deref(), Some("half"));
    // No threshold: Python truthiness.
    assert!(Score::new(0.1).is_success(None));
    assert!(Score::new(-1.0).is_success(None));
    assert!(!Score::new(0.0).is_success(None));
    // A threshold: score >= threshold.
    assert!(Score::new(0.66).is_success(Some(0.66)));
    assert!(!Score::new(0.65).is_success(Some(0.66)));
    assert_eq!(serde_json::to_value(Score::new(1.0)).unwrap(), serde_json::json!({"score": 1.0}));
}
