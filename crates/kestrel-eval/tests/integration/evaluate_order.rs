//! Results come back in devset order whatever the completion order, and the
//! score is DSPy's percentage.

use kestrel_eval::Evaluate;
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_lm::with_lm;
use kestrel_modules::Predict;

use crate::support::{FakeLm, qa};

#[tokio::test(start_paused = true)]
async fn rows_follow_the_devset_not_the_completion_order() {
    let lm = FakeLm::new();
    // The first examples are the slowest, so they finish last.
    let devset: Vec<_> =
        (0..20).map(|i| qa(format!("q{i} delay_ms={}", 200 - i * 10), &format!("a{i}"), &format!("a{i}"))).collect();
    let program = Predict::from_signature("question -> answer").unwrap();
    let result = with_lm(
        lm.clone(),
        Evaluate::new(devset.clone()).concurrency(20).unwrap().run(&program, &AnswerExactMatch::new()),
    )
    .await
    .unwrap();

    let completed = lm.counters.completed.lock().unwrap().clone();
    assert!(completed[0].starts_with("q19 "), "the last example should finish first: {completed:?}");
    assert_eq!(result.results.len(), 20);
    for (i, row) in result.results.iter().enumerate() {
        assert_eq!(row.index, i);
        assert_eq!(row.example, devset[i]);
        assert_eq!(row.prediction.as_ref().unwrap().get_str("answer"), Some(format!("a{i}").as_str()));
        assert_eq!(row.score.score, 1.0);
        assert!(row.is_ok());
    }
    assert_eq!(result.score, 100.0);
    assert!(result.is_complete());
    assert_eq!(result.scores(), vec![1.0; 20]);
}

#[tokio::test]
async fn score_is_a_percentage_rounded_to_two_decimals() {
    let devset = vec![qa("q0", "Paris", "Paris"), qa("q1", "Rome", "Paris"), qa("q2", "the paris!", "Paris")];
    let program = Predict::from_signature("question -> answer").unwrap();
    let result = with_lm(FakeLm::new(), Evaluate::new(devset).run(&program, &AnswerExactMatch::new())).await.unwrap();
    // round(100 * 2 / 3, 2) in Python.
    assert_eq!(result.score, 66.67);
    assert_eq!(result.scores(), vec![1.0, 0.0, 1.0]);
    assert_eq!(result.sum(), 2.0);
    assert_eq!(result.summary(), "Average Metric: 2.0 / 3 (66.7%)");
    assert_eq!(result.to_string(), result.summary());
    assert_eq!(result.metric_name, "answer_exact_match");
    assert_eq!(result.row(1).unwrap().prediction.as_ref().unwrap().get_str("answer"), Some("Rome"));
}

#[tokio::test]
async fn an_empty_devset_is_an_error() {
    let program = Predict::from_signature("question -> answer").unwrap();
    let err = Evaluate::new(Vec::new()).run(&program, &AnswerExactMatch::new()).await.unwrap_err();
    assert!(matches!(err, kestrel_eval::EvalError::EmptyDevset), "{err}");
}

#[tokio::test]
async fn the_callers_lm_scope_reaches_every_call() {
    // Without an LM in scope every program call fails (and is counted).
    let devset: Vec<_> = (0..3).map(|i| qa(format!("q{i}"), "x", "x")).collect();
    let program = Predict::from_signature("question -> answer").unwrap();
    let result = Evaluate::new(devset.clone()).run(&program, &AnswerExactMatch::new()).await.unwrap();
    assert_eq!(result.errors, 3);
    let error = result.results[0].error.as_ref().unwrap();
    assert!(matches!(error.lm_error(), Some(kestrel_lm::LmError::NotConfigured)), "{error}");

    let lm = FakeLm::new();
    let result = with_lm(lm.clone(), Evaluate::new(devset).run(&program, &AnswerExactMatch::new())).await.unwrap();
    assert_eq!((result.errors, result.score, lm.counters.calls()), (0, 100.0, 3));
}
