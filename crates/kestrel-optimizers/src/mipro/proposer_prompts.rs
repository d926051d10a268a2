//! The signatures MIPROv2's grounded proposer asks its prompt model to
//! answer, as DSPy 3.4.1 defines them (dspy/propose/grounded_proposer.py and
//! dataset_summary_generator.py): `DatasetDescriptor`,
//! `DatasetDescriptorWithPriorObservations`, `ObservationSummarizer`,
//! `DescribeProgram`, `DescribeModule` and `GenerateSingleModuleInstruction`.
//! Their instructions and field descriptions are DSPy's wire format: the
//! prompts must match DSPy's byte for byte (including its typos).

use kestrel_core::{FieldSpec, FieldType, SignatureSpec};

use crate::error::OptimizerError;

const DESCRIPTOR_INSTRUCTIONS: &str = "Given several examples from a dataset please write observations about trends \
that hold for most or all of the samples. Some areas you may consider in your observations: topics, content, syntax, \
conciseness, etc. It will be useful to make an educated guess as to the nature of the task this dataset will enable. \
Don't be afraid to be creative";

const DESCRIPTOR_WITH_PRIOR_INSTRUCTIONS: &str = "Given several examples from a dataset please write observations \
about trends that hold for most or all of the samples. I will also provide you with a few observations I have already \
made.  Please add your own observations or if you feel the observations are comprehensive say 'COMPLETE' Some areas \
you may consider in your observations: topics, content, syntax, conciceness, etc. It will be useful to make an \
educated guess as to the nature of the task this dataset will enable. Don't be afraid to be creative";

const SUMMARIZER_INSTRUCTIONS: &str = "Given a series of observations I have made about my dataset, please summarize \
them into a brief 2-3 sentence summary which highlights only the most important details.";

const DESCRIBE_PROGRAM_INSTRUCTIONS: &str = "Below is some pseudo-code for a pipeline that solves tasks with calls to \
language models. Please describe what type of task this program appears to be designed to solve, and how it appears \
to work.";

const DESCRIBE_MODULE_INSTRUCTIONS: &str = "Below is some pseudo-code for a pipeline that solves tasks with calls to \
language models. Please describe the purpose of one of the specified module in this pipeline.";

const GENERATE_INSTRUCTIONS: &str = "Use the information below to learn about a task that we are trying to solve \
using calls to an LM, then generate a new instruction that will be used to prompt a Language Model to better solve \
the task.";

const EXAMPLES_DESC: &str = "Sample data points from the dataset";
const PROGRAM_CODE_DESC: &str = "Pseudocode for a language model program designed to solve a particular task.";
const PROGRAM_EXAMPLE_DESC: &str = "An example of the program in use.";
const PROGRAM_SUMMARY_DESC: &str =
    "Summary of the task the program is designed to solve, and how it goes about solving it.";

fn input(name: &str, desc: &str) -> FieldSpec {
    FieldSpec::input(name, FieldType::Str).with_desc(desc)
}

fn output(name: &str, desc: &str) -> FieldSpec {
    FieldSpec::output(name, FieldType::Str).with_desc(desc)
}

fn spec(fields: Vec<FieldSpec>, instructions: &str) -> Result<SignatureSpec, OptimizerError> {
    Ok(SignatureSpec::new(fields, Some(instructions.to_string())).map_err(kestrel_modules::ModuleError::from)?)
}

/// `examples -> observations`.
pub(crate) fn dataset_descriptor() -> Result<SignatureSpec, OptimizerError> {
    spec(
        vec![
            input("examples", EXAMPLES_DESC),
            output("observations", "Somethings that holds true for most or all of the data you observed"),
        ],
        DESCRIPTOR_INSTRUCTIONS,
    )
}

/// `examples, prior_observations -> observations`.
pub(crate) fn dataset_descriptor_with_prior_observations() -> Result<SignatureSpec, OptimizerError> {
    spec(
        vec![
            input("examples", EXAMPLES_DESC),
            input("prior_observations", "Some prior observations I made about the data"),
            output(
                "observations",
                "Somethings that holds true for most or all of the data you observed or COMPLETE if you have nothing \
to add",
            ),
        ],
        DESCRIPTOR_WITH_PRIOR_INSTRUCTIONS,
    )
}

/// `observations -> summary`.
pub(crate) fn observation_summarizer() -> Result<SignatureSpec, OptimizerError> {
    spec(
        vec![
            input("observations", "Observations I have made about my dataset"),
            output(
                "summary",
                "Two to Three sentence summary of only the most significant highlights of my observations",
            ),
        ],
        SUMMARIZER_INSTRUCTIONS,
    )
}

/// `program_code, program_example -> program_description`.
pub(crate) fn describe_program() -> Result<SignatureSpec, OptimizerError> {
    spec(
        vec![
            input("program_code", PROGRAM_CODE_DESC),
            input("program_example", PROGRAM_EXAMPLE_DESC),
            output(
                "program_description",
                "Describe what task the program is designed to solve, and how it goes about solving this task.",
            ),
        ],
        DESCRIBE_PROGRAM_INSTRUCTIONS,
    )
}

/// `program_code, program_example, program_description, module -> module_description`.
pub(crate) fn describe_module() -> Result<SignatureSpec, OptimizerError> {
    spec(
        vec![
            input("program_code", PROGRAM_CODE_DESC),
            input("program_example", PROGRAM_EXAMPLE_DESC),
            input("program_description", PROGRAM_SUMMARY_DESC),
            input("module", "The module in the program that we want to describe."),
            output("module_description", "Description of the module's role in the broader program."),
        ],
        DESCRIBE_MODULE_INSTRUCTIONS,
    )
}

/// Which optional inputs `GenerateSingleModuleInstruction` has (DSPy builds
/// the class from these flags for every proposal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GenerateFields {
    pub dataset_description: bool,
    pub program: bool,
    pub tip: bool,
}

/// `[dataset_description,] [program_code, program_description, module,
/// module_description,] task_demos, basic_instruction, [tip] ->
/// proposed_instruction` (DSPy's instruction history input is never used by
/// MIPROv2 and is not built).
pub(crate) fn generate_single_module_instruction(with: GenerateFields) -> Result<SignatureSpec, OptimizerError> {
    let mut fields = Vec::with_capacity(9);
    if with.dataset_description {
        fields.push(input("dataset_description", "A description of the dataset that we are using."));
    }
    if with.program {
        fields.push(input("program_code", "Language model program designed to solve a particular task."));
        fields.push(input("program_description", PROGRAM_SUMMARY_DESC));
        fields.push(input("module", "The module to create an instruction for."));
        fields.push(input("module_description", "Description of the module to create an instruction for."));
    }
    fields.push(input("task_demos", "Example inputs/outputs of our module."));
    fields.push(input("basic_instruction", "Basic instruction."));
    if with.tip {
        fields.push(input("tip", "A suggestion for how to go about generating the new instruction."));
    }
    fields.push(output(
        "proposed_instruction",
        "Propose an instruction that will be used to prompt a Language Model to perform this task.",
    ));
    spec(fields, GENERATE_INSTRUCTIONS)
}
