//! ReAct with native function calling ([`crate::ReAct::native_function_calling`]):
//! each step sends the tools (and `finish`) through the provider's
//! tool-calling API instead of asking for `next_tool_name` /
//! `next_tool_args` in the text, and the first tool call of the reply
//! becomes the step's tool and arguments. The trajectory, the observations
//! and the extraction are those of text mode, so a run's trajectory has the
//! same keys and values whichever way the tool was chosen.
//!
//! The step's prompt is the `react` predictor's (its instructions, inputs,
//! `trajectory` and `next_thought`) without the two tool fields; its demos
//! and call options are the predictor's. A reply with no tool call is an
//! error naming the reply (text mode's parse failure); a reply with several
//! uses the first (one tool per step, as in text mode). The trace records
//! the step as text mode would (`next_tool_name`, `next_tool_args`), so
//! optimizers bootstrap the same demos.

use kestrel_core::{
    CustomType, Example, FieldSpec, FieldType, Fields, Io, Prediction, SignatureSpec, ToolCalls, TraceEntry,
};
use kestrel_lm::CallConfig;
use serde_json::Value;

use crate::error::ModuleError;
use crate::predict::Predict;
use crate::tool::Tool;
use crate::trace;

/// The input holding the tools, and the output receiving the calls.
const TOOLS: &str = "tools";
const CALLS: &str = "next_tool_calls";

/// One native step of the `react` predictor: a prediction with
/// `next_thought`, `next_tool_name` and `next_tool_args`, as text mode.
pub(crate) async fn step(
    react: &Predict,
    tools: &[Tool],
    inputs: &Example,
    overrides: Option<&CallConfig>,
) -> Result<Prediction, ModuleError> {
    let signature = native_signature(react.signature_spec())?;
    let mut call_inputs = inputs.clone();
    let specs: Vec<Value> = tools.iter().map(|t| serde_json::to_value(t.spec()).unwrap_or(Value::Null)).collect();
    call_inputs.insert(TOOLS, Value::Array(specs));
    let reply = react.forward_native(&signature, &call_inputs, overrides).await?;
    let calls = match reply.get(CALLS) {
        None | Some(Value::Null) => None,
        Some(value) => Some(ToolCalls::from_value(value)?),
    };
    let Some(call) = calls.and_then(|c| c.tool_calls.into_iter().next()) else {
        return Err(ModuleError::Module {
            module: "ReAct".into(),
            message: format!(
                "native function calling: the LM called no tool (its text: {:?})",
                reply.get("next_thought").and_then(Value::as_str).unwrap_or("")
            ),
        });
    };
    let mut fields = Fields::with_capacity(3);
    fields.insert("next_thought".into(), reply.get("next_thought").cloned().unwrap_or(Value::String(String::new())));
    fields.insert("next_tool_name".into(), Value::String(call.name));
    fields.insert("next_tool_args".into(), Value::Object(call.args));
    let usage = reply.usage();
    let prediction = Prediction::new(fields).with_usage(usage);
    trace::record(|| TraceEntry {
        predictor: react.predictor_id(),
        name: react.signature_spec().to_string(),
        inputs: inputs.clone(),
        outputs: prediction.clone(),
    });
    Ok(prediction)
}

/// The react signature with the tool fields replaced: `tools: list[Tool]`
/// in, `next_tool_calls: ToolCalls` out (both leave the prompt again when
/// the call goes native; the instructions stay).
fn native_signature(react: &SignatureSpec) -> Result<SignatureSpec, ModuleError> {
    let mut signature = react.clone();
    for name in ["next_tool_name", "next_tool_args"] {
        if signature.field(name).is_some() {
            signature = signature.delete(name)?;
        }
    }
    let tools = FieldSpec::new(TOOLS, Io::Input, FieldType::List(Box::new(FieldType::Custom(CustomType::Tool))));
    let calls = FieldSpec::new(CALLS, Io::Output, FieldType::Custom(CustomType::ToolCalls));
    Ok(signature.append(tools)?.append(calls)?)
}
