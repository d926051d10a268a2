//! majority over hand-made completions, with DSPy's rules: normalized
//! votes, ignored empty answers, ties to the value seen first, the first
//! completion carrying the winner; and MultiChainComparison's input checks.

use kestrel_core::{Example, Fields, Prediction};
use kestrel_lm::with_lm;
use kestrel_modules::{Majority, ModuleError, MultiChainComparison, Normalize, Predict, majority};
use kestrel_testkit::ScriptedLm;
use serde_json::{Value, json};

fn completions(answers: &[&str]) -> Vec<Fields> {
    answers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            Fields::from_iter([("reasoning".to_string(), json!(format!("r{i}"))), ("answer".to_string(), json!(a))])
        })
        .collect()
}

fn winner(p: &Prediction) -> (&str, &str) {
    (p.get_str("reasoning").unwrap(), p.get_str("answer").unwrap())
}

#[test]
fn the_most_common_normalized_answer_wins_with_its_first_completion() {
    let p = Majority::new().of(&completions(&["London", "The Paris!", "paris", "London."])).unwrap();
    // "london" 2, "paris" 2: a tie goes to the value seen first.
    assert_eq!(winner(&p), ("r0", "London"));
    let p = Majority::new().of(&completions(&["Rome", "The Paris!", "paris"])).unwrap();
    assert_eq!(winner(&p), ("r1", "The Paris!"));
    assert_eq!(p.completions().len(), 1);
}

#[test]
fn empty_normalizations_do_not_vote_unless_all_are_empty() {
    let p = Majority::new().of(&completions(&["", "the", "Rome", "a"])).unwrap();
    assert_eq!(winner(&p), ("r2", "Rome"));
    let p = Majority::new().of(&completions(&["!!", "an"])).unwrap();
    assert_eq!(winner(&p), ("r0", "!!"));
}

#[test]
fn field_and_normalization_can_be_chosen() {
    let answers = completions(&["Paris", "paris", "paris"]);
    assert_eq!(winner(&Majority::new().normalize(Normalize::Exact).of(&answers).unwrap()), ("r1", "paris"));
    let first_letter = Normalize::custom(|s: &str| s.chars().next().map(|c| c.to_string()));
    let p = Majority::new().normalize(first_letter).of(&completions(&["Paris", "London", "Lisbon"])).unwrap();
    assert_eq!(winner(&p), ("r1", "London"));
    let p = Majority::new().field("reasoning").of(&completions(&["a", "b"])).unwrap();
    assert_eq!(winner(&p), ("r0", "a"));
}

#[test]
fn bad_input_is_a_typed_error() {
    assert!(matches!(Majority::new().of(&[]), Err(ModuleError::Module { .. })));
    let err = Majority::new().field("missing").of(&completions(&["a"])).unwrap_err();
    assert!(err.to_string().contains("no field `missing`"), "{err}");
}

#[tokio::test]
async fn majority_of_a_prediction_with_n_completions() {
    let lm = ScriptedLm::sequence(["[[ ## answer ## ]]\n4", "[[ ## answer ## ]]\nfour", "[[ ## answer ## ]]\nFour."]);
    let predict = Predict::from_signature("question -> answer").unwrap().n(3);
    let out = with_lm(lm, predict.forward_example(&Example::from_pairs([("question", "2+2?")]), None)).await.unwrap();
    assert_eq!(out.completions().len(), 3);
    let best = majority(&out).unwrap();
    assert_eq!(best.get_str("answer"), Some("four"));
    assert_eq!(best.usage(), out.usage());
}

#[tokio::test]
async fn multi_chain_comparison_checks_its_attempts() {
    let mcc = MultiChainComparison::from_signature("question -> answer", 2).unwrap();
    let lm = ScriptedLm::sequence(["[[ ## rationale ## ]]\nr\n\n[[ ## answer ## ]]\n5"]);
    let q = Example::from_pairs([("question", "2+3?")]);
    let err = with_lm(lm.clone(), mcc.compare(&completions(&["5"]), &q, None)).await.unwrap_err();
    assert!(err.to_string().contains("The number of attempts (1) doesn't match the expected number M (2)."), "{err}");
    let no_reasoning = vec![Fields::from_iter([("answer".to_string(), json!("5"))]); 2];
    let err = with_lm(lm.clone(), mcc.compare(&no_reasoning, &q, None)).await.unwrap_err();
    assert!(err.to_string().contains("neither `rationale` nor `reasoning`"), "{err}");
    let err = with_lm(lm.clone(), mcc.forward_example(&q, None)).await.unwrap_err();
    assert!(err.to_string().contains("the inputs have no `completions`"), "{err}");
    assert_eq!(lm.request_count(), 0);

    // `rationale` is preferred to `reasoning`; non-text answers print as Python does.
    let attempts = vec![
        Fields::from_iter([
            ("rationale".to_string(), json!("Add them.")),
            ("reasoning".to_string(), json!("ignored")),
            ("answer".to_string(), json!(5)),
        ]),
        Fields::from_iter([
            ("reasoning".to_string(), json!("  Count up\nfrom 2. ")),
            ("answer".to_string(), Value::Bool(true)),
        ]),
    ];
    // The dynamic form takes them under `completions`, as the typed input does.
    let inputs = q.clone().with("completions", serde_json::to_value(&attempts).unwrap());
    let out = with_lm(lm.clone(), mcc.forward_example(&inputs, None)).await.unwrap();
    assert_eq!(out.get_str("rationale"), Some("r"));
    let user = &lm.requests()[0].messages[1].content;
    assert!(user.contains("«I'm trying to Add them. I'm not sure but my prediction is 5»"), "{user}");
    assert!(user.contains("«I'm trying to Count up I'm not sure but my prediction is True»"), "{user}");
}
