//! The simulated LM as SIMBA's prompt model: DSPy's SIMBA `OfferFeedback`
//! prompt (recognised by its output [`ADVICE_OUTPUT`] and its
//! `worse_program_trajectory` input) is answered as a careful model would,
//! by contrasting the two runs:
//!
//! - when the better run scored more than the worse one (rewards as numbers
//!   or, as DSPy writes a bool metric's, `true` / `false`), each module gets
//!   the [`RELEVANT`] fragment of every operation the problem
//!   (`program_inputs`) shows that the module's instructions (as
//!   `modules_defn` lists them) do not name yet, and [`STEP_BY_STEP`] when
//!   the problem has two or more operations and the instructions lack it —
//!   exactly what the task rules reward;
//! - otherwise (one side is "N/A", or nothing new to say) one
//!   [`IRRELEVANT`] fragment, picked by a SHA-256 of the request, which
//!   changes nothing.
//!
//! So SIMBA's rule strategy can learn the instruction rule of rule 2 from
//! the runs that disagree. The reply is a pure function of the request.

use kestrel_lm::LmRequest;
use serde_json::{Map, Value};

use super::problems::Operation;
use super::prompt::PromptView;
use super::propose::{IRRELEVANT, RELEVANT, STEP_BY_STEP, operations_in, request_digest};

/// The output field of SIMBA's `OfferFeedback`.
pub const ADVICE_OUTPUT: &str = "module_advice";

/// True when `view` is SIMBA's rule prompt.
pub fn is_advice(view: &PromptView) -> bool {
    view.outputs.iter().any(|f| f.name == ADVICE_OUTPUT) && view.input("worse_program_trajectory").is_some()
}

/// The instructions `modules_defn` shows for `module` (lower-cased).
fn instructions_of(modules_defn: &str, module: &str) -> String {
    let header = format!("Module {module}\n");
    let Some(start) = modules_defn.find(&header) else { return String::new() };
    let rest = &modules_defn[start..];
    let end = rest.find(&"-".repeat(80)).unwrap_or(rest.len());
    rest[..end].split("Original Instructions:").nth(1).unwrap_or("").to_lowercase()
}

/// The advice for one module.
fn advice(view: &PromptView, module: &str, request: &LmRequest) -> String {
    // DSPy writes a bool metric's rewards as JSON `true` / `false`.
    let reward = |name: &str| {
        view.input(name).and_then(|v| match v.trim() {
            "true" => Some(1.0),
            "false" => Some(0.0),
            other => other.parse::<f64>().ok(),
        })
    };
    let contrast = matches!((reward("better_reward_value"), reward("worse_reward_value")), (Some(b), Some(w)) if b > w);
    let current = instructions_of(view.input("modules_defn").unwrap_or(""), module);
    let mut added: Vec<&str> = Vec::new();
    if contrast {
        let problem = view.input("program_inputs").unwrap_or("").to_lowercase();
        let operations = operations_in(&problem);
        let named = operations_in(&current);
        for (i, op) in Operation::ALL.iter().enumerate() {
            if operations.contains(op) && !named.contains(op) {
                added.push(RELEVANT[1 + i]);
            }
        }
        if operations.len() >= 2 && !current.contains("step by step") {
            added.push(STEP_BY_STEP);
        }
    }
    if added.is_empty() {
        let digest = request_digest(request);
        let pick = usize::from(digest[0]) % IRRELEVANT.len();
        added.push(IRRELEVANT[pick]);
    }
    added.join(" ")
}

/// The reply's values: a short discussion and the advice per module.
pub fn answer(view: &PromptView, request: &LmRequest) -> Vec<(String, Value)> {
    let modules: Vec<String> =
        view.input("module_names").and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    let advice: Map<String, Value> =
        modules.iter().map(|m| (m.clone(), Value::String(advice(view, m, request)))).collect();
    view.outputs
        .iter()
        .map(|field| {
            let value = if field.name == ADVICE_OUTPUT {
                Value::Object(advice.clone())
            } else {
                Value::String("The worse trajectory missed what the problem asks; the better one did not.".into())
            };
            (field.name.clone(), value)
        })
        .collect()
}
