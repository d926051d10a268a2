//! The DSPy 3.4.1 `optimizer_call` fixtures (`testdata/dspy/`): every file
//! of the kind is a case. A case's program, data, metric and rule-scripted
//! LMs are built from the file; the optimizer runs sequentially
//! (concurrency 1) and every LM request — which LM, the messages, the
//! options — must equal the recorded one, in order; then the saved program
//! and the optimizer's result must equal DSPy's.
//!
//! Optimizers not built yet are listed in `testdata/fixtures-pending.txt`
//! (lines `optimizer_call/NAME`, the one list of pending fixtures, read
//! through the shared `fixture_support`) and reported as skipped by name; a
//! case naming any other optimizer fails.

use std::collections::BTreeMap;

use kestrel_core::{Example, FieldSpec, FieldType, Io, Prediction, SignatureSpec};
use kestrel_eval::{Score, feedback_metric_fn};
use kestrel_lm::{SharedLm, with_lm};
use kestrel_modules::{Predict, ProgramState, Trace};
use kestrel_optimizers::{Copro, Gepa, Optimizer};
use kestrel_testkit::{RequestLog, RuleLm};

use crate::fixture_support::{fixtures, pending, report_skipped};
use serde_json::{Value, json};

mod grounded_proposer;
mod knn_fewshot;
mod simba;

/// The signature a fixture program declares, field by field.
fn signature(sig: &Value) -> SignatureSpec {
    let fields = sig["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let io = if f["io"] == "input" { Io::Input } else { Io::Output };
            let ty: FieldType = f["type"].as_str().unwrap().parse().unwrap();
            let mut spec = FieldSpec::new(f["name"].as_str().unwrap(), io, ty);
            if let Some(desc) = f["desc"].as_str() {
                spec = spec.with_desc(desc);
            }
            spec.with_prefix(f["prefix"].as_str().unwrap())
        })
        .collect();
    SignatureSpec::new(fields, sig["instructions"].as_str().map(str::to_string)).unwrap()
}

