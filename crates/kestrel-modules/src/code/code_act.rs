//! [`CodeAct`]: DSPy's `dspy.CodeAct`. Each turn a `codeact` predictor
//! writes a Python snippet (and says whether it is `finished`); the snippet
//! runs in one [`PythonSandbox`] session for the whole call, where the
//! [`Tool`]s are Python functions; its output or error joins the
//! trajectory; after `finished` or `max_iters` turns an `extractor` chain of
//! thought produces the outputs from the trajectory (dropping its oldest
//! entries if the prompt overflows the context window). Prompts are DSPy
//! 3.4.1's.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use kestrel_core::adapter::{format_user_message_content, python_json_dumps};
use kestrel_core::signature::is_identifier;
use kestrel_core::{
    Dynamic, Example, FieldSpec, FieldType, Fields, Prediction, Signature, SignatureSpec, SignatureTypes, Usage,
};
use kestrel_lm::{CallConfig, LmError, SharedLm};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::CodeError;
use super::parse::parse_code;
use super::sandbox::{PythonSandbox, SandboxLimits};
use crate::chain_of_thought::ChainOfThought;
use crate::error::ModuleError;
use crate::module::Module;
use crate::predict::{Predict, output_from_prediction};
use crate::predictor::{Predictor, Predictors, join_path};
use crate::react_format::extract_signature;
use crate::tool::Tool;

/// DSPy's default number of turns.
pub const DEFAULT_MAX_ITERS: usize = 5;

/// The output of a [`CodeAct`]: the trajectory (DSPy's flat dict:
/// `generated_code_i`, `code_output_i`, `observation_i`), the extraction's
/// reasoning, and the signature's outputs (reachable through `Deref`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithCodeTrajectory<O> {
    /// Every turn's code and its output or error.
    pub trajectory: Map<String, Value>,
    /// The extraction step's reasoning.
    pub reasoning: String,
    /// The signature's outputs.
    #[serde(flatten)]
    pub output: O,
}

impl<O> Deref for WithCodeTrajectory<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.output
    }
}

impl<O> DerefMut for WithCodeTrajectory<O> {
    fn deref_mut(&mut self) -> &mut O {
        &mut self.output
    }
}

/// An agent that acts by writing Python which may call its tools (DSPy's
/// `CodeAct`).
///
/// Its predictors are `codeact` (a [`Predict`]: the inputs and `trajectory`
/// to `generated_code` and `finished`) and `extractor` (a
/// [`ChainOfThought`] over the signature plus `trajectory`), so their paths
/// are `codeact` and `extractor.predict`, as in DSPy.
///
/// Difference from DSPy: DSPy copies each tool's Python source into its
/// interpreter; here a tool is an async Rust function, and a call from the
/// code suspends the interpreter, runs the tool on the host and resumes
/// with its result (a failing tool raises `RuntimeError` in the code).
pub struct CodeAct<S: SignatureTypes = Dynamic> {
    /// Writes each turn's code.
    pub codeact: Predict,
    /// Produces the outputs from the trajectory.
    pub extractor: ChainOfThought,
    tools: Arc<[Tool]>,
    max_iters: usize,
    limits: SandboxLimits,
    _types: PhantomData<fn() -> S>,
}

impl<S: SignatureTypes> Clone for CodeAct<S> {
    fn clone(&self) -> Self {
        Self {
            codeact: self.codeact.clone(),
            extractor: self.extractor.clone(),
            tools: Arc::clone(&self.tools),
            max_iters: self.max_iters,
            limits: self.limits.clone(),
            _types: PhantomData,
        }
    }
}

impl<S: SignatureTypes> std::fmt::Debug for CodeAct<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeAct")
            .field("codeact", &self.codeact)
            .field("tools", &self.tools.iter().map(Tool::name).collect::<Vec<_>>())
            .field("max_iters", &self.max_iters)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// DSPy's `_build_instructions`, word for word.
fn instructions(signature: &SignatureSpec, tools: &[Tool]) -> String {
    let names = |fields: &mut dyn Iterator<Item = &FieldSpec>| {
        fields.map(|f| format!("`{}`", f.name)).collect::<Vec<_>>().join(", ")
    };
    let inputs = names(&mut signature.input_fields());
    let outputs = names(&mut signature.output_fields());
    let mut lines = Vec::with_capacity(tools.len() + 2);
    if !signature.instructions().is_empty() {
        lines.push(format!("{}\n", signature.instructions()));
    }
    lines.push(format!(
        "You are an intelligent agent. For each episode, you will receive the fields {inputs} as input.\n\
         Your goal is to generate executable Python code that collects any necessary information for producing {outputs}.\n\
         For each iteration, you will generate a code snippet that either solves the task or progresses towards the solution.\n\
         Ensure any output you wish to extract from the code is printed to the console. The code should be enclosed in a fenced code block.\n\
         When all information for producing the outputs ({outputs}) are available to be extracted, mark `finished=True` besides the final Python code.\n\
         You have access to the Python Standard Library and the following functions:"
    ));
    for (i, tool) in tools.iter().enumerate() {
        lines.push(format!("({}) {tool}", i + 1));
    }
    lines.join("\n")
}

