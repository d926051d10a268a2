//! Ensemble: majority reduction over the programs' outputs, the raw
//! outputs without a reduce function, seeded subsets equal to Python's
//! `random.Random(seed).sample`, input-keyed subsets with `deterministic`,
//! the programs' predictors under `programs[i]`, and typed errors.

use kestrel_core::{Example, Prediction};
use kestrel_lm::SharedLm;
use kestrel_modules::{ModuleExt, Predict, PredictorsExt, ProgramState};
use kestrel_optimizers::{Ensemble, OptimizerError, majority_of};
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::json;

/// A program whose LM always answers `answer`.
fn voter(answer: &str) -> Predict {
    let lm = ScriptedLm::keyed([("?", Reply::fields([("answer", answer)]))]);
    Predict::from_signature("question -> answer").unwrap().lm(SharedLm::new(lm))
}

fn question(text: &str) -> Example {
    Example::from_pairs([("question", text)])
}

#[tokio::test]
async fn the_ensemble_reduces_by_majority() {
    let programs = vec![voter("Paris"), voter("Lyon"), voter("paris.")];
    let ensembled = Ensemble::new().reduce_fn(majority_of).compile(programs).unwrap();
    let out: Prediction = ensembled.call(question("Capital of France?")).await.unwrap();
    // "Paris" and "paris." normalize alike and outvote "Lyon"; the first
    // of the winners is returned, as dspy.majority does.
    assert_eq!(out.get("answer"), Some(&json!("Paris")));
    let lyon = Ensemble::new().reduce_fn(majority_of).compile(vec![voter("Lyon"), voter("Paris"), voter("Lyon")]);
    let out = lyon.unwrap().call(question("Capital of France?")).await.unwrap();
    assert_eq!(out.get("answer"), Some(&json!("Lyon")));
}

#[tokio::test]
async fn without_a_reduce_function_every_output_is_kept_in_order() {
    let ensembled = Ensemble::new().compile(vec![voter("a"), voter("b"), voter("c")]).unwrap();
    let out = ensembled.call(question("Which?")).await.unwrap();
    let answers: Vec<_> = out.completions().iter().map(|c| c["answer"].clone()).collect();
    assert_eq!(answers, vec![json!("a"), json!("b"), json!("c")]);
    assert_eq!(ensembled.forward_all(&question("Which?")).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_sized_ensemble_draws_pythons_seeded_subsets() {
    let programs = vec![voter("a"), voter("b"), voter("c")];
    // Python: r = random.Random(5); [r.sample(range(3), 2) for _ in range(4)]
    let expected = vec![vec![2, 1], vec![2, 1], vec![2, 0], vec![1, 0]];
    for _ in 0..2 {
        let ensembled = Ensemble::new().size(2).seed(5).compile(programs.clone()).unwrap();
        let drawn: Vec<Vec<usize>> = (0..4).map(|_| ensembled.chosen(&question("q?"))).collect();
        assert_eq!(drawn, expected);
    }
    let ensembled = Ensemble::new().size(2).seed(5).compile(programs).unwrap();
    let out = ensembled.call(question("q?")).await.unwrap();
    let answers: Vec<_> = out.completions().iter().map(|c| c["answer"].clone()).collect();
    assert_eq!(answers, vec![json!("c"), json!("b")]);
}

#[tokio::test]
async fn a_deterministic_ensemble_keys_the_subset_on_the_inputs() {
    let programs: Vec<Predict> = (0..6).map(|i| voter(&i.to_string())).collect();
    let first = Ensemble::new().size(3).seed(1).deterministic(true).compile(programs.clone()).unwrap();
    let second = Ensemble::new().size(3).seed(1).deterministic(true).compile(programs).unwrap();
    let inputs: Vec<Example> = (0..8).map(|i| question(&format!("q{i}?"))).collect();
    let a: Vec<_> = inputs.iter().map(|x| first.chosen(x)).collect();
    // Another order, and the same input twice: the same subsets.
    let b: Vec<_> = inputs.iter().rev().map(|x| second.chosen(x)).collect::<Vec<_>>().into_iter().rev().collect();
    assert_eq!(a, b);
    assert_eq!(first.chosen(&inputs[0]), a[0]);
    assert!(a.iter().any(|s| s != &a[0]), "different inputs meet different subsets");
}

#[tokio::test]
async fn the_programs_predictors_are_under_programs_i_and_save_and_load() {
    let ensembled = Ensemble::new().reduce_fn(majority_of).compile(vec![voter("a"), voter("b")]).unwrap();
    assert_eq!(ensembled.predictor_paths(), vec!["programs[0]", "programs[1]"]);
    let state = ensembled.dump_state();
    assert!(state.get("programs[0]").is_some(), "{state}");
    let mut other = Ensemble::new().compile(vec![voter("x"), voter("y")]).unwrap();
    other.load_state(&state).unwrap();
    assert_eq!(other.dump_state(), state);
}

#[test]
fn bad_sizes_are_typed_errors() {
    let none: Vec<Predict> = Vec::new();
    assert!(matches!(Ensemble::new().compile(none), Err(OptimizerError::InvalidArgument { name: "programs", .. })));
    for size in [0, 3] {
        let err = Ensemble::new().size(size).compile(vec![voter("a"), voter("b")]).unwrap_err();
        assert!(matches!(err, OptimizerError::InvalidArgument { name: "size", .. }), "{err}");
    }
}
