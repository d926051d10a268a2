//! [`ProgramOfThought`]: DSPy's `dspy.ProgramOfThought`. A chain of thought
//! writes Python for the signature's inputs; the code runs in a
//! [`PythonSandbox`]; on an error a second chain of thought rewrites it from
//! the previous code and the error, up to `max_iters` attempts in all; a
//! third chain of thought answers from the final code and its output. The
//! signatures and instructions are DSPy 3.4.1's.

use std::marker::PhantomData;

use kestrel_core::adapter::python_json_dumps;
use kestrel_core::{Dynamic, Example, FieldSpec, FieldType, Prediction, Signature, SignatureSpec, SignatureTypes};
use kestrel_lm::{CallConfig, SharedLm};
use serde_json::Value;

use super::error::CodeError;
use super::parse::parse_code;
use super::sandbox::{PythonSandbox, SandboxLimits};
use crate::chain_of_thought::{ChainOfThought, WithReasoning};
use crate::error::ModuleError;
use crate::module::Module;
use crate::predict::output_from_prediction;
use crate::predictor::{Predictor, Predictors, join_path};

/// DSPy's default number of attempts.
pub const DEFAULT_MAX_ITERS: usize = 3;

const CODE_DESC: &str = "python code that answers the question";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Generate,
    Regenerate,
    Answer,
}

fn backticked<'a>(fields: impl Iterator<Item = &'a FieldSpec>) -> String {
    fields.map(|f| format!("`{}`", f.name)).collect::<Vec<_>>().join(", ")
}

/// The fields of one stage: the inputs, then the stage's own (DSPy's
/// `_generate_signature`).
fn stage_fields(signature: &SignatureSpec, mode: Mode) -> Result<SignatureSpec, ModuleError> {
    let inputs: Vec<FieldSpec> = signature.input_fields().cloned().collect();
    let mut spec = SignatureSpec::new(inputs, Some(String::new()))?;
    let generated = FieldSpec::output("generated_code", FieldType::Str).with_desc(CODE_DESC);
    match mode {
        Mode::Generate => spec = spec.append(generated)?,
        Mode::Regenerate => {
            spec = spec
                .append(
                    FieldSpec::input("previous_code", FieldType::Str)
                        .with_desc("previously-generated python code that errored"),
                )?
                .append(
                    FieldSpec::input("error", FieldType::Str)
                        .with_desc("error message from previously-generated python code"),
                )?
                .append(generated)?;
        }
        Mode::Answer => {
            spec = spec.append(FieldSpec::input("final_generated_code", FieldType::Str).with_desc(CODE_DESC))?.append(
                FieldSpec::input("code_output", FieldType::Str).with_desc("output of previously-generated python code"),
            )?;
            for field in signature.output_fields() {
                spec = spec.append(field.clone())?;
            }
        }
    }
    Ok(spec)
}

/// DSPy's `_generate_instruction`, word for word.
fn stage_instructions(signature: &SignatureSpec, stage: &SignatureSpec, mode: Mode) -> String {
    let inputs = backticked(stage.input_fields());
    let outputs = backticked(stage.output_fields());
    let finals = backticked(signature.output_fields());
    match mode {
        Mode::Generate => [
            format!("You will be given {inputs} and you will respond with {outputs}."),
            format!("Generating executable Python code that programmatically computes the correct {outputs}."),
            "After you're done with the computation and think you have the final output, make sure to submit your output by calling the preloaded function `SUBMIT()`.".to_string(),
            format!("You must structure your output in a dict, like {{\"field_a\": value_a, ...}}, with the correct value mapping for the field(s): {finals}."),
        ]
        .join("\n"),
        Mode::Regenerate => [
            format!("You are given {inputs} due to an error in previous code."),
            "Your task is to correct the error and provide the new `generated_code`.".to_string(),
        ]
        .join("\n"),
        Mode::Answer => format!("Given the final code {inputs}, provide the final {outputs}."),
    }
}

fn stage(signature: &SignatureSpec, mode: Mode) -> Result<ChainOfThought, ModuleError> {
    let fields = stage_fields(signature, mode)?;
    let instructions = stage_instructions(signature, &fields, mode);
    ChainOfThought::with_spec(fields.with_instructions(instructions))
}

/// Runs model-written Python to solve a problem (DSPy's `ProgramOfThought`).
///
/// Its predictors are `code_generate.predict`, `code_regenerate.predict`
/// and `generate_output.predict`, as in DSPy. Each call gets a fresh
/// [`PythonSandbox`] with [`ProgramOfThought::limits`]. The code's output is
/// DSPy's: the value given to `SUBMIT(...)` (as `{"output": ...}`), else the
/// last expression's value, else what it printed, as JSON.
///
/// When the code still fails after `max_iters` attempts the call fails with
/// [`ModuleError::Code`] holding the last [`CodeError`].
pub struct ProgramOfThought<S: SignatureTypes = Dynamic> {
    /// Writes the first program.
    pub code_generate: ChainOfThought,
    /// Rewrites a program that failed, from its code and error.
    pub code_regenerate: ChainOfThought,
    /// Answers from the final program and its output.
    pub generate_output: ChainOfThought,
    max_iters: usize,
    limits: SandboxLimits,
    _types: PhantomData<fn() -> S>,
}

impl<S: SignatureTypes> Clone for ProgramOfThought<S> {
    fn clone(&self) -> Self {
        Self {
            code_generate: self.code_generate.clone(),
            code_regenerate: self.code_regenerate.clone(),
            generate_output: self.generate_output.clone(),
            max_iters: self.max_iters,
            limits: self.limits.clone(),
            _types: PhantomData,
        }
    }
}