fn codeact_signature(signature: &SignatureSpec, tools: &[Tool]) -> Result<SignatureSpec, ModuleError> {
    let inputs: Vec<FieldSpec> = signature.input_fields().cloned().collect();
    Ok(SignatureSpec::new(inputs, Some(instructions(signature, tools)))?
        .append(FieldSpec::input("trajectory", FieldType::Str))?
        .append(
            FieldSpec::output("generated_code", FieldType::Str)
                .with_desc("Python code that when executed, produces output relevant to answering the question"),
        )?
        .append(
            FieldSpec::output("finished", FieldType::Bool)
                .with_desc("a boolean flag to determine if the process is done"),
        )?)
}

impl<S: Signature> CodeAct<S> {
    /// An agent for the typed signature `S` with these tools.
    pub fn new(tools: impl IntoIterator<Item = Tool>) -> Result<Self, ModuleError> {
        Self::build(&S::spec(), tools)
    }
}

impl CodeAct<Dynamic> {
    /// An agent from DSPy's string syntax (`"question -> answer"`).
    pub fn from_signature(text: &str, tools: impl IntoIterator<Item = Tool>) -> Result<Self, ModuleError> {
        Self::build(&SignatureSpec::parse(text)?, tools)
    }

    /// An agent over a runtime signature.
    pub fn with_spec(signature: SignatureSpec, tools: impl IntoIterator<Item = Tool>) -> Result<Self, ModuleError> {
        Self::build(&signature, tools)
    }
}

impl<S: SignatureTypes> CodeAct<S> {
    fn build(signature: &SignatureSpec, tools: impl IntoIterator<Item = Tool>) -> Result<Self, ModuleError> {
        let mut list: Vec<Tool> = Vec::new();
        for tool in tools {
            let name = tool.name();
            let problem = if name == super::worker::SUBMIT {
                Some(format!("`{name}` is the sandbox's own function; give the tool another name"))
            } else if !is_identifier(name) {
                Some(format!("tool `{name}` cannot be called from Python: its name is not an identifier"))
            } else if list.iter().any(|t| t.name() == name) {
                Some(format!("two tools are named `{name}`"))
            } else {
                None
            };
            if let Some(message) = problem {
                return Err(ModuleError::Module { module: "CodeAct".into(), message });
            }
            list.push(tool);
        }
        let codeact = Predict::from_spec(codeact_signature(signature, &list)?);
        let extract_spec = extract_signature(signature)?;
        let extractor = if extract_spec.field("reasoning").is_some() {
            ChainOfThought { predict: Predict::from_spec(extract_spec) }
        } else {
            ChainOfThought::with_spec(extract_spec)?
        };
        Ok(Self {
            codeact,
            extractor,
            tools: list.into(),
            max_iters: DEFAULT_MAX_ITERS,
            limits: SandboxLimits::default(),
            _types: PhantomData,
        })
    }

    /// Builder: the most turns before extraction (DSPy's default is 5).
    pub fn max_iters(mut self, max_iters: usize) -> Self {
        self.max_iters = max_iters;
        self
    }

