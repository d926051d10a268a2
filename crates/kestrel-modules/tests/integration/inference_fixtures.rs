//! The DSPy 3.4.1 `module_call` fixtures for ReAct and MultiChainComparison:
//! every request the module sends (messages byte for byte, and the LM
//! options), and the returned prediction (keys, order and values).

use std::sync::Arc;

use kestrel_lm::{LmRequest, with_lm};
use kestrel_modules::{MultiChainComparison, ReAct, Tool};
use kestrel_testkit::{Reply, ScriptedLm};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::fixture_support::{example, fixtures, signature};

fn case(module: &str) -> (String, Value) {
    fixtures("module_call", Some("chat"))
        .into_iter()
        .find(|(_, c)| c["module"].as_str() == Some(module))
        .unwrap_or_else(|| panic!("no {module} fixture"))
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

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct WeatherArgs {
    city: String,
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct AddArgs {
    a: i64,
    b: i64,
}

/// (tool name, arguments, observation) of every call the fixture recorded.
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

/// A typed tool answering from the recorded calls.
fn lookup_tool<A>(case: &Value, name: &str, calls: &Recorded) -> Tool
where
    A: Serialize + serde::de::DeserializeOwned + schemars::JsonSchema + Send + 'static,
{
    let spec = case["tools"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap();
    let calls = Arc::clone(calls);
    let tool_name = name.to_string();
    let tool = Tool::new(name, spec["desc"].as_str().unwrap(), move |args: A| {
        let args = serde_json::to_value(args).unwrap();
        let found = calls.iter().find(|(n, a, _)| *n == tool_name && *a == args).map(|(_, _, obs)| obs.clone());
        async move { found.ok_or("no recorded call with these arguments") }
    });
    // The schema derived from the args struct is DSPy's.
    assert_eq!(Value::Object(tool.args().clone()), spec["args"], "{name}: args schema");
    tool
}

#[tokio::test]
async fn react_fixture_matches_dspy() {
    let (name, case) = case("ReAct");
    let calls = recorded_calls(&case);
    let tools = vec![
        lookup_tool::<WeatherArgs>(&case, "get_weather", &calls),
        lookup_tool::<AddArgs>(&case, "add_numbers", &calls),
    ];
    let max_iters = case["max_iters"].as_u64().unwrap() as usize;
    let react = ReAct::with_spec(signature(&case), tools).unwrap().max_iters(max_iters);
    let lm = scripted(&case);
    let prediction = with_lm(lm.clone(), react.forward_example(&example(&case["inputs"]), None)).await.unwrap();
    assert_requests(&name, &lm.requests(), &case);
    assert_prediction(&name, &prediction, &case);
    assert!(prediction.usage().prompt_tokens > 0, "usage of all four calls is summed");
}

#[tokio::test]
async fn multi_chain_comparison_fixture_matches_dspy() {
    let (name, case) = case("MultiChainComparison");
    let m = case["M"].as_u64().unwrap() as usize;
    let mcc = MultiChainComparison::with_spec(signature(&case), m).unwrap();
    let inputs = example(&case["inputs"]).with("completions", case["completions"].clone());
    let lm = scripted(&case);
    let prediction = with_lm(lm.clone(), mcc.forward_example(&inputs, None)).await.unwrap();
    assert_requests(&name, &lm.requests(), &case);
    assert_prediction(&name, &prediction, &case);

    // The typed entry point sends the same request.
    let lm = scripted(&case);
    let mut input = json!({"completions": case["completions"]});
    input.as_object_mut().unwrap().extend(case["inputs"].as_object().unwrap().clone());
    let out = with_lm(lm.clone(), kestrel_modules::ModuleExt::call(&mcc, serde_json::from_value(input).unwrap()))
        .await
        .unwrap();
    assert_requests(&name, &lm.requests(), &case);
    assert_eq!(out.rationale, case["expected"]["prediction"]["rationale"]);
    assert_eq!(out.get("answer"), Some(&case["expected"]["prediction"]["answer"]));
}
