//! SIMBA's rule prompt: DSPy 3.4.1's `OfferFeedback` signature from
//! `simba_utils` (instructions and field descriptions are DSPy's wire
//! format, byte for byte — the prompt must equal DSPy's) and the inputs
//! `append_a_rule` builds from a better and a worse trajectory (everything
//! but text as `orjson.dumps(..., OPT_INDENT_2)` writes it).

use kestrel_core::{FieldSpec, FieldType, SignatureSpec};
use serde::Serialize;

use crate::error::OptimizerError;

/// The output field holding the advice per module.
pub(crate) const MODULE_ADVICE: &str = "module_advice";

const INSTRUCTIONS: &str = "You will be given two trajectories of an LLM-driven program's execution. Your goal is to \
help the program's modules\nbuild up experience on how to maximize the reward value assigned to the program's outputs \
if it were to receive\nsimilar inputs in the future.\n\nThe module won't see its own history. It will rely on your \
advice balancing being concrete and being generalizable.\n\nIn your advice:\n- Avoid boilerplate. Offer advice that \
would change the module's behavior for the better in the future.\n- Ensure that advice offered to a module M is \
specific to that M's specific sub-task, not the overall program.\n- Rely on contrasting the behavior of the worse \
trajectory against the better trajectory in making recommendations.\n- Ensure each unique module name appears \
exactly once as a key in the advice dictionary.";

const TRAJECTORY: &str = "The trajectory of the program's execution, showing each module's I/O";
const OUTPUTS: &str = "The outputs of the program that we are analyzing";
const REWARD_VALUE: &str = "The reward value assigned to the program's outputs";
const REWARD_INFO: &str = "Additional information that might be helpful to understanding the assigned reward value.";

/// DSPy's `OfferFeedback` (SIMBA's, not Refine's).
pub(crate) fn offer_feedback_signature() -> Result<SignatureSpec, OptimizerError> {
    let input = |name: &str, ty: FieldType, desc: &str| FieldSpec::input(name, ty).with_desc(desc);
    let fields = vec![
        input("program_code", FieldType::Str, "The code of the program that we are analyzing"),
        input("modules_defn", FieldType::Str, "The definition of each module in the program, including its I/O"),
        input("program_inputs", FieldType::Str, "The inputs to the program that we are analyzing"),
        input(
            "oracle_metadata",
            FieldType::Str,
            "Any (hidden) metadata about the training set instance we're analyzing",
        ),
        input("worse_program_trajectory", FieldType::Str, TRAJECTORY),
        input("worse_program_outputs", FieldType::Str, OUTPUTS),
        input("worse_reward_value", FieldType::Float, REWARD_VALUE),
        input("worse_reward_info", FieldType::Str, REWARD_INFO),
        input("better_program_trajectory", FieldType::Str, TRAJECTORY),
        input("better_program_outputs", FieldType::Str, OUTPUTS),
        input("better_reward_value", FieldType::Float, REWARD_VALUE),
        input("better_reward_info", FieldType::Str, REWARD_INFO),
        input(
            "module_names",
            FieldType::List(Box::new(FieldType::Str)),
            "The names of the modules in the program, for which we seek advice",
        ),
        FieldSpec::output("discussion", FieldType::Str)
            .with_desc("Discussing blame of where each module went wrong, if it did"),
        FieldSpec::output(MODULE_ADVICE, FieldType::Dict(Box::new(FieldType::Str), Box::new(FieldType::Str)))
            .with_desc(
                "For each module, describe very concretely: If the module receives ${description of input or patterns \
             therein}, then it should ${description of content, behavior, or strategies to adopt and/or others to \
             avoid}. Basically, your advice be such that if the module has access to your tip, it would be much more \
             likely to act like the successful trajectory rather than the lower-scoring trajectory.",
            ),
    ];
    Ok(SignatureSpec::new(fields, Some(INSTRUCTIONS.to_string())).map_err(kestrel_modules::ModuleError::from)?)
}

/// `orjson.dumps(value, option=OPT_INDENT_2)`: two-space indent, `": "`
/// after keys, floats as Python writes them (`1.0`), non-ASCII as is.
pub(crate) fn indent_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("<non-serializable: {e}>"))
}
