//! [`ChainOfThought`]: a [`Predict`] whose signature gains a `reasoning`
//! output before the others, exactly as DSPy's `ChainOfThought`.

use std::ops::{Deref, DerefMut};

use kestrel_core::{Dynamic, Example, FieldSpec, FieldType, Prediction, Signature, SignatureSpec, SignatureTypes};
use kestrel_lm::{AdapterChoice, CallConfig, SharedLm};
use serde::{Deserialize, Serialize};

use crate::error::ModuleError;
use crate::module::Module;
use crate::predict::{Predict, output_from_prediction};
use crate::predictor::{Predictor, Predictors, join_path};

/// DSPy 3.4.1's prefix for the reasoning field: the one inferred from its
/// name (prompts do not show prefixes; saved programs do).
pub const REASONING_PREFIX: &str = "Reasoning:";

/// The output of a [`ChainOfThought`]: the reasoning plus the signature's own
/// outputs (reachable directly through `Deref`: `out.answer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithReasoning<O> {
    /// The model's step-by-step reasoning.
    pub reasoning: String,
    /// The signature's outputs.
    #[serde(flatten)]
    pub output: O,
}

impl<O> Deref for WithReasoning<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.output
    }
}

impl<O> DerefMut for WithReasoning<O> {
    fn deref_mut(&mut self) -> &mut O {
        &mut self.output
    }
}

/// Chain of thought: asks for `reasoning` first, then the outputs.
///
/// Its one predictor is named `predict` (so a `ChainOfThought` stored in a
/// field `generate` is `generate.predict`, as in DSPy).
pub struct ChainOfThought<S: SignatureTypes = Dynamic> {
    /// The inner predictor, whose signature includes `reasoning`.
    pub predict: Predict<S>,
}

impl<S: SignatureTypes> Clone for ChainOfThought<S> {
    fn clone(&self) -> Self {
        Self { predict: self.predict.clone() }
    }
}

impl<S: SignatureTypes> std::fmt::Debug for ChainOfThought<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainOfThought").field("predict", &self.predict).finish()
    }
}

/// `signature` with DSPy's `reasoning` output prepended.
pub fn with_reasoning_field(signature: SignatureSpec) -> Result<SignatureSpec, ModuleError> {
    Ok(signature.prepend(FieldSpec::output("reasoning", FieldType::Str).with_prefix(REASONING_PREFIX))?)
}

impl<S: Signature> ChainOfThought<S> {
    /// Chain of thought over the typed signature `S`. If `S` already
    /// declares a `reasoning` output, it is used as is.
    pub fn new() -> Self {
        let spec = S::spec();
        match spec.field("reasoning") {
            Some(_) => Self { predict: Predict::from_spec(spec) },
            None => match with_reasoning_field(spec.clone()) {
                Ok(extended) => Self { predict: Predict::from_spec(extended) },
                Err(_) => Self { predict: Predict::from_spec(spec) },
            },
        }
    }
}

impl<S: Signature> Default for ChainOfThought<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainOfThought<Dynamic> {
    /// Chain of thought from DSPy's string syntax.
    pub fn from_signature(text: &str) -> Result<Self, ModuleError> {
        Self::with_spec(SignatureSpec::parse(text)?)
    }

    /// Chain of thought over a runtime signature (without `reasoning`; it is
    /// added here). Fails if the signature already has a `reasoning` field.
    pub fn with_spec(signature: SignatureSpec) -> Result<Self, ModuleError> {
        Ok(Self { predict: Predict::from_spec(with_reasoning_field(signature)?) })
    }
}

impl<S: SignatureTypes> ChainOfThought<S> {
    /// Builder: use this LM rather than the one in scope.
    pub fn lm(mut self, lm: impl Into<SharedLm>) -> Self {
        self.predict = self.predict.lm(lm);
        self
    }

    /// Builder: call options for the inner predictor.
    pub fn config(mut self, config: CallConfig) -> Self {
        self.predict = self.predict.config(config);
        self
    }

    /// Builder: which adapter the inner predictor formats with
    /// ([`Predict::adapter`]).
    pub fn adapter(mut self, adapter: AdapterChoice) -> Self {
        self.predict = self.predict.adapter(adapter);
        self
    }

    /// Builder: demos for the inner predictor.
    pub fn demos_from(mut self, demos: Vec<Example>) -> Self {
        self.predict.set_demos(demos);
        self
    }

    /// Call with an [`Example`] of inputs; the prediction has `reasoning` and
    /// the signature's outputs.
    pub async fn forward_example(
        &self,
        inputs: &Example,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        crate::observe::module_call("ChainOfThought", inputs, self.predict.forward_example(inputs, overrides)).await
    }
}

impl<S: SignatureTypes> Predictors for ChainOfThought<S> {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        self.predict.visit_predictors(&join_path(path, "predict"), visit);
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        self.predict.visit_predictors_mut(&join_path(path, "predict"), visit);
    }
}

impl<S: SignatureTypes> Module for ChainOfThought<S> {
    type Input = S::Input;
    type Output = WithReasoning<S::Output>;
    const REPORTS_CALLS: bool = true;

    async fn forward(&self, input: S::Input) -> Result<Self::Output, ModuleError> {
        let inputs = Example::from_serialize(&input)?;
        let prediction = self.forward_example(&inputs, None).await?;
        output_from_prediction::<Self::Output>(prediction)
    }
}
