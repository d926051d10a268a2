//! The DSPy 3.4.1 `module_call` fixtures for ReAct and MultiChainComparison
//! (every case of each; ReAct tools are built from the case's own data):
//! every request the module sends (messages byte for byte, and the LM
//! options), and the returned prediction (keys, order and values).

use std::sync::Arc;

use kestrel_lm::{LmRequest, with_lm};
use kestrel_modules::{MultiChainComparison, ReAct, Tool};
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::{Value, json};

use crate::fixture_support::{example, fixtures, signature};

/// Every `module_call` case of `module`: adding a file adds a case.
fn cases_of(module: &str) -> Vec<(String, Value)> {
    let cases: Vec<_> = fixtures("module_call", Some("chat"))
        .into_iter()
        .filter(|(_, c)| c["module"].as_str() == Some(module))
        .collect();
    assert!(!cases.is_empty(), "no {module} fixtures");
    cases
}

fn scripted(case: &Value) -> ScriptedLm {
    let replies: Vec<Reply> =
        case["lm_responses"].as_array().unwrap().iter().map(|r| Reply::Text(r.as_str().unwrap().into())).collect();
    ScriptedLm::sequence(replies)
}

/// Every request matches the fixture: messages exactly, and the options.
fn assert_requests(name: &str, got: &[LmRequest], case: &Value) {
    let expected = case["expected"]["requests"].as_array().unwrap();
    assert_eq!(got.len(), expected.len(), "{name}: request count");
    for (i, (req, exp)) in got.iter().zip(expected).enumerate() {
        let exp_messages = exp["messages"].as_array().unwrap();
        assert_eq!(req.messages.len(), exp_messages.len(), "{name}: request {i} message count");
        for (j, (m, e)) in req.messages.iter().zip(exp_messages).enumerate() {
            assert_eq!(m.role.as_str(), e["role"], "{name}: request {i} message {j} role");
            assert_eq!(m.content, e["content"].as_str().unwrap(), "{name}: request {i} message {j} content");
        }
        let kwargs = exp["lm_kwargs"].as_object().unwrap();
        let temperature = kwargs.get("temperature").and_then(Value::as_f64).map(|t| t as f32);
        assert!(kwargs.keys().all(|k| k == "temperature"), "{name}: unexpected lm_kwargs {kwargs:?}");
        assert_eq!(
            (req.n, req.temperature, req.max_tokens, req.rollout_id),
            (1, temperature, None, None),
            "{name}: {i}"
        );
    }
}

/// The prediction's fields, in order, are the fixture's.
fn assert_prediction(name: &str, got: &kestrel_core::Prediction, case: &Value) {
    let expected = &case["expected"]["prediction"];
    assert_eq!(serde_json::to_string(got.fields()).unwrap(), serde_json::to_string(expected).unwrap(), "{name}");
}

/// (tool name, arguments, observation) of every call the fixture recorded:
/// `tool_name_i`, `tool_args_i`, `observation_i` of the trajectory.
type Recorded = Arc<Vec<(String, Value, Value)>>;

fn recorded_calls(case: &Value) -> Recorded {
    let trajectory = case["expected"]["prediction"]["trajectory"].as_object().unwrap();
    let mut calls = Vec::new();
    for i in 0.. {
        let Some(name) = trajectory.get(&format!("tool_name_{i}")) else { break };
        calls.push((
            name.as_str().unwrap().to_string(),
            trajectory[&format!("tool_args_{i}")].clone(),
            trajectory[&format!("observation_{i}")].clone(),
        ));
    }
    Arc::new(calls)
}

/// Every tool of a case, built from the fixture's own data: name,
/// description and per-argument JSON schema (defaults included) as DSPy
/// recorded them, answering each call with the observation recorded for the
/// same tool and arguments. A call the recording does not have is a tool
/// error (it would show in the next request, and the case would fail).
fn fixture_tools(case: &Value) -> Vec<Tool> {
    let calls = recorded_calls(case);
    case["tools"]
        .as_array()
        .expect("a ReAct case has `tools`")
        .iter()
        .map(|spec| {
            let name = spec["name"].as_str().unwrap().to_string();
            let args = spec["args"].as_object().cloned().unwrap_or_default();
            let calls = Arc::clone(&calls);
            let tool_name = name.clone();
            let tool = Tool::dynamic(name.as_str(), spec["desc"].as_str().unwrap_or_default(), args, move |args| {
                let found = calls.iter().find(|(n, a, _)| *n == tool_name && *a == args).map(|(_, _, obs)| obs.clone());
                async move { found.ok_or("no recorded call with these arguments") }
            });
            assert_eq!(Value::Object(tool.args().clone()), spec["args"], "{name}: args schema");
            tool
        })
        .collect()
}

