//! SIMBA's two ways to improve a program from one bucket (one example's
//! runs, best first), as DSPy 3.4.1's `simba_utils`:
//!
//! - [`append_a_demo`]: the best run's last call of each predictor becomes
//!   an `augmented` demo of that predictor (input values longer than
//!   `demo_input_field_maxlen` characters truncated) — skipped when the
//!   best score is at or below the batch's 10th percentile;
//! - [`append_a_rule`]: the prompt model compares the best and the worst
//!   run (DSPy's `OfferFeedback` prompt) and its advice per module is
//!   appended to that predictor's instructions after a blank line — skipped
//!   when the best score is at or below the 10th percentile or the worst at
//!   or above the 90th.
//!
//! A skipped strategy still yields a candidate (the source program, less
//! any dropped demos), as in DSPy; a failed one (the prompt model erred, the
//! best run has no prediction) yields none.

use std::collections::HashMap;

use kestrel_core::types::python_literal_repr;
use kestrel_core::{Example, Fields, PredictorId};
use kestrel_lm::{SharedLm, with_lm};
use kestrel_modules::{Module, ModuleExt, Predict, Predictor, inspect_modules, leaf_path};
use serde_json::{Map, Value, json};

use super::offer_feedback::{MODULE_ADVICE, indent_json, offer_feedback_signature};
use super::rollout::Outcome;

/// DSPy's marker after a truncated demo input.
const TRUNCATED: &str = "\n\t\t... <TRUNCATED FOR BREVITY>";

/// What a strategy reads besides the bucket and the candidate.
pub(crate) struct StrategyContext<'a> {
    /// Predictor path by id (DSPy's `predictor2name`).
    pub paths: &'a HashMap<PredictorId, String>,
    /// The batch's 10th and 90th percentile scores.
    pub p10: f64,
    pub p90: f64,
    /// The batch the bucket's runs were made on.
    pub batch: &'a [Example],
    /// The model writing rules (`None`: the LM in scope).
    pub prompt_model: Option<&'a SharedLm>,
    /// `program_code` of the rule prompt.
    pub program_code: &'a str,
    /// Longest demo input value kept whole (characters).
    pub demo_input_field_maxlen: usize,
}

/// DSPy's `append_a_demo`; `false` when skipped.
pub(crate) fn append_a_demo<M: Module>(bucket: &[Outcome], candidate: &mut M, ctx: &StrategyContext<'_>) -> bool {
    let Some(good) = bucket.first() else { return false };
    if good.score <= ctx.p10 {
        return false;
    }
    let mut by_path: Vec<(String, Example)> = Vec::new();
    for entry in &good.trace {
        let Some(path) = ctx.paths.get(&entry.predictor) else { continue };
        let mut fields = Fields::new();
        fields.insert("augmented".into(), Value::Bool(true));
        for (key, value) in entry.inputs.fields() {
            fields.insert(key.clone(), truncated(value, ctx.demo_input_field_maxlen));
        }
        fields.extend(entry.outputs.fields().iter().map(|(k, v)| (k.clone(), v.clone())));
        let demo = Example::from_fields(fields);
        // The last call of each predictor wins.
        match by_path.iter_mut().find(|(p, _)| p == path) {
            Some(slot) => slot.1 = demo,
            None => by_path.push((path.clone(), demo)),
        }
    }
    candidate.visit_predictors_mut("", &mut |path, predictor: &mut dyn Predictor| {
        if let Some((_, demo)) = by_path.iter().find(|(p, _)| p == path) {
            let mut demos = predictor.demos().to_vec();
            demos.push(demo.clone());
            predictor.set_demos(demos);
        }
    });
    true
}

/// An input value cut to `maxlen` characters of its text, with DSPy's
/// marker (`0` keeps everything, as DSPy's falsy limit).
fn truncated(value: &Value, maxlen: usize) -> Value {
    let text = match value {
        Value::String(s) => s.clone(),
        other => python_literal_repr(other),
    };
    if maxlen == 0 || text.chars().count() <= maxlen {
        return value.clone();
    }
    let kept: String = text.chars().take(maxlen).collect();
    Value::String(format!("{kept}{TRUNCATED}"))
}

/// One side of the comparison: a run, or DSPy's "N/A" stand-in.
struct Side {
    trajectory: Vec<Value>,
    outputs: Value,
    reward: Value,
    info: Value,
}

