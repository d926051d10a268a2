//! `Evaluate::run` as a callback event: `evaluate` start and end around the
//! program's calls (DSPy 3.4.1's order: evaluate start, each example's
//! Predict events, evaluate end), and the error policy at the evaluate level.

use std::sync::{Arc, Mutex};

use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_eval::{EvalError, Evaluate};
use kestrel_lm::{
    CallEnd, CallStart, Callback, CallbackError, CallbackErrorPolicy, Callbacks, with_callbacks, with_lm,
};
use kestrel_modules::Predict;
use serde_json::{Value, json};

use crate::support::{FakeLm, qa};

#[derive(Default)]
struct Trail {
    events: Mutex<Vec<(String, Value)>>,
    fail_evaluate_end: bool,
}

impl Trail {
    fn push(&self, what: String, data: Value) {
        self.events.lock().unwrap().push((what, data));
    }
    fn names(&self) -> Vec<String> {
        self.events.lock().unwrap().iter().map(|(what, _)| what.clone()).collect()
    }
}

impl Callback for Trail {
    fn on_module_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        self.push(format!("module_start {}", call.name), call.inputs.clone());
        Ok(())
    }
    fn on_module_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        self.push(format!("module_end {}", call.name), call.outputs.cloned().unwrap_or_default());
        Ok(())
    }
    fn on_evaluate_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        self.push(format!("evaluate_start {}", call.name), call.inputs.clone());
        Ok(())
    }
    fn on_evaluate_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        self.push(format!("evaluate_end {}", call.name), call.outputs.cloned().unwrap_or_default());
        if self.fail_evaluate_end { Err(CallbackError::new("export failed")) } else { Ok(()) }
    }
}

fn devset() -> Vec<kestrel_core::Example> {
    vec![qa("q0", "Paris", "Paris"), qa("q1", "Rome", "Paris")]
}

#[tokio::test]
async fn evaluate_wraps_every_program_call() {
    let trail = Arc::new(Trail::default());
    let program = Predict::from_signature("question -> answer").unwrap();
    let evaluate = Evaluate::new(devset()).concurrency(1).unwrap();
    let callbacks = Callbacks::new().with_shared(trail.clone());
    let result = with_callbacks(callbacks, with_lm(FakeLm::new(), evaluate.run(&program, &AnswerExactMatch::new())))
        .await
        .unwrap();
    assert_eq!(result.score, 50.0);
    assert_eq!(
        trail.names(),
        [
            "evaluate_start Evaluate",
            "module_start Predict",
            "module_end Predict",
            "module_start Predict",
            "module_end Predict",
            "evaluate_end Evaluate"
        ]
    );
    let events = trail.events.lock().unwrap().clone();
    assert_eq!(events[0].1["devset"], json!(2));
    assert_eq!(events[0].1["metric"], json!("answer_exact_match"));
    assert_eq!(events[1].1, json!({"question": "q0 => Paris"}));
    assert_eq!(events[5].1, json!({"score": 50.0, "total": 2, "errors": 0, "metric": "answer_exact_match"}));
}

#[tokio::test]
async fn a_failing_end_handler_fails_the_evaluation_only_under_the_fail_policy() {
    let program = Predict::from_signature("question -> answer").unwrap();
    let evaluate = Evaluate::new(devset());
    for (policy, fails) in [(CallbackErrorPolicy::Warn, false), (CallbackErrorPolicy::Fail, true)] {
        let trail = Arc::new(Trail { fail_evaluate_end: true, ..Trail::default() });
        let callbacks = Callbacks::new().with_shared(trail.clone()).on_error(policy);
        let result =
            with_callbacks(callbacks, with_lm(FakeLm::new(), evaluate.run(&program, &AnswerExactMatch::new()))).await;
        match result {
            Err(EvalError::Callback(e)) if fails => assert_eq!(e.message(), "export failed"),
            Ok(result) if !fails => assert_eq!(result.score, 50.0),
            other => panic!("{policy:?}: {other:?}"),
        }
    }
}
