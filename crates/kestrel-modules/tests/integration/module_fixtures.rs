//! The DSPy 3.4.1 `module_call` fixtures for Predict and ChainOfThought: every
//! request the module sends, byte for byte, and the returned prediction.

use kestrel_lm::with_lm;
use kestrel_modules::{ChainOfThought, Predict, Predictor};
use kestrel_testkit::{Reply, ScriptedLm};

use crate::fixture_support::{example, examples, fixtures, signature};

#[tokio::test]
async fn predict_and_chain_of_thought_fixtures_match_dspy() {
    let mut ran = 0;
    for (name, case) in fixtures("module_call", None) {
        let module = case["module"].as_str().unwrap_or_default();
        match module {
            "ChainOfThought" | "Predict" => {}
            // Replayed, every case of them, in inference_fixtures.rs.
            "ReAct" | "MultiChainComparison" => continue,
            other => panic!("{name}: no runner for a `module_call` of module {other:?}"),
        }
        ran += 1;
        let spec = signature(&case);
        let demos = examples(&case["demos"]);
        let inputs = example(&case["inputs"]);
        let replies: Vec<Reply> =
            case["lm_responses"].as_array().unwrap().iter().map(|r| Reply::Text(r.as_str().unwrap().into())).collect();
        let lm = ScriptedLm::sequence(replies);

        let prediction = if module == "ChainOfThought" {
            let mut cot = ChainOfThought::with_spec(spec).unwrap();
            cot.predict.set_demos(demos);
            with_lm(lm.clone(), cot.forward_example(&inputs, None)).await.unwrap()
        } else {
            let predict = Predict::with_spec(spec).demos_from(demos);
            with_lm(lm.clone(), predict.forward_example(&inputs, None)).await.unwrap()
        };

        let expected_requests = case["expected"]["requests"].as_array().unwrap();
        let got = lm.requests();
        assert_eq!(got.len(), expected_requests.len(), "{name}: request count");
        for (i, (req, exp)) in got.iter().zip(expected_requests).enumerate() {
            let exp_messages = exp["messages"].as_array().unwrap();
            assert_eq!(req.messages.len(), exp_messages.len(), "{name}: request {i} message count");
            for (j, (m, e)) in req.messages.iter().zip(exp_messages).enumerate() {
                let role = m.role.as_str();
                assert_eq!(role, e["role"], "{name}: request {i} message {j} role");
                assert_eq!(m.content, e["content"].as_str().unwrap(), "{name}: request {i} message {j} content");
            }
            // No options were passed by these modules: DSPy's lm_kwargs is {}.
            if exp["lm_kwargs"].as_object().is_some_and(|o| o.is_empty()) {
                assert_eq!((req.n, req.temperature, req.max_tokens), (1, None, None), "{name}: lm kwargs");
            }
        }
        let expected_prediction = case["expected"]["prediction"].as_object().unwrap();
        for (key, value) in expected_prediction {
            assert_eq!(prediction.get(key), Some(value), "{name}: prediction field {key}");
        }
        let keys: Vec<&String> = prediction.fields().keys().collect();
        let expected_keys: Vec<&String> = expected_prediction.keys().collect();
        assert_eq!(keys, expected_keys, "{name}: prediction keys");
    }
    assert!(ran > 0, "no Predict/ChainOfThought module fixtures found");
}