impl<S: SignatureTypes> std::fmt::Debug for ProgramOfThought<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgramOfThought")
            .field("code_generate", &self.code_generate)
            .field("max_iters", &self.max_iters)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<S: Signature> ProgramOfThought<S> {
    /// For the typed signature `S`.
    pub fn new() -> Result<Self, ModuleError> {
        Self::build(&S::spec())
    }
}

impl ProgramOfThought<Dynamic> {
    /// From DSPy's string syntax (`"question -> answer"`).
    pub fn from_signature(text: &str) -> Result<Self, ModuleError> {
        Self::build(&SignatureSpec::parse(text)?)
    }

    /// Over a runtime signature.
    pub fn with_spec(signature: SignatureSpec) -> Result<Self, ModuleError> {
        Self::build(&signature)
    }
}

impl<S: SignatureTypes> ProgramOfThought<S> {
    fn build(signature: &SignatureSpec) -> Result<Self, ModuleError> {
        Ok(Self {
            code_generate: stage(signature, Mode::Generate)?,
            code_regenerate: stage(signature, Mode::Regenerate)?,
            generate_output: stage(signature, Mode::Answer)?,
            max_iters: DEFAULT_MAX_ITERS,
            limits: SandboxLimits::default(),
            _types: PhantomData,
        })
    }

    /// Builder: the most attempts at working code (DSPy's default is 3).
    pub fn max_iters(mut self, max_iters: usize) -> Self {
        self.max_iters = max_iters.max(1);
        self
    }

    /// Builder: the sandbox limits of every snippet.
    pub fn limits(mut self, limits: SandboxLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Builder: use this LM for the three predictors.
    pub fn lm(mut self, lm: impl Into<SharedLm>) -> Self {
        let lm = lm.into();
        for cot in [&mut self.code_generate, &mut self.code_regenerate, &mut self.generate_output] {
            cot.predict.set_lm(Some(lm.clone()));
        }
        self
    }

    /// Run on an [`Example`] of inputs. The prediction holds `reasoning` and
    /// the outputs (from `generate_output`) and the usage of every LM call.
    pub async fn forward_example(
        &self,
        inputs: &Example,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        let mut sandbox = PythonSandbox::with_limits(self.limits.clone()).map_err(|error| ModuleError::Code {
            module: "ProgramOfThought",
            attempts: 0,
            error,
        })?;
        let mut call_inputs = Example::default();
        for field in self.code_generate.predict.signature_spec().input_fields() {
            if let Some(value) = inputs.get(&field.name) {
                call_inputs.insert(field.name.as_str(), value.clone());
            }
        }
        let mut usage = kestrel_core::Usage::default();
        let generated = self.code_generate.forward_example(&call_inputs, overrides).await?;
        usage += generated.usage();
        let (mut code, mut result) = attempt(&mut sandbox, &generated).await?;
        let mut hop = 1;
        let output = loop {
            let error = match result {
                Ok(output) => break output,
                Err(error) => error,
            };
            tracing::warn!("Error in code execution: {error}");
            if hop >= self.max_iters {
                return Err(ModuleError::Code { module: "ProgramOfThought", attempts: hop, error });
            }
            call_inputs.insert("previous_code", Value::String(code.clone()));
            call_inputs.insert("error", Value::String(error.to_string()));
            let regenerated = self.code_regenerate.forward_example(&call_inputs, overrides).await?;
            usage += regenerated.usage();
            (code, result) = attempt(&mut sandbox, &regenerated).await?;
            hop += 1;
        };
        call_inputs.remove("previous_code");
        call_inputs.remove("error");
        call_inputs.insert("final_generated_code", Value::String(code));
        call_inputs.insert("code_output", Value::String(output));
        let answer = self.generate_output.forward_example(&call_inputs, overrides).await?;
        usage += answer.usage();
        Ok(answer.with_usage(usage))
    }
}

/// Parse a prediction's `generated_code` and run it: the code (as parsed, or
/// as given when unparsable) and its JSON output or error. Only an unusable
/// sandbox is an `Err` of the call itself.
pub(crate) async fn attempt(
    sandbox: &mut PythonSandbox,
    prediction: &Prediction,
) -> Result<(String, Result<String, CodeError>), ModuleError> {
    let generated = match prediction.get("generated_code") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let code = match parse_code(&generated) {
        Ok(code) => code,
        Err((code, message)) => return Ok((code, Err(CodeError::Unparsable { message }))),
    };
    match sandbox.execute(&code, &[]).await {
        Ok(execution) => Ok((code, Ok(python_json_dumps(&execution.output())))),
        Err(e @ CodeError::Unavailable { .. }) => {
            Err(ModuleError::Code { module: "ProgramOfThought", attempts: 0, error: e })
        }
        Err(e) => Ok((code, Err(e))),
    }
}

impl<S: SignatureTypes> Predictors for ProgramOfThought<S> {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        self.code_generate.visit_predictors(&join_path(path, "code_generate"), visit);
        self.code_regenerate.visit_predictors(&join_path(path, "code_regenerate"), visit);
        self.generate_output.visit_predictors(&join_path(path, "generate_output"), visit);
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        self.code_generate.visit_predictors_mut(&join_path(path, "code_generate"), visit);
        self.code_regenerate.visit_predictors_mut(&join_path(path, "code_regenerate"), visit);
        self.generate_output.visit_predictors_mut(&join_path(path, "generate_output"), visit);
    }
}

impl<S: SignatureTypes> Module for ProgramOfThought<S> {
    type Input = S::Input;
    type Output = WithReasoning<S::Output>;

    async fn forward(&self, input: S::Input) -> Result<Self::Output, ModuleError> {
        let inputs = Example::from_serialize(&input)?;
        let prediction = self.forward_example(&inputs, None).await?;
        output_from_prediction::<Self::Output>(prediction)
    }
}
