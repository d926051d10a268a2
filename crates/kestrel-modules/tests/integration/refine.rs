//! Refine: the feedback step (DSPy's OfferFeedback prompt and inputs), the
//! advice reaching the next attempt as a `hint_` input, `N/A` for
//! predictors the advice does not name, no feedback after the last attempt,
//! and a failing feedback call counted as a failed attempt.

use kestrel_core::{Example, Prediction};
use kestrel_lm::with_lm;
use kestrel_modules::{ChainOfThought, Module, PredictorsExt, Refine};
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::json;

fn question() -> Example {
    Example::from_pairs([("question", "Capital of Belgium?")])
}

fn one_word(_: &Example, p: &Prediction) -> f64 {
    if p.get_str("answer").is_some_and(|a| !a.contains(' ')) { 1.0 } else { 0.0 }
}

fn cot() -> ChainOfThought {
    ChainOfThought::from_signature("question -> answer").unwrap()
}

fn answer(a: &str) -> Reply {
    Reply::fields([("reasoning", json!("Thinking.")), ("answer", json!(a))])
}

fn advice(pairs: serde_json::Value) -> Reply {
    Reply::fields([("discussion", json!("The answer was too long.")), ("advice", pairs)])
}

#[tokio::test]
async fn feedback_advice_reaches_the_next_attempt_as_a_hint() {
    let lm = ScriptedLm::sequence([
        answer("It is Brussels"),
        advice(json!({"predict": "Answer with one word."})),
        answer("Brussels"),
    ]);
    let refine = Refine::new(cot(), 3, one_word, 1.0).unwrap().reward_code("one word or nothing");
    assert_eq!(refine.predictor_paths(), ["module.predict"]);
    let out = with_lm(lm.clone(), refine.forward(question())).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("Brussels"));

    let requests = lm.requests();
    assert_eq!(requests.len(), 3, "attempt, feedback, attempt");
    // The feedback call: DSPy's OfferFeedback, outside the attempts' rollout scope.
    let feedback = &requests[1];
    assert_eq!((feedback.rollout_id, feedback.temperature), (None, None));
    let system = &feedback.messages[0].content;
    assert!(system.starts_with(
        "Your input fields are:\n1. `program_code` (str): The code of the program that we are analyzing\n"
    ));
    assert!(system.contains("7. `target_threshold` (float): The target threshold for the reward function"));
    assert!(
        system.contains(
            "9. `module_names` (list[str]): The names of the modules in the program, for which we seek advice"
        )
    );
    assert!(system.contains("2. `advice` (dict[str, str]): For each module, describe very concretely"));
    assert!(system.contains("what it should do differently in that kind ofscenario in the future."));
    assert!(system.contains(
        "your objective is: \n        In the discussion, assign blame to each module that contributed to the final reward being below the threshold, if\n        any."
    ));
    let user = &feedback.messages[1].content;
    for block in [
        "[[ ## program_inputs ## ]]\n{\n  \"question\": \"Capital of Belgium?\"\n}",
        "[[ ## program_outputs ## ]]\n{\n  \"reasoning\": \"Thinking.\",\n  \"answer\": \"It is Brussels\"\n}",
        "[[ ## reward_code ## ]]\none word or nothing",
        "[[ ## target_threshold ## ]]\n1.0",
        "[[ ## reward_value ## ]]\n0.0",
        "[[ ## module_names ## ]]\n[\n  \"predict\"\n]",
        "\"module_name\": \"predict\",\n    \"inputs\": {\n      \"question\": \"Capital of Belgium?\"\n    },",
        "Module predict\n\tInput Fields:\n\t\t1. `question` (str):\n\tOutput Fields:",
    ] {
        assert!(user.contains(block), "missing {block:?} in\n{user}");
    }
    assert!(user.contains("[[ ## program_code ## ]]\nkestrel_modules::"), "program_code defaults to the type name");

    // The second attempt: rollout 1, the hint as an extra input.
    let retry = &requests[2];
    assert_eq!((retry.rollout_id, retry.temperature), (Some(1), Some(1.0)));
    assert!(retry.messages[0].content.contains("2. `hint_` (str): A hint to the module from an earlier run"));
    assert!(retry.messages[1].content.contains("[[ ## hint_ ## ]]\nAnswer with one word."));
    assert!(!requests[0].messages[0].content.contains("hint_"));
}

#[tokio::test]
async fn predictors_without_advice_get_na_and_the_last_attempt_gets_no_feedback() {
    let lm = ScriptedLm::sequence([answer("It is Brussels"), advice(json!({"other": "x"})), answer("Still two words")]);
    let refine = Refine::new(cot(), 2, one_word, 1.0).unwrap();
    let out = with_lm(lm.clone(), refine.forward(question())).await.unwrap();
    // Neither reached the threshold; both scored 0: the first is kept.
    assert_eq!(out.get_str("answer"), Some("It is Brussels"));
    let requests = lm.requests();
    assert_eq!(requests.len(), 3, "no feedback after the last attempt");
    assert!(requests[2].messages[1].content.contains("[[ ## hint_ ## ]]\nN/A"));
}

#[tokio::test]
async fn a_failing_feedback_call_counts_as_a_failed_attempt() {
    // The feedback reply cannot be parsed (nor as JSON): the attempt is
    // counted as failed, and the next attempt runs without hints.
    let lm = ScriptedLm::sequence([
        answer("It is Brussels"),
        Reply::Text("no idea".into()),
        Reply::Text("{}".into()),
        answer("Brussels"),
    ]);
    let refine = Refine::new(cot(), 3, one_word, 1.0).unwrap();
    let out = with_lm(lm.clone(), refine.forward(question())).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("Brussels"));
    let requests = lm.requests();
    assert_eq!(requests.len(), 4);
    assert!(!requests[3].messages[1].content.contains("hint_"));

    // With fail_count = 1... the feedback failure at attempt 0 is tolerated,
    // a second failure at attempt 1 is raised.
    let lm = ScriptedLm::sequence([
        answer("It is Brussels"),
        Reply::Text("no idea".into()),
        Reply::Text("{}".into()),
        answer("Still two words"),
        Reply::Text("no idea".into()),
        Reply::Text("{}".into()),
    ]);
    let refine = Refine::new(cot(), 3, one_word, 1.0).unwrap().fail_count(1);
    let err = with_lm(lm.clone(), refine.forward(question())).await.unwrap_err();
    assert!(err.to_string().contains("failed to parse"), "{err}");
    assert_eq!(lm.request_count(), 6);
}