fn examples(case: &Value, key: &str) -> Vec<Example> {
    let inputs: Vec<String> =
        case["input_keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().into()).collect();
    case[key]
        .as_array()
        .map(|records| {
            records
                .iter()
                .map(|r| serde_json::from_value::<Example>(r.clone()).unwrap().with_inputs(inputs.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The fixture's named metric.
fn exact_match(field: String) -> impl Fn(&Example, &Prediction, Option<&Trace>) -> f64 + Send + Sync + 'static {
    move |example, prediction, _| {
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => s.trim().to_lowercase(),
            Some(other) => other.to_string().trim().to_lowercase(),
            None => "none".into(),
        };
        f64::from(u8::from(text(example.get(&field)) == text(prediction.get(&field))))
    }
}

fn lms(case: &Value, log: &RequestLog) -> BTreeMap<String, SharedLm> {
    case["lms"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, spec)| (name.clone(), SharedLm::new(RuleLm::from_fixture(name, spec, log.clone()).unwrap())))
        .collect()
}

fn lm_ref<'a>(lms: &'a BTreeMap<String, SharedLm>, value: &Value) -> &'a SharedLm {
    let reference = value["$ref"].as_str().unwrap();
    &lms[reference.strip_prefix("lms.").unwrap()]
}

/// Every request, in order, as recorded.
fn check_requests(name: &str, log: &RequestLog, expected: &Value) {
    let got = log.requests();
    let expected = expected.as_array().unwrap();
    for (k, (g, e)) in got.iter().zip(expected).enumerate() {
        assert_eq!(g.lm, e["lm"].as_str().unwrap(), "{name}: request {k}: LM");
        let messages: Vec<Value> =
            g.messages.iter().map(|m| json!({"role": m.role.as_str(), "content": m.content})).collect();
        assert_eq!(Value::from(messages), e["messages"], "{name}: request {k}: messages");
        assert_eq!(Value::Object(g.lm_kwargs.clone()), e["lm_kwargs"], "{name}: request {k}: lm_kwargs");
        assert_eq!(Value::from(g.replies.clone()), e["replies"], "{name}: request {k}: replies");
    }
    assert_eq!(got.len(), expected.len(), "{name}: number of requests");
}

/// The saved program without its metadata block.
fn saved_without_metadata(state: Value) -> Value {
    let mut state = state;
    if let Some(map) = state.as_object_mut() {
        map.remove("metadata");
    }
    state
}

async fn run_copro(name: &str, case: &Value) {
    assert_eq!(case["program"]["module"], "Predict", "{name}: only Predict programs are built here");
    let log = RequestLog::new();
    let lms = lms(case, &log);
    let init = &case["optimizer"]["init"];
    let metric = exact_match(case["metric"]["field"].as_str().unwrap().to_string());
    let mut copro = Copro::new(metric)
        .breadth(init["breadth"].as_u64().unwrap() as usize)
        .unwrap()
        .depth(init["depth"].as_u64().unwrap() as usize)
        .unwrap()
        .init_temperature(init["init_temperature"].as_f64().unwrap() as f32)
        .track_stats(init["track_stats"].as_bool().unwrap())
        .concurrency(1)
        .unwrap()
        .display_progress(false);
    if !init["prompt_model"].is_null() {
        copro = copro.prompt_model(lm_ref(&lms, &init["prompt_model"]).clone());
    }
    let student = Predict::with_spec(signature(&case["program"]["signature"]));
    let trainset = examples(case, "trainset");
    let task_lm = lms[case["default_lm"].as_str().unwrap()].clone();
    let compiled = with_lm(task_lm, copro.compile(&student, &trainset)).await.unwrap();

    let expected = &case["expected"];
    check_requests(name, &log, &expected["requests"]);
    let saved = saved_without_metadata(compiled.program.dump_state());
    assert_eq!(saved, expected["final_program"], "{name}: final program");
    let candidates: Vec<Value> = compiled
        .report
        .instruction_candidates
        .iter()
        .map(|c| json!({"instruction": c.instruction, "prefix": c.prefix, "score": c.score, "depth": c.depth}))
        .collect();
    assert_eq!(Value::from(candidates), expected["result"]["candidates"], "{name}: candidates");
    assert_eq!(compiled.report.evaluations as u64, expected["result"]["total_calls"].as_u64().unwrap());
}

/// The fixture's `exact_match_with_feedback`: DSPy's
/// `dspy.Prediction(score=.., feedback=..)` from the two templates.
fn exact_match_with_feedback(spec: &Value) -> impl kestrel_eval::Metric + 'static {
    let field = spec["field"].as_str().unwrap().to_string();
    let right = spec["feedback_if_correct"].as_str().unwrap().to_string();
    let wrong = spec["feedback_if_wrong"].as_str().unwrap().to_string();
    feedback_metric_fn(
        "exact_match_with_feedback",
        move |gold: &Example, pred: &Prediction, _: Option<&Trace>, _: Option<&str>, _: Option<&Trace>| {
            let text = |v: Option<&Value>| match v {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => "None".into(),
            };
            let (expected, predicted) = (text(gold.get(&field)), text(pred.get(&field)));
            let score = f64::from(u8::from(expected.trim().to_lowercase() == predicted.trim().to_lowercase()));
            let feedback = if score > 0.0 {
                right.clone()
            } else {
                wrong.replace("{expected}", &expected).replace("{predicted}", &predicted)
            };
            Score::with_feedback(score, feedback)
        },
    )
}

