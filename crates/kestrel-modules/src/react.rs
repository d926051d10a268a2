//! [`ReAct`]: DSPy's tool-using agent. A `react` predictor picks the next
//! tool (or `finish`) from the inputs and the trajectory so far; the tool's
//! result (or its error) is appended as an observation; after `finish` or
//! `max_iters` turns an `extract` chain of thought produces the signature's
//! outputs from the whole trajectory.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use kestrel_core::{Dynamic, Example, Fields, Prediction, Signature, SignatureSpec, SignatureTypes, Usage};
use kestrel_lm::{CallConfig, LmError, SharedLm};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::chain_of_thought::ChainOfThought;
use crate::error::ModuleError;
use crate::module::Module;
use crate::predict::{Predict, output_from_prediction};
use crate::predictor::{Predictor, Predictors, join_path};
use crate::react_format::{FINISH, ToolStep, Trajectory, extract_signature, finish_tool, react_signature};
use crate::tool::Tool;

/// DSPy's default number of turns.
pub const DEFAULT_MAX_ITERS: usize = 20;

/// Attempts at a call whose prompt overflows the context window, each after
/// dropping the oldest step (DSPy's value).
const TRUNCATION_ATTEMPTS: usize = 3;

/// The output of a [`ReAct`]: the trajectory, the extraction's reasoning,
/// and the signature's outputs (reachable through `Deref`: `out.answer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithTrajectory<O> {
    /// Every turn the agent took.
    pub trajectory: Trajectory,
    /// The extraction step's reasoning.
    pub reasoning: String,
    /// The signature's outputs.
    #[serde(flatten)]
    pub output: O,
}

impl<O> Deref for WithTrajectory<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.output
    }
}

impl<O> DerefMut for WithTrajectory<O> {
    fn deref_mut(&mut self) -> &mut O {
        &mut self.output
    }
}

/// A tool-using agent over any signature (DSPy's `dspy.ReAct`).
///
/// Its predictors are `react` (a [`Predict`] whose signature has the inputs,
/// `trajectory`, and the outputs `next_thought`, `next_tool_name`,
/// `next_tool_args`) and `extract` (a [`ChainOfThought`] over the original
/// signature plus `trajectory`), so their paths are `react` and
/// `extract.predict`, as in DSPy.
///
/// A dynamic call ([`ReAct::forward_example`]) honours a `max_iters` input
/// that is not a signature field, as DSPy's `react(..., max_iters=2)`.
///
/// Only a context-window overflow ends the loop early. A reply that names a
/// tool that does not exist fails the chat parse and then the JSON fallback,
/// and that parse error is returned, as in DSPy 3.4.1 (whose
/// `AdapterParseError` is not the `ValueError` its ReAct catches).
pub struct ReAct<S: SignatureTypes = Dynamic> {
    /// Chooses the next tool and its arguments.
    pub react: Predict,
    /// Produces the outputs from the trajectory.
    pub extract: ChainOfThought,
    tools: Arc<[Tool]>,
    max_iters: usize,
    native_function_calling: bool,
    _types: PhantomData<fn() -> S>,
}

impl<S: SignatureTypes> Clone for ReAct<S> {
    fn clone(&self) -> Self {
        Self {
            react: self.react.clone(),
            extract: self.extract.clone(),
            tools: Arc::clone(&self.tools),
            max_iters: self.max_iters,
            native_function_calling: self.native_function_calling,
            _types: PhantomData,
        }
    }
}

impl<S: SignatureTypes> fmt::Debug for ReAct<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReAct")
            .field("react", &self.react)
            .field("extract", &self.extract)
            .field("tools", &self.tools.iter().map(Tool::name).collect::<Vec<_>>())
            .field("max_iters", &self.max_iters)
            .field("native_function_calling", &self.native_function_calling)
            .finish()
    }
}

impl<S: Signature> ReAct<S> {
    /// An agent for the typed signature `S` with these tools (`finish` is
    /// added). Fails on duplicate tool names or a tool named `finish`.
    pub fn new(tools: impl IntoIterator<Item = Tool>) -> Result<Self, ModuleError> {
        Self::build(S::spec(), tools)
    }
}

impl ReAct<Dynamic> {
    /// An agent from DSPy's string syntax (`"question -> answer"`).
    pub fn from_signature(text: &str, tools: impl IntoIterator<Item = Tool>) -> Result<Self, ModuleError> {
        Self::build(SignatureSpec::parse(text)?, tools)
    }

    /// An agent over a runtime signature.
    pub fn with_spec(signature: SignatureSpec, tools: impl IntoIterator<Item = Tool>) -> Result<Self, ModuleError> {
        Self::build(signature, tools)
    }
}

