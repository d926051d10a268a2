//! Parallel / batch: results in input order whatever the completion order,
//! at most `concurrency` in flight, per-item errors kept, the error budget,
//! and the caller's LM scope reaching every item.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kestrel_core::Example;
use kestrel_lm::with_lm;
use kestrel_modules::{BatchExt, Module, ModuleError, Parallel, Predict, Predictor, Predictors};
use kestrel_testkit::ScriptedLm;

/// Doubles its input after a delay that is longer for smaller inputs;
/// fails on multiples of `fail_every`. Counts calls in flight.
#[derive(Debug, Clone, Default)]
struct Doubler {
    fail_every: Option<u64>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    started: Arc<AtomicUsize>,
}

impl Predictors for Doubler {
    fn visit_predictors(&self, _: &str, _: &mut dyn FnMut(&str, &dyn Predictor)) {}
    fn visit_predictors_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut dyn Predictor)) {}
}

impl Module for Doubler {
    type Input = u64;
    type Output = u64;
    async fn forward(&self, x: u64) -> Result<u64, ModuleError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20u64.saturating_sub(x))).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        match self.fail_every {
            Some(k) if x % k == 0 => Err(ModuleError::Module { module: "Doubler".into(), message: format!("no {x}") }),
            _ => Ok(x * 2),
        }
    }
}

#[tokio::test]
async fn results_keep_input_order_and_concurrency_is_bounded() {
    let module = Doubler::default();
    let out = Parallel::new().concurrency(4).run(&module, (1..=12).collect()).await.unwrap();
    let values: Vec<u64> = out.into_outputs().into_iter().map(Option::unwrap).collect();
    assert_eq!(values, (1..=12).map(|x| x * 2).collect::<Vec<_>>());
    assert_eq!(module.peak.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn item_errors_are_kept_in_their_slots() {
    let module = Doubler { fail_every: Some(3), ..Doubler::default() };
    let inputs: Vec<u64> = (1..=7).collect();
    let out = Parallel::new().concurrency(3).run(&module, inputs.clone()).await.unwrap();
    assert_eq!(out.len(), 7);
    assert_eq!(out.failed_indices(), [2, 5]);
    assert_eq!(out.error_count(), 2);
    assert_eq!(out.failed_inputs(&inputs), [&3, &6]);
    assert!(matches!(&out.results()[2], Err(ModuleError::Module { message, .. }) if message == "no 3"));
    let outputs = out.into_outputs();
    assert_eq!(outputs[0], Some(2));
    assert_eq!(outputs[2], None);
}

#[tokio::test]
async fn max_errors_stops_the_batch() {
    let module = Doubler { fail_every: Some(2), ..Doubler::default() };
    let err = Parallel::new().concurrency(2).max_errors(2).run(&module, (1..=20).collect()).await.unwrap_err();
    match err {
        ModuleError::TooManyErrors { errors: 2, max_errors: 2, first } => {
            assert!(matches!(*first, ModuleError::Module { ref message, .. } if message == "no 2"), "{first:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(module.started.load(Ordering::SeqCst) < 20, "no new items after the budget ran out");
}

#[tokio::test]
async fn examples_run_with_their_inputs_under_the_callers_lm() {
    let lm = ScriptedLm::keyed([("Belgium", "[[ ## answer ## ]]\nBrussels"), ("France", "[[ ## answer ## ]]\nParis")]);
    let predict = Predict::from_signature("question -> answer").unwrap();
    let examples: Vec<Example> = ["Belgium", "France", "Belgium"]
        .iter()
        .map(|c| {
            Example::from_pairs([("question", format!("Capital of {c}?")), ("answer", "gold".into())])
                .with_inputs(["question"])
        })
        .collect();
    let out = with_lm(lm.clone(), predict.batch(&examples)).await.unwrap();
    let answers: Vec<Option<String>> =
        out.into_outputs().into_iter().map(|p| p.and_then(|p| p.get_str("answer").map(str::to_string))).collect();
    assert_eq!(answers, [Some("Brussels".into()), Some("Paris".into()), Some("Brussels".into())]);
    let out = with_lm(lm.clone(), Parallel::new().concurrency(2).run_examples(&predict, &examples)).await.unwrap();
    let answers: Vec<&str> = out.results().iter().map(|r| r.as_ref().unwrap().get_str("answer").unwrap()).collect();
    assert_eq!(answers, ["Brussels", "Paris", "Brussels"]);
    // Only the marked inputs were sent: the gold answer is not in any prompt.
    assert!(lm.requests().iter().all(|r| !r.messages.iter().any(|m| m.content.contains("gold"))));
    assert_eq!(lm.request_count(), 6);

    // Without an LM in scope every item fails, and the batch still returns.
    let out = predict.batch(&examples).await.unwrap();
    assert_eq!(out.error_count(), 3);

    let other = Predict::from_signature("question -> answer").unwrap();
    let pairs = vec![(&predict, examples[0].inputs()), (&other, examples[1].inputs())];
    let out = with_lm(lm, Parallel::new().run_pairs(pairs)).await.unwrap();
    assert_eq!(out.results()[1].as_ref().unwrap().get_str("answer"), Some("Paris"));
}