async fn run_gepa(name: &str, case: &Value) {
    let log = RequestLog::new();
    let lms = lms(case, &log);
    let init = &case["optimizer"]["init"];
    assert!(init["auto"].is_null() && init["max_full_evals"].is_null(), "{name}: budget by max_metric_calls only");
    let mut gepa = Gepa::new(exact_match_with_feedback(&case["metric"]))
        .max_metric_calls(init["max_metric_calls"].as_u64().unwrap() as usize)
        .reflection_minibatch_size(init["reflection_minibatch_size"].as_u64().unwrap() as usize)
        .unwrap()
        .candidate_selection_strategy(init["candidate_selection_strategy"].as_str().unwrap().parse().unwrap())
        .component_selector(init["component_selector"].as_str().unwrap().parse().unwrap())
        .skip_perfect_score(init["skip_perfect_score"].as_bool().unwrap())
        .use_merge(init["use_merge"].as_bool().unwrap())
        .max_merge_invocations(init["max_merge_invocations"].as_u64().unwrap() as usize)
        .failure_score(init["failure_score"].as_f64().unwrap())
        .perfect_score(init["perfect_score"].as_f64().unwrap())
        .track_stats(init["track_stats"].as_bool().unwrap())
        .seed(init["seed"].as_i64().unwrap())
        .concurrency(1)
        .unwrap()
        .display_progress(false);
    if !init["reflection_lm"].is_null() {
        gepa = gepa.reflection_lm(lm_ref(&lms, &init["reflection_lm"]).clone());
    }
    let submodules = case["program"]["submodules"].as_array().unwrap();
    assert_eq!(submodules.len(), 1, "{name}: one-predictor programs only");
    let student = Predict::with_spec(signature(&submodules[0]["signature"]));
    let attribute = submodules[0]["attribute"].as_str().unwrap();
    let trainset = examples(case, "trainset");
    let valset = examples(case, "valset");
    let task_lm = lms[case["default_lm"].as_str().unwrap()].clone();
    let compiled = with_lm(task_lm, gepa.compile_with_valset(&student, &trainset, Some(&valset))).await.unwrap();

    let expected = &case["expected"];
    check_requests(name, &log, &expected["requests"]);
    // The program is one Predict (its state is the file's top level); DSPy's
    // is under the fixture program's attribute.
    let saved = json!({ attribute: saved_without_metadata(compiled.program.dump_state()) });
    assert_eq!(saved, expected["final_program"], "{name}: final program");
    let report = compiled.report.gepa.as_ref().unwrap();
    let result = &expected["result"];
    let candidates: Vec<Value> =
        report.candidates.iter().map(|c| json!({ attribute: c.instructions.values().next().unwrap() })).collect();
    assert_eq!(Value::from(candidates), result["candidates"], "{name}: candidates");
    let parents = serde_json::to_value(report.parents()).unwrap();
    assert_eq!(parents, result["parents"], "{name}: parents");
    assert_eq!(serde_json::to_value(report.val_aggregate_scores()).unwrap(), result["val_aggregate_scores"]);
    let subscores: Vec<Value> = report
        .candidates
        .iter()
        .map(|c| Value::Object(c.val_subscores.iter().enumerate().map(|(k, s)| (k.to_string(), json!(s))).collect()))
        .collect();
    assert_eq!(Value::from(subscores), result["val_subscores"], "{name}: val_subscores");
    let discovery: Vec<usize> = report.candidates.iter().map(|c| c.discovered_at_metric_calls).collect();
    assert_eq!(json!(discovery), result["discovery_eval_counts"], "{name}: discovery_eval_counts");
    assert_eq!(json!(report.best_idx), result["best_idx"], "{name}: best_idx");
    assert_eq!(json!(report.total_metric_calls), result["total_metric_calls"], "{name}: total_metric_calls");
    assert_eq!(json!(report.num_full_val_evals), result["num_full_val_evals"], "{name}: num_full_val_evals");
}

#[tokio::test]
async fn every_optimizer_call_fixture_replays() {
    let cases = fixtures("optimizer_call", Some("chat"));
    let pending = pending();
    let mut ran = 0;
    for (name, case) in &cases {
        if let Some(p) = pending.iter().find(|p| p.holds(case)) {
            report_skipped(name, p);
            continue;
        }
        match case["optimizer"]["name"].as_str().unwrap() {
            "COPRO" => run_copro(name, case).await,
            "GroundedProposer" => grounded_proposer::run(name, case).await,
            "GEPA" => run_gepa(name, case).await,
            "SIMBA" => simba::run(name, case).await,
            "KNNFewShot" => knn_fewshot::run(name, case).await,
            other => panic!("{name}: no runner for optimizer {other}, and it is not in testdata/fixtures-pending.txt"),
        }
        ran += 1;
    }
    assert!(ran > 0, "no optimizer_call case ran");
}
