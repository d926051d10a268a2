//! The two-step adapter (`AdapterChoice::TwoStep`) against DSPy 3.4.1: the
//! exact messages each LM receives, the parsed result, the JSON fallback of
//! the extraction call, and its errors. Expected requests and results are in
//! `two_step_cases.json`, recorded by `tests/dspy_reference/two_step.py`.

use kestrel_core::{CoreError, Example, Message, SignatureSpec};
use kestrel_lm::{AdapterChoice, CallConfig, LmError, SharedLm, TwoStep, call_with_adapter};
use kestrel_testkit::ScriptedLm;
use serde_json::{Value, json};

fn cases() -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/two_step_cases.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn messages_json(messages: &[Message]) -> Value {
    Value::Array(messages.iter().map(|m| json!({"role": m.role.as_str(), "content": m.content})).collect())
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn requests_results_and_errors_match_dspy() {
    let cases = cases();
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let sig = SignatureSpec::parse(case["signature"].as_str().unwrap()).unwrap();
        let demos: Vec<Example> = serde_json::from_value(case["demos"].clone()).unwrap();
        let inputs: Example = serde_json::from_value(case["inputs"].clone()).unwrap();
        let main = ScriptedLm::sequence(strings(&case["main_replies"]));
        let extraction = ScriptedLm::sequence(strings(&case["extraction_replies"]));
        let choice = AdapterChoice::TwoStep(TwoStep::new(extraction.clone()));
        let out =
            call_with_adapter(&SharedLm::new(main.clone()), choice, &sig, &demos, &inputs, &CallConfig::default())
                .await;

        let sent = |lm: &ScriptedLm| Value::Array(lm.requests().iter().map(|r| messages_json(&r.messages)).collect());
        assert_eq!(sent(&main), case["main_requests"], "{name}: main LM messages");
        assert_eq!(sent(&extraction), case["extraction_requests"], "{name}: extraction LM messages");
        assert!(main.requests().iter().all(|r| r.response_format.is_none()), "{name}: free text, no response_format");
        match (&case["outputs"], out) {
            (Value::Object(want), Ok(out)) => {
                let got = Value::Object(out.prediction.fields().clone().into_iter().collect());
                assert_eq!(got, Value::Object(want.clone()), "{name}");
                let extraction_calls = case["extraction_requests"].as_array().unwrap().len() as u32;
                assert_eq!(out.lm_calls, 1 + extraction_calls, "{name}");
                assert_eq!(out.json_fallback, extraction_calls == 2, "{name}");
                assert!(out.prediction.usage().prompt_tokens > 0, "{name}: usage of both LMs is summed");
            }
            (Value::Null, Err(LmError::Parse(e))) => {
                assert_eq!(e.to_string(), case["error"]["message"].as_str().unwrap(), "{name}");
                assert_eq!(e.adapter_name, "TwoStepAdapter");
                assert_eq!(e.lm_response, case["main_replies"][0].as_str().unwrap());
            }
            (want, got) => panic!("{name}: expected {want}, got {got:?}"),
        }
    }
}

#[tokio::test]
async fn every_completion_is_extracted_and_usage_summed() {
    let sig = SignatureSpec::parse("question -> answer").unwrap();
    let main = ScriptedLm::sequence(["first answer: A", "second answer: B"]);
    let extraction = ScriptedLm::sequence(["[[ ## answer ## ]]\nA", "[[ ## answer ## ]]\nB"]);
    let inputs = Example::from_pairs([("question", "q?")]);
    let config = CallConfig { n: Some(2), ..CallConfig::default() };
    let choice = AdapterChoice::TwoStep(TwoStep::new(extraction.clone()));
    let out = call_with_adapter(&SharedLm::new(main.clone()), choice, &sig, &[], &inputs, &config).await.unwrap();
    let answers: Vec<&Value> = out.prediction.completions().iter().map(|c| &c["answer"]).collect();
    assert_eq!(answers, [&json!("A"), &json!("B")]);
    assert_eq!(out.lm_calls, 3);
    assert_eq!(main.requests()[0].n, 2, "the caller's options go to the main LM");
    assert!(extraction.requests().iter().all(|r| r.n == 1), "the extraction LM gets default options");
    let texts: Vec<String> = extraction.requests().iter().map(|r| r.messages[1].content.clone()).collect();
    assert!(texts[0].starts_with("[[ ## text ## ]]\nfirst answer: A\n\n") && texts[1].contains("second answer: B"));
    // Usage: the sum of what the scripted LMs report for each call.
    let total: u64 = [&main, &extraction]
        .iter()
        .flat_map(|lm| lm.requests())
        .map(|r| r.messages.iter().map(|m| m.content.split_whitespace().count() as u64).sum::<u64>())
        .sum();
    assert_eq!(out.prediction.usage().prompt_tokens, total);
}

#[tokio::test]
async fn provider_errors_propagate_from_either_lm() {
    let sig = SignatureSpec::parse("question -> answer").unwrap();
    let inputs = Example::from_pairs([("question", "q?")]);
    // The extraction LM has no reply: its provider error is not a parse error.
    let extraction = ScriptedLm::sequence(Vec::<String>::new());
    let choice = AdapterChoice::TwoStep(TwoStep::new(extraction.clone()));
    let main = SharedLm::new(ScriptedLm::sequence(["an answer"]));
    let err = call_with_adapter(&main, choice.clone(), &sig, &[], &inputs, &CallConfig::default()).await.unwrap_err();
    assert!(matches!(err, LmError::Provider { .. }), "{err:?}");
    assert_eq!(extraction.request_count(), 1, "no JSON fallback after a provider error");
    // The main LM fails: the extraction LM is never called.
    let empty = SharedLm::new(ScriptedLm::sequence(Vec::<String>::new()));
    let err = call_with_adapter(&empty, choice, &sig, &[], &inputs, &CallConfig::default()).await.unwrap_err();
    assert!(matches!(err, LmError::Provider { .. }), "{err:?}");
    assert_eq!(extraction.request_count(), 1);
}

#[tokio::test]
async fn an_output_named_text_is_refused_before_any_call() {
    let sig = SignatureSpec::parse("question -> text").unwrap();
    let (main, extraction) = (ScriptedLm::sequence(["x"]), ScriptedLm::sequence(["y"]));
    let choice = AdapterChoice::TwoStep(TwoStep::new(extraction.clone()));
    let inputs = Example::from_pairs([("question", "q?")]);
    let err = call_with_adapter(&SharedLm::new(main.clone()), choice, &sig, &[], &inputs, &CallConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, LmError::Core(CoreError::InvalidSignature(_))), "{err:?}");
    assert_eq!(main.request_count() + extraction.request_count(), 0);
}

#[test]
fn two_step_choices_compare_by_extraction_lm() {
    let lm = SharedLm::new(ScriptedLm::sequence(["x"]));
    let a = AdapterChoice::TwoStep(TwoStep::new(lm.clone()));
    assert_eq!(a, AdapterChoice::TwoStep(TwoStep::new(lm)));
    assert_ne!(a, AdapterChoice::TwoStep(TwoStep::new(ScriptedLm::sequence(["x"]))));
    assert_eq!(a.name(), "two_step");
    assert!(format!("{a:?}").contains("scripted/dummy"));
}
