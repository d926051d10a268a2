//! The two signatures COPRO's prompt model answers, as DSPy 3.4.1 defines
//! them (`BasicGenerateInstruction`, `GenerateInstructionGivenAttempts`).
//! Their instructions and field descriptions are DSPy's wire format: the
//! prompts must match DSPy's byte for byte.

use kestrel_core::{FieldSpec, FieldType, SignatureSpec};

use crate::error::OptimizerError;

/// Output field: the proposed instruction.
pub(crate) const PROPOSED_INSTRUCTION: &str = "proposed_instruction";
/// Output field: the proposed prefix of the predictor's last field.
pub(crate) const PROPOSED_PREFIX: &str = "proposed_prefix_for_output_field";

const BASIC_INSTRUCTIONS: &str = "You are an instruction optimizer for large language models. I will give you a \
``signature`` of fields (inputs and outputs) in English. Your task is to propose an instruction that will lead a \
good language model to perform the task well. Don't be afraid to be creative.";

const ATTEMPTS_INSTRUCTIONS: &str = "You are an instruction optimizer for large language models. I will give some \
task instructions I've tried, along with their corresponding validation scores. The instructions are arranged in \
increasing order based on their scores, where higher scores indicate better quality.\n\nYour task is to propose a \
new instruction that will lead a good language model to perform the task even better. Don't be afraid to be \
creative.";

fn outputs() -> [FieldSpec; 2] {
    [
        FieldSpec::output(PROPOSED_INSTRUCTION, FieldType::Str)
            .with_desc("The improved instructions for the language model"),
        FieldSpec::output(PROPOSED_PREFIX, FieldType::Str)
            .with_desc("The string at the end of the prompt, which will help the model start solving the task"),
    ]
}

/// `basic_instruction -> proposed_instruction, proposed_prefix_for_output_field`.
pub(crate) fn basic_generate_instruction() -> Result<SignatureSpec, OptimizerError> {
    let mut fields = vec![
        FieldSpec::input("basic_instruction", FieldType::Str).with_desc("The initial instructions before optimization"),
    ];
    fields.extend(outputs());
    Ok(SignatureSpec::new(fields, Some(BASIC_INSTRUCTIONS.to_string())).map_err(kestrel_modules::ModuleError::from)?)
}

/// `attempted_instructions -> proposed_instruction, proposed_prefix_for_output_field`.
pub(crate) fn generate_instruction_given_attempts() -> Result<SignatureSpec, OptimizerError> {
    let mut fields = vec![FieldSpec::input("attempted_instructions", FieldType::Str)];
    fields.extend(outputs());
    Ok(SignatureSpec::new(fields, Some(ATTEMPTS_INSTRUCTIONS.to_string()))
        .map_err(kestrel_modules::ModuleError::from)?)
}
