//! MIPROv2's steps 1 and 2 and its first trial against DSPy 3.4.1: the
//! requests of demo bootstrapping, the dataset summary, the proposals and
//! the default program's evaluation, in order and byte for byte, and the
//! demo and instruction candidates (`mipro_steps_dspy.json`, recorded by
//! `tests/dspy_reference/mipro_steps.py`). Later trials are TPE proposals
//! drawn from optuna's NumPy generator, which Kestrel does not reproduce.

use kestrel_core::Example;
use kestrel_lm::{LmBuilder, SharedLm};
use kestrel_modules::Predict;
use kestrel_optimizers::mipro::MiproV2;
use kestrel_optimizers::{Optimizer, StopReason};
use kestrel_testkit::{RequestLog, RuleLm};
use serde_json::{Value, json};

use crate::support::exact;

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/integration/mipro_steps_dspy.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn examples(records: &Value) -> Vec<Example> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::from_value::<Example>(r.clone()).unwrap().with_inputs(["question"]))
        .collect()
}

/// A rule-scripted LM behind an LM client (so the budget counts its calls).
fn client(name: &str, reference: &Value, log: &RequestLog) -> SharedLm {
    let rules = RuleLm::from_fixture(name, &reference["lms"][name], log.clone()).unwrap();
    SharedLm::new(LmBuilder::new(rules).no_cache().build().unwrap())
}

#[tokio::test]
async fn steps_one_and_two_and_the_first_trial_send_dspys_requests() {
    let reference = reference();
    assert_eq!(reference["dspy_version"], "3.4.1");
    let log = RequestLog::new();
    let expected = reference["requests"].as_array().unwrap();
    let optimizer = MiproV2::new(exact)
        .prompt_model(client("prompt", &reference, &log))
        .task_model(client("task", &reference, &log))
        .auto(None)
        .num_candidates(4)
        .unwrap()
        .num_trials(2)
        .unwrap()
        .max_bootstrapped_demos(2)
        .max_labeled_demos(2)
        .minibatch(false)
        .concurrency(1)
        .unwrap()
        .seed(9)
        // Stop once the first trial is scored.
        .max_lm_calls(expected.len() as u64)
        .unwrap()
        .display_progress(false);
    let student = Predict::from_signature("question -> answer").unwrap();
    let (train, val) = (examples(&reference["trainset"]), examples(&reference["valset"]));
    let compiled = optimizer.compile_with_valset(&student, &train, Some(&val)).await.unwrap();

    let got = log.requests();
    for (k, (g, e)) in got.iter().zip(expected).enumerate() {
        assert_eq!(g.lm, e["lm"].as_str().unwrap(), "request {k}: LM");
        let messages: Vec<Value> =
            g.messages.iter().map(|m| json!({"role": m.role.as_str(), "content": m.content})).collect();
        assert_eq!(Value::from(messages), e["messages"], "request {k}: messages");
    }
    assert_eq!(got.len(), expected.len(), "number of requests");

    assert!(matches!(compiled.report.stopped_early, Some(StopReason::BudgetReached { .. })));
    let report = compiled.report.mipro.as_deref().unwrap();
    let instructions: Vec<&str> = report.instruction_candidates[0].iter().map(|c| c.instruction.as_str()).collect();
    assert_eq!(json!(instructions), reference["instruction_candidates"]["0"]);
    let demos: Vec<Value> = report.demo_set_candidates[0]
        .iter()
        .map(|set| Value::from(set.demos.iter().map(|d| serde_json::to_value(d).unwrap()).collect::<Vec<_>>()))
        .collect();
    assert_eq!(Value::from(demos), reference["demo_candidates"]["0"]);
    assert_eq!(report.trials.len(), 1, "only the default program was scored");
    assert_eq!(json!(report.trials[0].score), reference["default_score"]);
}