impl<S: SignatureTypes> ReAct<S> {
    fn build(signature: SignatureSpec, tools: impl IntoIterator<Item = Tool>) -> Result<Self, ModuleError> {
        let mut list: Vec<Tool> = Vec::new();
        for tool in tools {
            let problem = if tool.name() == FINISH {
                Some(format!("`{FINISH}` is ReAct's own tool; give yours another name"))
            } else if list.iter().any(|t| t.name() == tool.name()) {
                Some(format!("two tools are named `{}`", tool.name()))
            } else {
                None
            };
            if let Some(message) = problem {
                return Err(ModuleError::Module { module: "ReAct".into(), message });
            }
            list.push(tool);
        }
        list.push(finish_tool(&signature));
        let react = Predict::from_spec(react_signature(&signature, &list)?);
        let extract_spec = extract_signature(&signature)?;
        let extract = if extract_spec.field("reasoning").is_some() {
            ChainOfThought { predict: Predict::from_spec(extract_spec) }
        } else {
            ChainOfThought::with_spec(extract_spec)?
        };
        Ok(Self {
            react,
            extract,
            tools: list.into(),
            max_iters: DEFAULT_MAX_ITERS,
            native_function_calling: false,
            _types: PhantomData,
        })
    }

    /// Builder: the most turns before extraction (DSPy's default is 20).
    pub fn max_iters(mut self, max_iters: usize) -> Self {
        self.max_iters = max_iters;
        self
    }

    /// Builder: choose each step's tool through the provider's
    /// tool-calling API (DSPy's `use_native_function_calling`) rather than
    /// the `next_tool_name` / `next_tool_args` text fields. The trajectory
    /// is the same as in text mode (see `react_native.rs`). LMs without
    /// function calling fall back to text mode for every step.
    pub fn native_function_calling(mut self, on: bool) -> Self {
        self.native_function_calling = on;
        self
    }

    /// Builder: use this LM for both predictors rather than the one in scope.
    pub fn lm(mut self, lm: impl Into<SharedLm>) -> Self {
        let lm = lm.into();
        self.react.set_lm(Some(lm.clone()));
        self.extract.predict.set_lm(Some(lm));
        self
    }

    /// The tools, `finish` last.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// The configured number of turns (set with [`ReAct::max_iters`]).
    pub fn get_max_iters(&self) -> usize {
        self.max_iters
    }

    /// Run the agent on an [`Example`] of inputs. The prediction holds
    /// `trajectory` (DSPy's flat dict), `reasoning` and the outputs, and the
    /// usage of every LM call made.
    ///
    /// A `max_iters` input that is not a signature field overrides the turn
    /// limit for this call (DSPy's `react(..., max_iters=2)`). `overrides`
    /// apply to every call of both predictors, as [`Predict::forward_example`]'s
    /// (DSPy passes a call's `config=` through to them).
    pub async fn forward_example(
        &self,
        inputs: &Example,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        crate::observe::module_call("ReAct", inputs, self.forward_unobserved(inputs, overrides)).await
    }

    async fn forward_unobserved(
        &self,
        inputs: &Example,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        let mut inputs = inputs.clone();
        let mut max_iters = self.max_iters;
        if self.react.signature().field("max_iters").is_none()
            && let Some(n) = inputs.get("max_iters").and_then(Value::as_u64)
        {
            max_iters = usize::try_from(n).unwrap_or(usize::MAX);
            inputs.remove("max_iters");
        }
        self.run(&inputs, max_iters, overrides).await
    }

    async fn run(
        &self,
        inputs: &Example,
        max_iters: usize,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        let mut trajectory = Trajectory::default();
        let mut usage = Usage::default();
        for _ in 0..max_iters {
            let step = match self.call_truncating(Stage::React, &mut trajectory, inputs, overrides).await {
                Ok(p) => p,
                Err(e) if is_context_window(&e) => {
                    tracing::warn!("Ending the trajectory: {e}");
                    break;
                }
                Err(e) => return Err(e),
            };
            usage += step.usage();
            let tool_name = text_of(step.get("next_tool_name"));
            let tool_args = step.get("next_tool_args").cloned().unwrap_or_else(|| Value::Object(Map::new()));
            let result = match self.tools.iter().find(|t| t.name() == tool_name) {
                Some(tool) => {
                    crate::streaming::status::tool_start(&tool_name, &tool_args).await;
                    let result = tool.call_value(tool_args.clone()).await;
                    crate::streaming::status::tool_end(&tool_name, result.as_ref()).await;
                    result
                }
                None => Err(ModuleError::UnknownTool {
                    name: tool_name.clone(),
                    available: self.tools.iter().map(|t| t.name().to_string()).collect(),
                }),
            };
            let observation = result
                .unwrap_or_else(|e| Value::String(format!("Execution error in {tool_name}: {}", observation_text(&e))));
            let done = tool_name == FINISH;
            trajectory.push(ToolStep { thought: text_of(step.get("next_thought")), tool_name, tool_args, observation });
            if done {
                break;
            }
        }
        let extracted = self.call_truncating(Stage::Extract, &mut trajectory, inputs, overrides).await?;
        usage += extracted.usage();
        let mut fields = Fields::with_capacity(extracted.fields().len() + 1);
        fields.insert("trajectory".into(), Value::Object(trajectory.to_fields().into_iter().collect()));
        fields.extend(extracted.into_fields());
        Ok(Prediction::new(fields).with_usage(usage))
    }