    /// Builder: the sandbox limits of every snippet.
    pub fn limits(mut self, limits: SandboxLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Builder: use this LM for both predictors.
    pub fn lm(mut self, lm: impl Into<SharedLm>) -> Self {
        let lm = lm.into();
        self.codeact.set_lm(Some(lm.clone()));
        self.extractor.predict.set_lm(Some(lm));
        self
    }

    /// The tools.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Run on an [`Example`] of inputs. The prediction holds `trajectory`,
    /// `reasoning` and the outputs, and the usage of every LM call. A
    /// `max_iters` input that is not a signature field overrides the turn
    /// limit for this call, as DSPy's `act(..., max_iters=2)`.
    pub async fn forward_example(
        &self,
        inputs: &Example,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        let mut inputs = inputs.clone();
        let mut max_iters = self.max_iters;
        if self.codeact.signature_spec().field("max_iters").is_none()
            && let Some(n) = inputs.get("max_iters").and_then(Value::as_u64)
        {
            max_iters = usize::try_from(n).unwrap_or(usize::MAX);
            inputs.remove("max_iters");
        }
        let mut sandbox = PythonSandbox::with_limits(self.limits.clone()).map_err(|error| ModuleError::Code {
            module: "CodeAct",
            attempts: 0,
            error,
        })?;
        let mut trajectory = Map::new();
        let mut usage = Usage::default();
        for idx in 0..max_iters {
            let mut call_inputs = inputs.clone();
            call_inputs.insert("trajectory", Value::String(python_json_dumps(&Value::Object(trajectory.clone()))));
            let step = self.codeact.forward_example(&call_inputs, overrides).await?;
            usage += step.usage();
            let generated = match step.get("generated_code") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let code = match parse_code(&generated) {
                Ok(code) => code,
                Err((_, error)) => {
                    trajectory.insert(
                        format!("observation_{idx}"),
                        format!("Failed to parse the generated code: {error}").into(),
                    );
                    continue;
                }
            };
            trajectory.insert(format!("generated_code_{idx}"), Value::String(code.clone()));
            match sandbox.execute(&code, &self.tools).await {
                Ok(execution) => {
                    trajectory.insert(format!("code_output_{idx}"), python_json_dumps(&execution.output()).into());
                }
                Err(error @ CodeError::Unavailable { .. }) => {
                    return Err(ModuleError::Code { module: "CodeAct", attempts: idx + 1, error });
                }
                Err(error) => {
                    trajectory.insert(
                        format!("observation_{idx}"),
                        format!("Failed to execute the generated code: {error}").into(),
                    );
                }
            }
            if step.get("finished").and_then(Value::as_bool) == Some(true) {
                break;
            }
        }
        let extracted = self.extract_truncating(&inputs, &mut trajectory, overrides).await?;
        usage += extracted.usage();
        let mut fields = Fields::with_capacity(extracted.fields().len() + 1);
        fields.insert("trajectory".into(), Value::Object(trajectory));
        fields.extend(extracted.into_fields());
        Ok(Prediction::new(fields).with_usage(usage))
    }
}

impl<S: SignatureTypes> CodeAct<S> {
    /// Call the extractor; when the prompt overflows the context window, drop
    /// the trajectory's oldest four entries and retry, three attempts in all
    /// (DSPy's `_call_with_potential_trajectory_truncation`, inherited from
    /// ReAct). The truncation is kept in the returned trajectory, as in DSPy.
    async fn extract_truncating(
        &self,
        inputs: &Example,
        trajectory: &mut Map<String, Value>,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        let mut model = String::new();
        for _ in 0..TRUNCATION_ATTEMPTS {
            let mut call_inputs = inputs.clone();
            call_inputs.insert("trajectory", Value::String(render(trajectory)));
            match self.extractor.forward_example(&call_inputs, overrides).await {
                Err(ModuleError::Lm(LmError::ContextWindowExceeded { model: m, .. })) => {
                    tracing::warn!(
                        "Trajectory exceeded the context window, truncating the oldest tool call information."
                    );
                    if trajectory.len() <= KEYS_PER_STEP {
                        return Err(context_window(
                            m,
                            "The trajectory is too long so your prompt exceeded the context window, but the trajectory \
                             cannot be truncated because it only has one tool call.",
                        ));
                    }
                    *trajectory = std::mem::take(trajectory).into_iter().skip(KEYS_PER_STEP).collect();
                    model = m;
                }
                other => return other,
            }
        }
        Err(context_window(model, "The context window was exceeded even after 3 attempts to truncate the trajectory."))
    }
}

/// Attempts at an extraction whose prompt overflows the context window.
const TRUNCATION_ATTEMPTS: usize = 3;

/// Entries DSPy's `truncate_trajectory` drops at a time (ReAct's four per
/// step, applied as is to CodeAct's trajectory).
const KEYS_PER_STEP: usize = 4;

fn context_window(model: String, message: &str) -> ModuleError {
    ModuleError::Lm(LmError::ContextWindowExceeded { model, message: message.to_string() })
}

/// The trajectory as the extractor sees it: one `[[ ## key ## ]]` block per
/// entry (DSPy's `_format_trajectory`).
fn render(trajectory: &Map<String, Value>) -> String {
    if trajectory.is_empty() {
        return String::new();
    }
    let inputs: Vec<FieldSpec> = trajectory.keys().map(|k| FieldSpec::input(k.as_str(), FieldType::Str)).collect();
    let signature =
        SignatureSpec::new(inputs, Some(String::new())).and_then(|s| s.append(FieldSpec::output("x", FieldType::Str)));
    match signature {
        Ok(signature) => {
            let fields: Fields = trajectory.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            format_user_message_content(&signature, &Example::from_fields(fields))
        }
        // Keys are always identifiers.
        Err(_) => String::new(),
    }
}

impl<S: SignatureTypes> Predictors for CodeAct<S> {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        self.codeact.visit_predictors(&join_path(path, "codeact"), visit);
        self.extractor.visit_predictors(&join_path(path, "extractor"), visit);
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        self.codeact.visit_predictors_mut(&join_path(path, "codeact"), visit);
        self.extractor.visit_predictors_mut(&join_path(path, "extractor"), visit);
    }
}

impl<S: SignatureTypes> Module for CodeAct<S> {
    type Input = S::Input;
    type Output = WithCodeTrajectory<S::Output>;

    async fn forward(&self, input: S::Input) -> Result<Self::Output, ModuleError> {
        let inputs = Example::from_serialize(&input)?;
        let prediction = self.forward_example(&inputs, None).await?;
        output_from_prediction::<Self::Output>(prediction)
    }
}
