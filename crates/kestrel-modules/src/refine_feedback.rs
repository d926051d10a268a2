//! Refine's feedback step, worded as DSPy 3.4.1 words it: the
//! `OfferFeedback` signature, the module definitions text
//! (`inspect_modules`), and the inputs built from one attempt (JSON written
//! as `orjson.dumps(..., OPT_INDENT_2)` writes it).

use kestrel_core::adapter::{field_description_string, python_dedent, python_splitlines};
use kestrel_core::types::python_literal_repr;
use kestrel_core::{Example, FieldSpec, FieldType, Prediction, SignatureSpec};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::ModuleError;
use crate::predictor::{Predictors, PredictorsExt, leaf_path};
use crate::trace::Trace;

const OFFER_FEEDBACK_INSTRUCTIONS: &str =
    "In the discussion, assign blame to each module that contributed to the final reward being below the threshold, if
any. Then, prescribe concrete advice of how the module should act on its future input when we retry the process, if
it were to receive the same or similar inputs. If a module is not to blame, the advice should be N/A.
The module will not see its own history, so it needs to rely on entirely concrete and actionable advice from you
to avoid the same mistake on the same or similar inputs.";

/// DSPy's `OfferFeedback` signature.
pub(crate) fn offer_feedback_signature() -> Result<SignatureSpec, ModuleError> {
    let input = |name: &str, ty: FieldType, desc: &str| FieldSpec::input(name, ty).with_desc(desc);
    let str_dict = FieldType::Dict(Box::new(FieldType::Str), Box::new(FieldType::Str));
    let fields = vec![
        input("program_code", FieldType::Str, "The code of the program that we are analyzing"),
        input("modules_defn", FieldType::Str, "The definition of each module in the program, including its I/O"),
        input("program_inputs", FieldType::Str, "The inputs to the program that we are analyzing"),
        input(
            "program_trajectory",
            FieldType::Str,
            "The trajectory of the program's execution, showing each module's I/O",
        ),
        input("program_outputs", FieldType::Str, "The outputs of the program that we are analyzing"),
        input("reward_code", FieldType::Str, "The code of the reward function that we are analyzing"),
        input("target_threshold", FieldType::Float, "The target threshold for the reward function"),
        input("reward_value", FieldType::Float, "The reward value assigned to the program's outputs"),
        input(
            "module_names",
            FieldType::List(Box::new(FieldType::Str)),
            "The names of the modules in the program, for which we seek advice",
        ),
        FieldSpec::output("discussion", FieldType::Str)
            .with_desc("Discussing blame of where each module went wrong, if it did"),
        // "kind ofscenario": DSPy's text lacks the space; prompts must match.
        FieldSpec::output("advice", str_dict).with_desc(
            "For each module, describe very concretely, in this order: the specific scenarios in which it has made \
             mistakes in the past and what each mistake was, followed by what it should do differently in that kind \
             ofscenario in the future. If the module is not to blame, write N/A.",
        ),
    ];
    Ok(SignatureSpec::new(fields, Some(OFFER_FEEDBACK_INSTRUCTIONS.to_string()))?)
}

/// DSPy's `inspect_modules(program)`: per predictor, its path (`self` for
/// a bare predictor, as DSPy names it), input and output field lists and
/// instructions, between lines of 80 dashes. Refine's and SIMBA's feedback
/// prompts describe the program with it.
pub fn inspect_modules<P: Predictors + ?Sized>(program: &P) -> String {
    let separator = "-".repeat(80);
    let indented = |text: &str| {
        let mut out = String::new();
        for line in python_splitlines(text) {
            out.push_str("\n\t\t");
            out.push_str(line);
        }
        out
    };
    let mut parts: Vec<String> = vec![separator.clone()];
    program.visit_predictors("", &mut |name, predictor| {
        let signature = predictor.signature();
        parts.push(format!("Module {}", leaf_path(name)));
        parts.push("\n\tInput Fields:".into());
        parts.push(indented(&field_description_string(signature.input_fields())));
        parts.push("\tOutput Fields:".into());
        parts.push(indented(&field_description_string(signature.output_fields())));
        parts.push(format!("\tOriginal Instructions: {}", indented(&python_dedent(signature.instructions()))));
        parts.push(separator.clone());
    });
    parts.iter().map(|p| p.trim_matches('\n')).collect::<Vec<_>>().join("\n")
}

/// `orjson.dumps(value, option=OPT_INDENT_2)`: two-space indent, `": "`
/// after keys, non-ASCII as is.
fn indent_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("<non-serializable: {e}>"))
}

/// What one attempt tells the feedback step.
pub(crate) struct FeedbackCase<'a> {
    /// Refine's `program_code` text.
    pub program_code: &'a str,
    /// Refine's `reward_code` text.
    pub reward_code: &'a str,
    /// The call's inputs.
    pub inputs: &'a Example,
    /// The attempt's output.
    pub outputs: &'a Prediction,
    /// The attempt's predictor calls.
    pub trace: &'a Trace,
    /// The attempt's reward.
    pub reward: f64,
    /// Refine's threshold.
    pub threshold: f64,
}

/// The `OfferFeedback` inputs for one attempt of `program`: text as is,
/// everything else as indented JSON, as DSPy passes them.
pub(crate) fn feedback_inputs<P: Predictors + ?Sized>(program: &P, case: &FeedbackCase<'_>) -> Example {
    let trajectory: Vec<Value> = case
        .trace
        .iter()
        .map(|entry| {
            let name = program.path_of(entry.predictor).unwrap_or_else(|| entry.name.clone());
            json!({"module_name": name, "inputs": entry.inputs, "outputs": entry.outputs.fields()})
        })
        .collect();
    Example::from_pairs([
        ("program_code", Value::String(case.program_code.to_string())),
        ("modules_defn", Value::String(inspect_modules(program))),
        ("program_inputs", Value::String(indent_json(case.inputs))),
        ("program_trajectory", Value::String(indent_json(&trajectory))),
        ("program_outputs", Value::String(indent_json(case.outputs.fields()))),
        ("reward_code", Value::String(case.reward_code.to_string())),
        ("target_threshold", Value::String(indent_json(&case.threshold))),
        ("reward_value", Value::String(indent_json(&case.reward))),
        ("module_names", Value::String(indent_json(&program.predictor_paths()))),
    ])
}

/// The `advice` output as (module path, advice text) pairs, in order.
pub(crate) fn advice_of(prediction: &Prediction) -> Vec<(String, String)> {
    match prediction.get("advice") {
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
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChainOfThought;

    #[test]
    fn inspect_modules_matches_dspy_layout() {
        let cot = ChainOfThought::from_signature("question -> answer").unwrap();
        let dashes = "-".repeat(80);
        assert_eq!(
            inspect_modules(&cot),
            format!(
                "{dashes}\nModule predict\n\tInput Fields:\n\t\t1. `question` (str):\n\tOutput Fields:\n\t\t1. `reasoning` \
                 (str): \n\t\t2. `answer` (str):\n\tOriginal Instructions: \n\t\tGiven the fields `question`, produce the \
                 fields `answer`.\n{dashes}"
            )
        );
    }

    #[test]
    fn dedent_and_json_follow_python() {
        assert_eq!(python_dedent("  a\n    b\n\n  c"), "a\n  b\n\nc");
        assert_eq!(indent_json(&vec!["predict"]), "[\n  \"predict\"\n]");
        assert_eq!(indent_json(&1.0f64), "1.0");
        assert_eq!(offer_feedback_signature().unwrap().to_string().split(" -> ").nth(1), Some("discussion, advice"));
    }
}
