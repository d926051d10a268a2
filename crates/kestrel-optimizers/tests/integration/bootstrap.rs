//! BootstrapFewShot: the demos DSPy's sequential algorithm picks, whatever
//! the concurrency; thresholds, rounds, the error budget and the labeled
//! fill.

use kestrel_core::{Example, Prediction, PyRandom};
use kestrel_lm::{LmError, with_lm};
use kestrel_modules::{ChainOfThought, PredictorsExt, Trace};
use kestrel_optimizers::{BootstrapFewShot, Optimizer, OptimizerError, StopReason};
use serde_json::json;

use crate::support::{ArithmeticLm, exact, lm_is_right, trainset};

fn cot() -> ChainOfThought {
    ChainOfThought::from_signature("question -> answer").unwrap()
}

fn augmented(i: u64) -> Example {
    Example::from_pairs([
        ("augmented", json!(true)),
        ("question", json!(format!("What is {i} + {}?", i + 1))),
        ("reasoning", json!("Add them.")),
        ("answer", json!((2 * i + 1).to_string())),
    ])
}

#[tokio::test]
async fn parallel_and_sequential_runs_pick_the_same_demos() {
    let train = trainset(20);
    let program = cot();
    let mut results = Vec::new();
    for concurrency in [1, 4, 16] {
        let lm = ArithmeticLm::new(3);
        let optimizer = BootstrapFewShot::new(exact).concurrency(concurrency).unwrap().display_progress(false);
        let compiled = with_lm(lm.shared(), optimizer.compile(&program, &train)).await.unwrap();
        if concurrency == 1 {
            // One at a time: examples 0..=5 run, 0, 2, 3, 5 are right.
            assert_eq!(compiled.report.teacher_runs, 6);
            assert_eq!(compiled.report.speculative_runs, 0);
            assert_eq!(lm.calls(), 6);
        } else {
            assert!(lm.max_in_flight.load(std::sync::atomic::Ordering::SeqCst) > 1);
            assert_eq!(compiled.report.teacher_runs - compiled.report.speculative_runs, 6);
        }
        assert_eq!(compiled.report.bootstrapped, 4);
        results.push(compiled.predictor_states());
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0], results[2]);

    // The first successes in training-set order, then the labeled fill:
    // the rest of the trainset shuffled with Random(0), sampled with Random(0).
    let demos = &results[0][0].1.demos;
    let first: Vec<u64> = (0..20).filter(|&i| lm_is_right(i, 3)).take(4).collect();
    assert_eq!(first, [0, 2, 3, 5]);
    assert_eq!(demos[..4], first.iter().map(|&i| augmented(i)).collect::<Vec<_>>()[..]);
    let mut pool: Vec<Example> =
        train.iter().enumerate().filter(|(i, _)| !first.contains(&(*i as u64))).map(|(_, e)| e.clone()).collect();
    PyRandom::new(0).shuffle(&mut pool);
    let fill = PyRandom::new(0).sample(&pool, 12);
    assert_eq!(demos[4..], fill[..]);
    assert_eq!(demos.len(), 16);
    // The student keeps no demos.
    assert!(program.predictor_states()[0].1.demos.is_empty());
}

fn graded(ex: &Example, pred: &Prediction, _trace: Option<&Trace>) -> f64 {
    let num = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).and_then(|s| s.trim().parse::<i64>().ok());
    match (num(ex.get("answer")), num(pred.get("answer"))) {
        (Some(a), Some(b)) if a == b => 1.0,
        (Some(a), Some(b)) if (a - b).abs() == 1 => 0.5,
        _ => 0.0,
    }
}

#[tokio::test]
async fn the_threshold_decides_what_counts_as_a_success() {
    let train = trainset(20);
    let lm = ArithmeticLm::new(3);
    let loose = BootstrapFewShot::new(graded).max_labeled_demos(0).display_progress(false);
    let compiled = with_lm(lm.shared(), loose.compile(&cot(), &train)).await.unwrap();
    // No threshold: 0.5 is truthy, so the first four examples are accepted.
    let questions: Vec<_> =
        compiled.predictor_states()[0].1.demos.iter().map(|d| d.get_str("question").unwrap().to_string()).collect();
    assert_eq!(questions, ["What is 0 + 1?", "What is 1 + 2?", "What is 2 + 3?", "What is 3 + 4?"]);

    let strict = loose.clone().metric_threshold(1.0);
    let compiled = with_lm(lm.shared(), strict.compile(&cot(), &train)).await.unwrap();
    let demos = &compiled.predictor_states()[0].1.demos;
    assert_eq!(demos, &[0, 2, 3, 5].map(augmented).to_vec());
}

#[tokio::test]
async fn a_zero_threshold_means_no_threshold() {
    // DSPy: `if self.metric_threshold:` — a threshold of 0 is unset, so a
    // score of 0.0 is a rejection, not `0.0 >= 0`.
    let train = trainset(20);
    let lm = ArithmeticLm::new(3);
    let scored =
        |ex: &Example, pred: &Prediction, trace: Option<&Trace>| if exact(ex, pred, trace) { 1.0 } else { 0.0 };
    let zero = BootstrapFewShot::new(scored).max_labeled_demos(0).metric_threshold(0.0).display_progress(false);
    let compiled = with_lm(lm.shared(), zero.compile(&cot(), &train)).await.unwrap();
    assert_eq!(compiled.predictor_states()[0].1.demos, [0, 2, 3, 5].map(augmented).to_vec());
}

