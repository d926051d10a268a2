//! The SIMBA cases: `dspy.SIMBA(...).compile(program, trainset, seed)`
//! with `num_threads=1`, so every request (trajectories with their rollout
//! ids and temperature, the `OfferFeedback` rule prompt, the candidates on
//! the minibatch, the winners on the trainset) must come in DSPy's order
//! with DSPy's bytes; then the saved program, the sorted candidate scores
//! and the trial logs must be DSPy's.

use kestrel_lm::with_lm;
use kestrel_modules::ProgramState;
use kestrel_optimizers::{Optimizer, Simba};
use kestrel_testkit::RequestLog;
use serde_json::{Map, Value, json};

use super::grounded_proposer::program;
use super::{check_requests, exact_match, examples, lm_ref, lms, saved_without_metadata};

pub(super) async fn run(name: &str, case: &Value) {
    let log = RequestLog::new();
    let lms = lms(case, &log);
    let init = &case["optimizer"]["init"];
    assert!(init["teacher_settings"].is_null(), "{name}: teacher settings are not built here");
    let count = |key: &str| init[key].as_u64().unwrap() as usize;
    let metric = exact_match(case["metric"]["field"].as_str().unwrap().to_string());
    let mut simba = Simba::new(metric)
        .bsize(count("bsize"))
        .unwrap()
        .num_candidates(count("num_candidates"))
        .unwrap()
        .max_steps(count("max_steps"))
        .max_demos(count("max_demos"))
        .demo_input_field_maxlen(count("demo_input_field_maxlen"))
        .temperature_for_sampling(init["temperature_for_sampling"].as_f64().unwrap())
        .unwrap()
        .temperature_for_candidates(init["temperature_for_candidates"].as_f64().unwrap())
        .unwrap()
        .concurrency(count("num_threads"))
        .unwrap()
        .seed(case["optimizer"]["args"]["seed"].as_i64().unwrap())
        .program_code(case["program"]["class_source"].as_str().unwrap());
    if !init["prompt_model"].is_null() {
        simba = simba.prompt_model(lm_ref(&lms, &init["prompt_model"]).clone());
    }
    let student = program(case);
    let trainset = examples(case, "trainset");
    let task_lm = lms[case["default_lm"].as_str().unwrap()].clone();
    let compiled = with_lm(task_lm, simba.compile(&student, &trainset)).await.unwrap();

    let expected = &case["expected"];
    check_requests(name, &log, &expected["requests"]);
    let saved = saved_without_metadata(compiled.program.dump_state());
    assert_eq!(saved, expected["final_program"], "{name}: final program");
    let report = compiled.report.simba.as_ref().expect("SIMBA fills its report");
    let scores: Vec<f64> = report.final_candidates.iter().map(|c| c.score).collect();
    assert_eq!(json!(scores), expected["result"]["candidate_scores"], "{name}: candidate scores");
    let mut logs = Map::new();
    for (step, s) in report.steps.iter().enumerate() {
        let mut entry = Map::new();
        if let Some(score) = s.train_score {
            entry.insert("train_score".into(), json!(score));
        }
        logs.insert(step.to_string(), Value::Object(entry));
    }
    assert_eq!(Value::Object(logs), expected["result"]["trial_logs"], "{name}: trial logs");
}
