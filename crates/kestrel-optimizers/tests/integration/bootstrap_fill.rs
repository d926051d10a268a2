//! BootstrapFewShot's labeled fill for programs with several predictors:
//! every predictor samples its labeled demos from the full pool of
//! examples that were not bootstrapped, with one `random.Random(0)` shared
//! in predictor order (DSPy 3.4.1's `_train`).
//!
//! The expected demos were computed with DSPy 3.4.1 itself:
//! `tests/dspy_reference/bootstrap_fill.py` (run with a Python that has
//! `dspy==3.4.1`) builds the same programs, answers every prompt with the
//! same fields and accepts the same training examples; its output is pasted
//! below. A demo is written as its question, `+` marking an augmented one.

use std::collections::HashSet;

use kestrel_core::{Example, Prediction};
use kestrel_lm::with_lm;
use kestrel_modules::{ChainOfThought, Module, ModuleError, Predict, PredictorsExt, ReAct, Tool, Trace};
use kestrel_optimizers::{BootstrapFewShot, Optimizer};
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::json;

/// The reply to every prompt: each program's output fields, ReAct calling
/// `finish` at once (so each of its predictors runs once per example).
fn lm() -> ScriptedLm {
    ScriptedLm::keyed([(
        "",
        Reply::fields([
            ("draft", json!("d")),
            ("answer", json!("a")),
            ("verdict", json!("v")),
            ("reasoning", json!("r")),
            ("next_thought", json!("done")),
            ("next_tool_name", json!("finish")),
            ("next_tool_args", json!({})),
        ]),
    )])
}

fn trainset(n: usize) -> Vec<Example> {
    (0..n)
        .map(|i| {
            Example::from_pairs([("question", json!(format!("q{i}"))), ("answer", json!(format!("a{i}")))])
                .with_inputs(["question"])
        })
        .collect()
}

#[derive(Clone, kestrel_macros::Module)]
struct Two {
    first: Predict,
    second: Predict,
}

impl Module for Two {
    type Input = Example;
    type Output = Prediction;

    async fn forward(&self, input: Example) -> Result<Prediction, ModuleError> {
        let draft = self.first.forward_example(&input, None).await?;
        let next = input.with("draft", draft.get("draft").cloned().unwrap_or_default());
        self.second.forward_example(&next, None).await
    }
}

#[derive(Clone, kestrel_macros::Module)]
struct Three {
    first: Predict,
    second: Predict,
    third: ChainOfThought,
}

impl Module for Three {
    type Input = Example;
    type Output = Prediction;

    async fn forward(&self, input: Example) -> Result<Prediction, ModuleError> {
        let draft = self.first.forward_example(&input, None).await?;
        let with_draft = input.clone().with("draft", draft.get("draft").cloned().unwrap_or_default());
        let answer = self.second.forward_example(&with_draft, None).await?;
        let with_answer = input.with("answer", answer.get("answer").cloned().unwrap_or_default());
        self.third.forward_example(&with_answer, None).await
    }
}

fn two() -> Two {
    Two {
        first: Predict::from_signature("question -> draft").unwrap(),
        second: Predict::from_signature("question, draft -> answer").unwrap(),
    }
}

fn three() -> Three {
    Three {
        first: Predict::from_signature("question -> draft").unwrap(),
        second: Predict::from_signature("question, draft -> answer").unwrap(),
        third: ChainOfThought::from_signature("question, answer -> verdict").unwrap(),
    }
}

fn react() -> ReAct {
    let args = json!({"query": {"type": "string"}}).as_object().cloned().unwrap();
    let lookup = Tool::dynamic("lookup", "Look something up.", args, |_| async {
        Ok::<_, std::convert::Infallible>(json!("nothing"))
    });
    ReAct::from_signature("question -> answer", [lookup]).unwrap()
}

/// Compile `program` accepting the examples whose question is in `accept`;
/// each predictor's demos as questions, `+` marking augmented ones.
async fn demos_of<M: Module + Clone + 'static>(
    program: &M,
    accept: &[&str],
    max_bootstrapped: usize,
    max_labeled: usize,
) -> Vec<(String, Vec<String>)> {
    let accept: HashSet<String> = accept.iter().map(|s| s.to_string()).collect();
    let metric = move |ex: &Example, _: &Prediction, _: Option<&Trace>| {
        ex.get_str("question").is_some_and(|q| accept.contains(q))
    };
    let optimizer = BootstrapFewShot::new(metric)
        .max_bootstrapped_demos(max_bootstrapped)
        .max_labeled_demos(max_labeled)
        .display_progress(false);
    let compiled = with_lm(lm(), optimizer.compile(program, &trainset(10))).await.unwrap();
    compiled
        .predictor_states()
        .into_iter()
        .map(|(path, state)| {
            let demos = state
                .demos
                .iter()
                .map(|d| {
                    let mark = if d.get("augmented") == Some(&json!(true)) { "+" } else { "" };
                    format!("{mark}{}", d.get_str("question").unwrap())
                })
                .collect();
            (path, demos)
        })
        .collect()
}

fn expected(rows: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    rows.iter().map(|(path, demos)| (path.to_string(), demos.iter().map(|d| d.to_string()).collect())).collect()
}

#[tokio::test]
async fn two_predictors_sample_the_full_pool_like_dspy() {
    let got = demos_of(&two(), &["q1", "q4", "q6", "q7"], 3, 6).await;
    let want = expected(&[
        ("first", &["+q1", "+q4", "+q6", "q9", "q0", "q5"]),
        ("second", &["+q1", "+q4", "+q6", "q7", "q2", "q8"]),
    ]);
    assert_eq!(got, want);
}

#[tokio::test]
async fn three_predictors_sample_the_full_pool_like_dspy() {
    let got = demos_of(&three(), &["q0", "q3", "q8"], 2, 5).await;
    let want = expected(&[
        ("first", &["+q0", "+q3", "q9", "q8", "q4"]),
        ("second", &["+q0", "+q3", "q6", "q7", "q1"]),
        ("third.predict", &["+q0", "+q3", "q8", "q4", "q7"]),
    ]);
    assert_eq!(got, want);
}

#[tokio::test]
async fn three_predictors_with_nothing_bootstrapped_like_dspy() {
    let got = demos_of(&three(), &[], 4, 4).await;
    let want = expected(&[
        ("first", &["q2", "q6", "q7", "q1"]),
        ("second", &["q9", "q0", "q2", "q6"]),
        ("third.predict", &["q3", "q0", "q4", "q6"]),
    ]);
    assert_eq!(got, want);
}

#[tokio::test]
async fn react_predictors_sample_the_full_pool_like_dspy() {
    let got = demos_of(&react(), &["q2", "q5"], 4, 5).await;
    let want = expected(&[
        ("react", &["+q2", "+q5", "q9", "q8", "q3"]),
        ("extract.predict", &["+q2", "+q5", "q6", "q7", "q0"]),
    ]);
    assert_eq!(got, want);
}