#[tokio::test]
async fn later_rounds_use_a_fresh_rollout_at_temperature_one() {
    let train = trainset(6);
    let lm = ArithmeticLm::new(3);
    let optimizer = BootstrapFewShot::new(exact).max_rounds(2).unwrap().max_labeled_demos(0).display_progress(false);
    let compiled = with_lm(lm.shared(), optimizer.compile(&cot(), &train)).await.unwrap();
    // Example 1 is wrong in round 0 and right in round 1.
    let questions: Vec<_> =
        compiled.predictor_states()[0].1.demos.iter().map(|d| d.get_str("question").unwrap().to_string()).collect();
    assert_eq!(questions, ["What is 0 + 1?", "What is 1 + 2?", "What is 2 + 3?", "What is 3 + 4?"]);
}

#[tokio::test]
async fn failing_examples_are_skipped_and_the_budget_stops_cleanly() {
    let mut train = trainset(12);
    for i in [1, 2, 3] {
        train[i] = Example::from_pairs([("question", json!("What is FAIL?")), ("answer", json!("0"))])
            .with_inputs(["question"]);
    }
    let lm = ArithmeticLm::new(1_000);
    let tolerant = BootstrapFewShot::new(exact).max_labeled_demos(0).display_progress(false);
    let compiled = with_lm(lm.shared(), tolerant.compile(&cot(), &train)).await.unwrap();
    assert_eq!(compiled.report.skipped.iter().map(|s| s.index).collect::<Vec<_>>(), [1, 2, 3]);
    let error = &compiled.report.skipped[0].error;
    assert!(matches!(error.lm_error(), Some(LmError::Provider { .. })), "{error:?}");
    assert!(error.to_string().contains("cannot do What is FAIL?"));
    assert!(compiled.report.stopped_early.is_none());
    assert_eq!(compiled.predictor_states()[0].1.demos, [0, 4, 5, 6].map(augmented).to_vec());

    let strict = tolerant.clone().max_errors(2).unwrap().concurrency(1).unwrap();
    let compiled = with_lm(lm.shared(), strict.compile(&cot(), &train)).await.unwrap();
    assert_eq!(compiled.report.skipped.len(), 2);
    assert_eq!(compiled.report.stopped_early, Some(StopReason::ErrorBudgetSpent { errors: 2, max_errors: 2 }));
    assert!(compiled.report.to_string().contains("error budget spent: 2 failed teacher runs"));
    assert_eq!(compiled.report.bootstrapped, 1);
    assert_eq!(compiled.predictor_states()[0].1.demos, vec![augmented(0)]);
}

#[tokio::test]
async fn the_teacher_never_sees_the_example_it_is_asked() {
    // With labeled demos on, the teacher's demos exclude the example being
    // bootstrapped (DSPy's `x != example`).
    let train = trainset(4);
    let lm = ArithmeticLm::new(1_000);
    let optimizer =
        BootstrapFewShot::new(exact).max_bootstrapped_demos(1).concurrency(1).unwrap().display_progress(false);
    let compiled = with_lm(lm.shared(), optimizer.compile(&cot(), &train)).await.unwrap();
    assert_eq!(compiled.report.teacher_runs, 1);
    assert_eq!(lm.self_demo_seen.load(std::sync::atomic::Ordering::SeqCst), 0);
    // 1 augmented + 3 labeled.
    assert_eq!(compiled.predictor_states()[0].1.demos.len(), 4);
}

#[derive(Clone, Debug, kestrel_macros::Module)]
struct Twins {
    left: kestrel_modules::Predict,
    right: kestrel_modules::Predict,
}

impl kestrel_modules::Module for Twins {
    type Input = Example;
    type Output = Prediction;

    async fn forward(&self, input: Example) -> Result<Prediction, kestrel_modules::ModuleError> {
        self.left.forward_example(&input, None).await?;
        self.right.forward_example(&input, None).await
    }
}

#[tokio::test]
async fn one_predictor_cloned_into_two_places_is_a_clear_error() {
    let predict = kestrel_modules::Predict::from_signature("question -> answer").unwrap();
    let twins = Twins { left: predict.clone(), right: predict };
    let lm = ArithmeticLm::new(1_000);
    let optimizer = BootstrapFewShot::new(exact).display_progress(false);
    let err = with_lm(lm.shared(), optimizer.compile(&twins, &trainset(4))).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("`left`") && message.contains("`right`"), "{message}");
    assert_eq!(lm.calls(), 0);
}

#[test]
fn zero_counts_are_an_immediate_typed_error_not_a_clamp() {
    let base = BootstrapFewShot::new(exact);
    for (name, result) in [
        ("max_rounds", base.clone().max_rounds(0)),
        ("max_errors", base.clone().max_errors(0)),
        ("concurrency", base.clone().concurrency(0)),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, OptimizerError::InvalidArgument { name: n, .. } if n == name), "{err}");
    }
    let n: usize = 3;
    let set = base.max_rounds(n).unwrap().max_errors(std::num::NonZeroUsize::MIN).unwrap().concurrency(8).unwrap();
    assert_eq!((set.get_max_rounds().get(), set.get_max_errors().get(), set.get_concurrency().get()), (3, 1, 8));
    assert_eq!((set.get_max_labeled_demos(), set.get_max_bootstrapped_demos()), (16, 4));
}
