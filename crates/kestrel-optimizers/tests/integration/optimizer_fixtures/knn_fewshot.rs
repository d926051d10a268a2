//! The KNNFewShot cases: `dspy.KNNFewShot(k, trainset, vectorizer)
//! .compile(program)`, then the program called on each of the case's
//! inputs. Per call: the embedded query text, every training example's
//! score, the neighbours (best first), the requests the call made (the
//! bootstrap's teacher runs, then the answer) and the prediction must be
//! DSPy's; the embedded trainset texts too.

use std::sync::Arc;

use kestrel_core::{Example, Prediction};
use kestrel_lm::with_lm;
use kestrel_modules::{ModuleExt, Trace};
use kestrel_optimizers::knn_fewshot::{example_text, query_text};
use kestrel_optimizers::{BootstrapFewShot, KnnFewShot};
use kestrel_testkit::{LetterCountEmbedder, RequestLog};
use serde_json::{Value, json};

use super::grounded_proposer::program;
use super::{check_requests, examples, lms};

pub(super) async fn run(name: &str, case: &Value) {
    let init = &case["optimizer"]["init"];
    assert_eq!(case["embedder"]["name"], "letter_counts", "{name}: only the letter-count embedder is built");
    assert!(init["metric"].is_null() && init["teacher_settings"].is_null(), "{name}: DSPy's default bootstrap only");
    let log = RequestLog::new();
    let lms = lms(case, &log);
    let trainset = examples(case, "trainset");
    let accept_all = |_: &Example, _: &Prediction, _: Option<&Trace>| true;
    let bootstrap = BootstrapFewShot::new(accept_all)
        .max_bootstrapped_demos(init["max_bootstrapped_demos"].as_u64().unwrap() as usize)
        .max_labeled_demos(init["max_labeled_demos"].as_u64().unwrap() as usize)
        .max_rounds(init["max_rounds"].as_u64().unwrap() as usize)
        .unwrap()
        .concurrency(1)
        .unwrap()
        .display_progress(false);
    let k = init["k"].as_u64().unwrap() as usize;
    let optimizer =
        KnnFewShot::new(k, trainset.clone(), Arc::new(LetterCountEmbedder::new())).few_shot_bootstrap_args(bootstrap);
    let task_lm = lms[case["default_lm"].as_str().unwrap()].clone();
    let compiled = optimizer.compile(&program(case)).await.unwrap();

    let expected = &case["expected"];
    let texts: Vec<String> = trainset.iter().map(example_text).collect();
    assert_eq!(json!(texts), expected["result"]["embedded_trainset_texts"], "{name}: embedded trainset");
    let calls = case["program_calls"].as_array().unwrap();
    for (i, (inputs, want)) in calls.iter().zip(expected["result"]["calls"].as_array().unwrap()).enumerate() {
        let inputs: Example = serde_json::from_value(inputs.clone()).unwrap();
        assert_eq!(json!(query_text(&inputs)), want["query_text"], "{name}: call {i}: query text");
        let scores: Vec<f64> = compiled.knn().scores(&inputs).await.unwrap().into_iter().map(f64::from).collect();
        assert_eq!(json!(scores), want["scores"], "{name}: call {i}: scores");
        let neighbours = compiled.knn().neighbour_indices(&inputs).await.unwrap();
        assert_eq!(json!(neighbours), want["neighbours"], "{name}: call {i}: neighbours");
        let before = log.requests().len();
        let prediction = with_lm(task_lm.clone(), compiled.call(inputs)).await.unwrap();
        let made: Vec<usize> = (before..log.requests().len()).collect();
        assert_eq!(json!(made), want["request_indices"], "{name}: call {i}: requests");
        assert_eq!(Value::Object(prediction.fields().clone().into_iter().collect()), want["prediction"]);
    }
    check_requests(name, &log, &expected["requests"]);
}