fn side(outcome: &Outcome, paths: &HashMap<PredictorId, String>, better: bool) -> Result<Side, String> {
    let trajectory = outcome
        .trace
        .iter()
        .filter_map(|entry| {
            let path = paths.get(&entry.predictor)?;
            Some(json!({"module_name": leaf_path(path), "inputs": entry.inputs, "outputs": entry.outputs.fields()}))
        })
        .collect();
    let outputs = match &outcome.prediction {
        Some(prediction) => serde_json::to_value(prediction.fields()).map_err(|e| e.to_string())?,
        // DSPy: `dict(None)` raises for the better run; the worse one is `{}`.
        None if better => return Err("the better trajectory has no prediction".into()),
        None => Value::Object(Map::new()),
    };
    Ok(Side { trajectory, outputs, reward: json!(outcome.score), info: Value::Object(outcome.metadata.clone()) })
}

/// DSPy's stand-in for the side that is not compared (its metric
/// metadata stays).
fn not_available(outcome: &Outcome) -> Side {
    Side {
        trajectory: Vec::new(),
        outputs: json!({"N/A": "Prediction not available"}),
        reward: Value::String("N/A".into()),
        info: Value::Object(outcome.metadata.clone()),
    }
}

/// A prompt value: text as is, anything else as indented JSON.
fn text_or_json(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.clone()),
        other => Value::String(indent_json(other)),
    }
}

/// DSPy's `append_a_rule`: `Ok(false)` when skipped, `Ok(true)` when the
/// prompt model was asked (its advice appended to the predictors it names).
pub(crate) async fn append_a_rule<M: Module>(
    bucket: &[Outcome],
    candidate: &mut M,
    ctx: &StrategyContext<'_>,
) -> Result<bool, String> {
    let (Some(good), Some(bad)) = (bucket.first(), bucket.last()) else { return Ok(false) };
    if good.score <= ctx.p10 || bad.score >= ctx.p90 {
        return Ok(false);
    }
    let example = ctx.batch.get(good.example).ok_or("bucket example out of range")?;
    // Equal scores: DSPy blanks the worse side when both are high, else
    // the better one.
    let tied = good.score <= bad.score;
    let better = if tied && good.score <= ctx.p90 { not_available(good) } else { side(good, ctx.paths, true)? };
    let worse = if tied && good.score > ctx.p90 { not_available(bad) } else { side(bad, ctx.paths, false)? };
    let mut module_names = Vec::new();
    candidate.visit_predictors("", &mut |path, _| module_names.push(leaf_path(path).to_string()));
    let inputs = Example::from_pairs([
        ("program_code", Value::String(ctx.program_code.to_string())),
        ("modules_defn", Value::String(inspect_modules(&*candidate))),
        ("program_inputs", Value::String(indent_json(example.inputs().fields()))),
        ("oracle_metadata", Value::String(indent_json(example.labels().fields()))),
        ("worse_program_trajectory", Value::String(indent_json(&worse.trajectory))),
        ("worse_program_outputs", text_or_json(&worse.outputs)),
        ("worse_reward_value", text_or_json(&worse.reward)),
        ("worse_reward_info", text_or_json(&worse.info)),
        ("better_program_trajectory", Value::String(indent_json(&better.trajectory))),
        ("better_program_outputs", text_or_json(&better.outputs)),
        ("better_reward_value", text_or_json(&better.reward)),
        ("better_reward_info", text_or_json(&better.info)),
        ("module_names", Value::String(indent_json(&module_names))),
    ]);
    let signature = offer_feedback_signature().map_err(|e| e.to_string())?;
    let advisor = Predict::with_spec(signature);
    let call = advisor.call_example(&inputs);
    let prediction = match ctx.prompt_model {
        Some(lm) => with_lm(lm.clone(), call).await,
        None => call.await,
    }
    .map_err(|e| e.to_string())?;
    let advice: Vec<(String, String)> = match prediction.get(MODULE_ADVICE) {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => python_literal_repr(other),
                };
                (k.clone(), text)
            })
            .collect(),
        _ => return Err(format!("the prompt model's `{MODULE_ADVICE}` is not a dict")),
    };
    candidate.visit_predictors_mut("", &mut |path, predictor: &mut dyn Predictor| {
        if let Some((_, text)) = advice.iter().find(|(name, _)| name == leaf_path(path)) {
            let instructions = format!("{}\n\n{text}", predictor.signature().instructions());
            predictor.set_instructions(instructions);
        }
    });
    Ok(true)
}
