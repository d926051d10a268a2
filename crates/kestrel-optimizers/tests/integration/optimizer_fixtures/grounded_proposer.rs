//! The `GroundedProposer` cases: MIPROv2's step 2 alone. The proposer is
//! built as `MIPROv2._propose_instructions` builds it, from the case's
//! `init`, with the case's `program_code` injected (Rust cannot read a
//! program's Python source), and run on the fixed demo candidates with
//! `random.Random(seed)`; every request, the dataset summary, the proposed
//! instructions and the draws on the generator must be DSPy's.

use kestrel_core::{Example, Prediction, PyRandom};
use kestrel_lm::with_lm;
use kestrel_modules::{Module, ModuleError, ModuleExt, Predict, Predictor, Predictors, join_path};
use kestrel_optimizers::mipro::{GroundedProposer, InstructionProposals, TIPS};
use kestrel_testkit::RequestLog;
use serde_json::{Value, json};

use super::{check_requests, examples, lm_ref, lms, signature};

/// A fixture's custom module: named predictors, in order.
#[derive(Clone)]
pub(super) struct FixtureProgram(Vec<(String, Predict)>);

impl Predictors for FixtureProgram {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        for (attribute, predict) in &self.0 {
            predict.visit_predictors(&join_path(path, attribute), visit);
        }
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        for (attribute, predict) in &mut self.0 {
            predict.visit_predictors_mut(&join_path(path, attribute), visit);
        }
    }
}

/// A one-predictor custom module runs its predictor (`forward(self,
/// **inputs): return self.<attribute>(**inputs)`).
impl Module for FixtureProgram {
    type Input = Example;
    type Output = Prediction;

    async fn forward(&self, input: Example) -> Result<Prediction, ModuleError> {
        assert_eq!(self.0.len(), 1, "fixture programs run only with one predictor");
        self.0[0].1.call(input).await
    }
}

/// The student program of a case: a custom module of `Predict`s, or one
/// `Predict`.
pub(super) fn program(case: &Value) -> FixtureProgram {
    let program = &case["program"];
    match program["module"].as_str().unwrap() {
        "Predict" => FixtureProgram(vec![(String::new(), Predict::with_spec(signature(&program["signature"])))]),
        _ => FixtureProgram(
            program["submodules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|sub| {
                    assert_eq!(sub["module"], "Predict", "only Predict submodules are built here");
                    (sub["attribute"].as_str().unwrap().to_string(), Predict::with_spec(signature(&sub["signature"])))
                })
                .collect(),
        ),
    }
}

/// `{"0": [[demo, ...], ...], ...}` → per predictor, its demo sets.
pub(super) fn demo_candidates(case: &Value) -> Vec<Vec<Vec<Example>>> {
    let Some(map) = case["demo_candidates"].as_object() else { return Vec::new() };
    (0..map.len())
        .map(|i| {
            map[&i.to_string()]
                .as_array()
                .unwrap()
                .iter()
                .map(|set| set.as_array().unwrap().iter().map(|d| serde_json::from_value(d.clone()).unwrap()).collect())
                .collect()
        })
        .collect()
}

/// The proposer as MIPROv2 builds it from the case's `init`.
pub(super) fn proposer(
    case: &Value,
    lms: &std::collections::BTreeMap<String, kestrel_lm::SharedLm>,
) -> GroundedProposer {
    let init = &case["optimizer"]["init"];
    assert_eq!(init["use_instruct_history"], false, "instruction history is not built");
    assert_eq!(init["set_history_randomly"], false, "instruction history is not built");
    assert_eq!(init["use_tip"], init["set_tip_randomly"], "MIPROv2 passes the same value for both");
    let mut proposer = GroundedProposer::new()
        .view_data_batch_size(init["view_data_batch_size"].as_u64().unwrap() as usize)
        .use_dataset_summary(init["use_dataset_summary"].as_bool().unwrap())
        .program_aware(init["program_aware"].as_bool().unwrap())
        .use_task_demos(init["use_task_demos"].as_bool().unwrap())
        .num_demos_in_context(init["num_demos_in_context"].as_u64().unwrap() as usize)
        .use_tip(init["use_tip"].as_bool().unwrap())
        .init_temperature(init["init_temperature"].as_f64().unwrap() as f32)
        .program_code(case["expected"]["result"]["program_code"].as_str().unwrap());
    if !init["prompt_model"].is_null() {
        proposer = proposer.prompt_model(lm_ref(lms, &init["prompt_model"]).clone());
    }
    proposer
}

/// Run a case's proposer at `concurrency`; the log gets every request.
pub(super) async fn propose(case: &Value, log: &RequestLog, concurrency: usize) -> InstructionProposals {
    let lms = lms(case, log);
    let proposer = proposer(case, &lms).concurrency(concurrency);
    assert_eq!(case["rng"]["type"], "python random.Random");
    let mut rng = PyRandom::new(case["rng"]["seed"].as_i64().unwrap());
    let student = program(case);
    let trainset = examples(case, "trainset");
    let candidates = demo_candidates(case);
    let n = case["optimizer"]["args"]["N"].as_u64().unwrap() as usize;
    let run = proposer.propose_instructions(&student, &trainset, &candidates, &mut rng, n);
    match case["default_lm"].as_str() {
        Some(name) => with_lm(lms[name].clone(), run).await,
        None => run.await,
    }
    .unwrap()
}

/// The draws as the fixture lists them (`rng_draws`).
pub(super) fn rng_draws(proposals: &InstructionProposals) -> Value {
    let keys: Vec<&str> = TIPS.iter().map(|(k, _)| *k).collect();
    let mut out = Vec::new();
    for draw in &proposals.draws {
        if let Some(tip) = draw.tip {
            out.push(json!({"call": "choice", "population": keys, "result": tip}));
        }
        out.push(json!({"call": "randint", "a": 0, "b": 1_000_000_000, "result": draw.rollout_id}));
    }
    Value::from(out)
}

/// `proposed_instructions` as the fixture lists them.
pub(super) fn proposed(proposals: &InstructionProposals) -> Value {
    let map: serde_json::Map<String, Value> =
        proposals.instructions.iter().enumerate().map(|(i, list)| (i.to_string(), json!(list))).collect();
    Value::Object(map)
}

pub(super) async fn run(name: &str, case: &Value) {
    let log = RequestLog::new();
    let proposals = propose(case, &log, 1).await;
    let expected = &case["expected"];
    check_requests(name, &log, &expected["requests"]);
    let result = &expected["result"];
    assert_eq!(json!(proposals.program_code), result["program_code"], "{name}: program_code");
    assert_eq!(json!(proposals.data_summary), result["data_summary"], "{name}: data_summary");
    assert_eq!(proposed(&proposals), result["proposed_instructions"], "{name}: proposed_instructions");
    assert_eq!(rng_draws(&proposals), result["rng_draws"], "{name}: rng_draws");
    assert!(proposals.notes.is_empty(), "{name}: {:?}", proposals.notes);
}