/// Replay one ReAct case: every request and the prediction.
async fn run_react_case(name: &str, case: &Value) {
    let max_iters = case["max_iters"].as_u64().unwrap() as usize;
    let react = ReAct::with_spec(signature(case), fixture_tools(case)).unwrap().max_iters(max_iters);
    let lm = scripted(case);
    let prediction = with_lm(lm.clone(), react.forward_example(&example(&case["inputs"]), None)).await.unwrap();
    assert_requests(name, &lm.requests(), case);
    assert_prediction(name, &prediction, case);
    assert!(prediction.usage().prompt_tokens > 0, "{name}: usage of every call is summed");
}

fn react_cases() -> Vec<(String, Value)> {
    cases_of("ReAct")
}

#[tokio::test]
async fn react_fixtures_match_dspy() {
    for (name, case) in react_cases() {
        run_react_case(&name, &case).await;
    }
}

/// The public case with its tools renamed, one argument renamed and an
/// argument with a default added (`units`, `{"type": "string", "default":
/// "metric"}`) — everywhere the case shows them: the tool list, the
/// instructions of every request, the scripted replies and the trajectory.
/// The runner must replay it from the data alone.
fn renamed_react_case(case: &Value) -> Value {
    let text = serde_json::to_string(case)
        .unwrap()
        .replace("get_weather", "lookup_forecast")
        .replace("add_numbers", "sum_pair")
        .replace("city", "town");
    let mut case: Value = serde_json::from_str(&text).unwrap();
    let old_line = "{'town': {'type': 'string'}}";
    let new_line = "{'town': {'type': 'string'}, 'units': {'type': 'string', 'default': 'metric'}}";
    case["tools"][0]["args"]["units"] = json!({"type": "string", "default": "metric"});
    let mut lines = 0;
    for request in case["expected"]["requests"].as_array_mut().unwrap() {
        for message in request["messages"].as_array_mut().unwrap() {
            let content = message["content"].as_str().unwrap();
            if content.contains(old_line) {
                lines += 1;
                message["content"] = Value::String(content.replace(old_line, new_line));
            }
        }
    }
    assert!(lines > 0, "the tool line was rewritten");
    case
}

#[tokio::test]
async fn the_react_runner_builds_any_cases_tools() {
    let (_, case) = react_cases().into_iter().find(|(n, _)| n == "module_react.json").unwrap();
    let renamed = renamed_react_case(&case);
    let names: Vec<&str> = renamed["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lookup_forecast", "sum_pair"]);
    run_react_case("module_react.json renamed", &renamed).await;
}

#[tokio::test]
async fn multi_chain_comparison_fixtures_match_dspy() {
    for (name, case) in cases_of("MultiChainComparison") {
        run_multi_chain_case(&name, &case).await;
    }
}

async fn run_multi_chain_case(name: &str, case: &Value) {
    let m = case["M"].as_u64().unwrap() as usize;
    let mcc = MultiChainComparison::with_spec(signature(case), m).unwrap();
    let inputs = example(&case["inputs"]).with("completions", case["completions"].clone());
    let lm = scripted(case);
    let prediction = with_lm(lm.clone(), mcc.forward_example(&inputs, None)).await.unwrap();
    assert_requests(name, &lm.requests(), case);
    assert_prediction(name, &prediction, case);

    // The typed entry point sends the same request.
    let lm = scripted(case);
    let mut input = json!({"completions": case["completions"]});
    input.as_object_mut().unwrap().extend(case["inputs"].as_object().unwrap().clone());
    let out = with_lm(lm.clone(), kestrel_modules::ModuleExt::call(&mcc, serde_json::from_value(input).unwrap()))
        .await
        .unwrap();
    assert_requests(name, &lm.requests(), case);
    assert_eq!(out.rationale, case["expected"]["prediction"]["rationale"]);
    assert_eq!(out.get("answer"), Some(&case["expected"]["prediction"]["answer"]));
}
