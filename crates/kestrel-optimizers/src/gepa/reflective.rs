//! GEPA's reflection: the reflective dataset of one predictor (DSPy's
//! `DspyAdapter.make_reflective_dataset`: per traced run, the predictor's
//! inputs, its generated outputs and the metric's feedback) and the
//! instruction proposal (DSPy's default `InstructionProposer`: a `Predict`
//! of `ProposeInstruction` through the JSON adapter, on the reflection LM).
//! The signature's instructions and field descriptions are DSPy's wire
//! format: the prompt must match DSPy's byte for byte.

use kestrel_core::{Example, FieldSpec, FieldType, PyRandom, SignatureSpec, TraceEntry};
use kestrel_eval::Metric;
use kestrel_lm::{AdapterChoice, SharedLm};
use kestrel_modules::{ModuleError, ModuleExt, Predict, PredictorsExt};
use serde_json::{Map, Value};

use super::rollout::Rollout;
use crate::error::OptimizerError;

/// `ProposeInstruction`'s docstring, as DSPy 3.4.1's signature holds it.
const PROPOSE_INSTRUCTIONS: &str = "I provided an assistant with instructions to perform a task for me. You are \
given those instructions, along with examples of different task inputs provided to the assistant, the assistant's \
response for each of them, and some feedback on how the assistant's response could be better.\n\nYour task is to \
write a new instruction for the assistant.\n\nRead the inputs carefully and identify the input format and infer \
detailed task description about the task I wish to solve with the assistant.\n\nRead all the assistant responses \
and the corresponding feedback. Identify all niche and domain specific factual information about the task and \
include it in the instruction, as a lot of it may not be available to the assistant in the future. The assistant \
may have utilized a generalizable strategy to solve the task, if so, include that in the instruction as well.";

/// The proposal's output field.
const NEW_INSTRUCTION: &str = "new_instruction";

/// `current_instruction, examples_with_feedback -> new_instruction`.
pub(crate) fn propose_instruction_signature() -> Result<SignatureSpec, OptimizerError> {
    let list_of_dicts: FieldType =
        "list[dict[str, Any]]".parse().map_err(|e: kestrel_core::CoreError| ModuleError::from(e))?;
    let fields = vec![
        FieldSpec::input("current_instruction", FieldType::Str)
            .with_desc("The instructions I provided to the assistant."),
        FieldSpec::input("examples_with_feedback", list_of_dicts).with_desc(
            "Task inputs provided to the assistant, the assistant's response for each, and feedback on how the \
             response could be better.",
        ),
        FieldSpec::output(NEW_INSTRUCTION, FieldType::Str).with_desc("The new instruction for the assistant."),
    ];
    Ok(SignatureSpec::new(fields, Some(PROPOSE_INSTRUCTIONS.to_string())).map_err(ModuleError::from)?)
}

/// A JSON object of a record's fields.
fn object(fields: impl IntoIterator<Item = (String, Value)>) -> Value {
    Value::Object(fields.into_iter().collect::<Map<String, Value>>())
}

/// The reflective dataset of predictor `name` over a traced batch: for each
/// run whose trace holds a call of it, one call (`rng.choice`, as DSPy,
/// even of one) with its inputs, outputs and the metric's feedback for that
/// predictor (`score_with_feedback` with the whole trace, the predictor's
/// name and that call; DSPy's default text when it gives none). Runs that
/// failed have no trace and are left out.
pub(crate) async fn reflective_dataset<M: PredictorsExt>(
    program: &M,
    name: &str,
    batch: &[&Example],
    rollouts: &[Rollout],
    metric: &dyn Metric,
    rng: &mut PyRandom,
) -> Result<Vec<Value>, OptimizerError> {
    let mut items = Vec::new();
    for (example, rollout) in batch.iter().zip(rollouts) {
        let (Some(trace), Some(prediction)) = (&rollout.trace, &rollout.prediction) else { continue };
        let instances: Vec<&TraceEntry> =
            trace.iter().filter(|e| program.path_of(e.predictor).as_deref() == Some(name)).collect();
        let Some(&selected) = rng.choice(&instances) else { continue };
        let pred_trace = vec![selected.clone()];
        let feedback = metric
            .score_with_feedback(example, prediction, Some(trace), Some(name), Some(&pred_trace))
            .await
            .map_err(OptimizerError::Eval)?;
        let inputs = object(selected.inputs.fields().iter().map(|(k, v)| (k.clone(), v.clone())));
        let outputs = object(selected.outputs.fields().iter().map(|(k, v)| (k.clone(), v.clone())));
        items.push(object([
            ("Inputs".to_string(), inputs),
            ("Generated Outputs".to_string(), outputs),
            ("Feedback".to_string(), Value::String(feedback.feedback_text())),
        ]));
    }
    Ok(items)
}

/// Ask the reflection LM (or the LM in scope) for a new instruction from the
/// current one and the reflective dataset; the reply is stripped, and an
/// empty one is an error, as in DSPy.
pub(crate) async fn propose(
    signature: &SignatureSpec,
    reflection_lm: Option<&SharedLm>,
    current: &str,
    dataset: Vec<Value>,
) -> Result<String, String> {
    let mut predict = Predict::with_spec(signature.clone()).adapter(AdapterChoice::Json);
    if let Some(lm) = reflection_lm {
        predict = predict.lm(lm.clone());
    }
    let inputs = Example::from_pairs([
        ("current_instruction", Value::String(current.to_string())),
        ("examples_with_feedback", Value::Array(dataset)),
    ]);
    let prediction = predict.call_example(&inputs).await.map_err(|e| e.to_string())?;
    let text = match prediction.get(NEW_INSTRUCTION) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let draft = text.trim();
    if draft.is_empty() {
        return Err("the reflection LM returned an empty instruction".into());
    }
    Ok(draft.to_string())
}