    /// Call a predictor with the formatted trajectory; when the prompt
    /// overflows the context window, drop the oldest step and retry (DSPy's
    /// `_call_with_potential_trajectory_truncation`). Truncation is kept.
    async fn call_truncating(
        &self,
        stage: Stage,
        trajectory: &mut Trajectory,
        inputs: &Example,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        let mut model = String::new();
        for _ in 0..TRUNCATION_ATTEMPTS {
            let mut call_inputs = inputs.clone();
            call_inputs.insert("trajectory", Value::String(trajectory.render()));
            let result = match stage {
                Stage::React if self.native_function_calling && self.native_lm_ready() => {
                    crate::react_native::step(&self.react, &self.tools, &call_inputs, overrides).await
                }
                Stage::React => self.react.forward_example(&call_inputs, overrides).await,
                Stage::Extract => self.extract.forward_example(&call_inputs, overrides).await,
            };
            match result {
                Err(ModuleError::Lm(LmError::ContextWindowExceeded { model: m, .. })) => {
                    tracing::warn!(
                        "Trajectory exceeded the context window, truncating the oldest tool call information."
                    );
                    if !trajectory.truncate_oldest() {
                        return Err(context_window(
                            m,
                            "The trajectory is too long so your prompt exceeded the context window, but the trajectory \
                             cannot be truncated because it only has one tool call.",
                        ));
                    }
                    model = m;
                }
                other => return other,
            }
        }
        Err(context_window(model, "The context window was exceeded even after 3 attempts to truncate the trajectory."))
    }
}

impl<S: SignatureTypes> ReAct<S> {
    /// True when the LM the `react` step would use can call functions
    /// (otherwise native mode falls back to text mode).
    fn native_lm_ready(&self) -> bool {
        kestrel_lm::resolve_lm(Predictor::lm(&self.react)).is_ok_and(|lm| lm.capabilities().function_calling)
    }
}

#[derive(Clone, Copy)]
enum Stage {
    React,
    Extract,
}

fn context_window(model: String, message: &str) -> ModuleError {
    ModuleError::Lm(LmError::ContextWindowExceeded { model, message: message.to_string() })
}

fn is_context_window(e: &ModuleError) -> bool {
    matches!(e, ModuleError::Lm(LmError::ContextWindowExceeded { .. }))
}

/// What follows `Execution error in {tool}: ` in an observation.
fn observation_text(e: &ModuleError) -> String {
    match e {
        ModuleError::ToolArgs { message, .. } | ModuleError::ToolFailed { message, .. } => message.clone(),
        // Python's `str(KeyError(name))`.
        ModuleError::UnknownTool { name, .. } => kestrel_core::types::python_str_repr(name),
        other => other.to_string(),
    }
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => kestrel_core::types::python_literal_repr(other),
        None => String::new(),
    }
}

impl<S: SignatureTypes> Predictors for ReAct<S> {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        self.react.visit_predictors(&join_path(path, "react"), visit);
        self.extract.visit_predictors(&join_path(path, "extract"), visit);
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        self.react.visit_predictors_mut(&join_path(path, "react"), visit);
        self.extract.visit_predictors_mut(&join_path(path, "extract"), visit);
    }
}

impl<S: SignatureTypes> Module for ReAct<S> {
    type Input = S::Input;
    type Output = WithTrajectory<S::Output>;
    const REPORTS_CALLS: bool = true;

    async fn forward(&self, input: S::Input) -> Result<Self::Output, ModuleError> {
        let inputs = Example::from_serialize(&input)?;
        let prediction = self.forward_example(&inputs, None).await?;
        output_from_prediction::<Self::Output>(prediction)
    }
}
