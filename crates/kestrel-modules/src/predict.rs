//! [`Predict`]: one signature call with demos, instructions, an optional LM
//! of its own and call options.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::Arc;

use kestrel_core::{Dynamic, Example, Prediction, PredictorId, Signature, SignatureSpec, SignatureTypes, TraceEntry};
use kestrel_lm::native_tools::native_tool_fields;
use kestrel_lm::{
    AdapterChoice, CallConfig, PromptCache, SharedLm, call_with_adapter_cached, call_with_adapter_streamed,
    call_with_native_tools, resolve_lm,
};
use serde_json::{Map, Value};

use crate::error::ModuleError;
use crate::module::Module;
use crate::predictor::{Predictor, Predictors, leaf_path};
use crate::state::SavedLm;
use crate::trace;

/// A predictor: formats its signature, demos and inputs with an adapter,
/// calls the LM and parses the reply.
///
/// `Predict<Qa>` (a typed signature) takes `QaInput` and returns `QaOutput`;
/// `Predict` (= `Predict<Dynamic>`, from a string) takes an [`Example`] and
/// returns a [`Prediction`]. Cloning is cheap and keeps the predictor's id.
pub struct Predict<S: SignatureTypes = Dynamic> {
    id: PredictorId,
    signature: Arc<SignatureSpec>,
    demos: Arc<Vec<Example>>,
    /// The formatted system message and demo turns, shared by clones and
    /// replaced whenever the signature or the demos change.
    prompts: Arc<PromptCache>,
    lm: Option<SharedLm>,
    config: CallConfig,
    adapter: AdapterChoice,
    /// DSPy's `use_native_function_calling`: a `ToolCalls` output is filled
    /// through the provider's tool-calling API. `None`: the adapter's
    /// default (JSONAdapter: on, ChatAdapter: off).
    native_function_calling: Option<bool>,
    saved_lm: Option<Arc<SavedLm>>,
    /// A loaded state's `fields` entry, written back on save.
    decision_fields: Option<Arc<Map<String, Value>>>,
    _types: PhantomData<fn() -> S>,
}

impl<S: SignatureTypes> Clone for Predict<S> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            signature: Arc::clone(&self.signature),
            demos: Arc::clone(&self.demos),
            prompts: Arc::clone(&self.prompts),
            lm: self.lm.clone(),
            config: self.config.clone(),
            adapter: self.adapter.clone(),
            native_function_calling: self.native_function_calling,
            saved_lm: self.saved_lm.clone(),
            decision_fields: self.decision_fields.clone(),
            _types: PhantomData,
        }
    }
}

impl<S: SignatureTypes> fmt::Debug for Predict<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Predict")
            .field("id", &self.id)
            .field("signature", &self.signature.to_string())
            .field("demos", &self.demos.len())
            .field("lm", &self.lm.as_ref().map(SharedLm::model))
            .field("config", &self.config)
            .field("adapter", &self.adapter)
            .field("native_function_calling", &self.native_function_calling)
            .field("saved_lm", &self.saved_lm.as_deref().map(SavedLm::model))
            .field("decision_fields", &self.decision_fields.as_deref())
            .finish()
    }
}

impl<S: Signature> Predict<S> {
    /// A predictor for the typed signature `S`.
    pub fn new() -> Self {
        Self::from_spec(S::spec())
    }
}

impl<S: Signature> Default for Predict<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl Predict<Dynamic> {
    /// A dynamic predictor for a runtime signature.
    pub fn with_spec(signature: SignatureSpec) -> Self {
        Self::from_spec(signature)
    }

    /// A dynamic predictor from DSPy's string syntax
    /// (`"context: list[str], question -> answer"`).
    pub fn from_signature(text: &str) -> Result<Self, ModuleError> {
        Ok(Self::from_spec(SignatureSpec::parse(text)?))
    }
}

impl FromStr for Predict<Dynamic> {
    type Err = ModuleError;
    fn from_str(text: &str) -> Result<Self, ModuleError> {
        Self::from_signature(text)
    }
}

impl<S: SignatureTypes> Predict<S> {
    /// A predictor for an explicit runtime signature; for a typed `S` the
    /// spec must have `S`'s fields (modules use this to extend signatures).
    pub(crate) fn from_spec(signature: SignatureSpec) -> Self {
        Self {
            id: PredictorId::fresh(),
            signature: Arc::new(signature),
            demos: Arc::new(Vec::new()),
            prompts: Arc::default(),
            lm: None,
            config: CallConfig::default(),
            adapter: AdapterChoice::default(),
            native_function_calling: None,
            saved_lm: None,
            decision_fields: None,
            _types: PhantomData,
        }
    }

    /// Builder: set the demos.
    pub fn demos_from(mut self, demos: Vec<Example>) -> Self {
        self.set_demos(demos);
        self
    }

    /// Builder: replace the instructions.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.signature).set_instructions(instructions);
        self.prompts = Arc::default();
        self
    }

    /// Builder: use this LM rather than the one in scope.
    pub fn lm(mut self, lm: impl Into<SharedLm>) -> Self {
        self.lm = Some(lm.into());
        self
    }

    /// Builder: call options (n, temperature, max_tokens...).
    pub fn config(mut self, config: CallConfig) -> Self {
        self.config = config;
        self
    }

    /// Builder: the number of completions (`n`); all are kept on the
    /// prediction.
    pub fn n(mut self, n: u32) -> Self {
        self.config.n = Some(n);
        self
    }

    /// Builder: sampling temperature.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.config.temperature = Some(temperature);
        self
    }

    /// Builder: which adapter formats the prompt.
    pub fn adapter(mut self, adapter: AdapterChoice) -> Self {
        self.adapter = adapter;
        self
    }

    /// Builder: DSPy's `use_native_function_calling`. With it on, a
    /// signature with a `list[Tool]` input and a `ToolCalls` output sends
    /// the tools through the provider's tool-calling API (OpenAI `tools`,
    /// Anthropic `tools`) and fills the `ToolCalls` output from the reply's
    /// tool calls ([`kestrel_lm::call_with_native_tools`]); LMs without
    /// function calling, and signatures without a `ToolCalls` output, are
    /// called as usual. Unset, it follows DSPy's adapter defaults: on with
    /// [`AdapterChoice::Json`] (DSPy's `JSONAdapter()`), off with the
    /// ChatAdapter (whose JSON fallback then stays in text mode too).
    pub fn native_function_calling(mut self, on: bool) -> Self {
        self.native_function_calling = Some(on);
        self
    }

    /// Whether native function calling is on (set, or the adapter's default).
    pub fn uses_native_function_calling(&self) -> bool {
        self.native_function_calling.unwrap_or(matches!(self.adapter, AdapterChoice::Json))
    }

    /// The signature in use (shared).
    pub fn signature_spec(&self) -> &SignatureSpec {
        &self.signature
    }

    /// Call with an [`Example`] of inputs, returning a [`Prediction`]; this
    /// is the dynamic core every typed call goes through.
    ///
    /// `overrides` take precedence over the predictor's own config (DSPy's
    /// per-call `config=`).
    ///
    /// The callbacks in scope see it as a `module` call named `Predict`.
    pub async fn forward_example(
        &self,
        inputs: &Example,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        crate::observe::module_call("Predict", inputs, self.forward_unobserved(inputs, overrides)).await
    }

    async fn forward_unobserved(
        &self,
        inputs: &Example,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        let lm = resolve_lm(self.lm.as_ref())?;
        let config = self.call_config(overrides);
        // Inside a Refine retry: the `hint_` input is added (see `hint_scope`).
        let hinted = crate::hint_scope::hinted(self.id, &self.signature, inputs).transpose()?;
        // The cached prompt prefix belongs to the predictor's own signature.
        let (signature, inputs, prompts) = match &hinted {
            Some((signature, inputs)) => (signature, inputs, None),
            None => (&*self.signature, inputs, Some(&*self.prompts)),
        };
        // Inside `streamify` this predictor's LM call streams (when the
        // listeners name it, or there are none); outside, the plain path.
        let out = if kestrel_lm::stream::streaming() {
            let sink = kestrel_lm::stream::current_stream().and_then(|s| s.sink_for(self.id));
            crate::streaming::status::module_start(signature, inputs).await;
            let (demos, sink) = (&self.demos, sink.as_ref());
            let out =
                call_with_adapter_streamed(&lm, self.adapter.clone(), signature, demos, inputs, &config, prompts, sink)
                    .await
                    .map_err(ModuleError::from);
            crate::streaming::status::module_end(out.as_ref().map(|o| &o.prediction)).await;
            out?
        } else if self.uses_native_function_calling() && native_tool_fields(signature).is_some() {
            call_with_native_tools(&lm, self.adapter.clone(), signature, &self.demos, inputs, &config).await?
        } else {
            call_with_adapter_cached(&lm, self.adapter.clone(), signature, &self.demos, inputs, &config, prompts)
                .await?
        };
        trace::record(|| TraceEntry {
            predictor: self.id,
            name: self.signature.to_string(),
            inputs: inputs.clone(),
            outputs: out.prediction.clone(),
        });
        Ok(out.prediction)
    }
}

impl<S: SignatureTypes> Predict<S> {
    /// The config of one call: `overrides` over the predictor's own config,
    /// then the call scope's and DSPy's sampling rule.
    fn call_config(&self, overrides: Option<&CallConfig>) -> CallConfig {
        let config = match overrides {
            Some(o) => o.clone().or(&self.config),
            None => self.config.clone(),
        };
        crate::call_scope::fill_from_scope(config).with_dspy_sampling_rule()
    }

    /// One native-function-calling call with this predictor's LM, config
    /// and demos but another signature (ReAct's native step); not traced
    /// (the caller records what it makes of the reply).
    pub(crate) async fn forward_native(
        &self,
        signature: &SignatureSpec,
        inputs: &Example,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        let lm = resolve_lm(self.lm.as_ref())?;
        let config = self.call_config(overrides);
        let out = call_with_native_tools(&lm, self.adapter.clone(), signature, &self.demos, inputs, &config).await?;
        Ok(out.prediction)
    }

    /// This predictor's id.
    pub(crate) fn predictor_id(&self) -> PredictorId {
        self.id
    }
}

impl<S: SignatureTypes> Predictors for Predict<S> {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        visit(leaf_path(path), self);
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        visit(leaf_path(path), self);
    }
}

impl<S: SignatureTypes> Predictor for Predict<S> {
    fn id(&self) -> PredictorId {
        self.id
    }
    fn signature(&self) -> &SignatureSpec {
        &self.signature
    }
    fn demos(&self) -> &[Example] {
        &self.demos
    }
    fn set_demos(&mut self, demos: Vec<Example>) {
        self.demos = Arc::new(demos);
        self.prompts = Arc::default();
    }
    fn set_instructions(&mut self, instructions: String) {
        Arc::make_mut(&mut self.signature).set_instructions(instructions);
        self.prompts = Arc::default();
    }
    fn set_signature(&mut self, signature: SignatureSpec) -> Result<(), ModuleError> {
        let shape = |s: &SignatureSpec| s.fields().map(|f| (f.name.clone(), f.io)).collect::<Vec<_>>();
        if shape(&signature) != shape(&self.signature) {
            return Err(ModuleError::SignatureMismatch {
                path: self.signature.to_string(),
                expected: self.signature.fields().map(|f| f.name.clone()).collect(),
                got: signature.fields().map(|f| f.name.clone()).collect(),
            });
        }
        self.signature = Arc::new(signature);
        self.prompts = Arc::default();
        Ok(())
    }
    fn lm(&self) -> Option<&SharedLm> {
        self.lm.as_ref()
    }
    fn set_lm(&mut self, lm: Option<SharedLm>) {
        self.lm = lm;
    }
    fn config(&self) -> &CallConfig {
        &self.config
    }
    fn set_config(&mut self, config: CallConfig) {
        self.config = config;
    }
    fn saved_lm(&self) -> Option<&SavedLm> {
        self.saved_lm.as_deref()
    }
    fn set_saved_lm(&mut self, saved: Option<SavedLm>) {
        self.saved_lm = saved.map(Arc::new);
    }
    fn decision_fields(&self) -> Option<&Map<String, Value>> {
        self.decision_fields.as_deref()
    }
    fn set_decision_fields(&mut self, fields: Option<Map<String, Value>>) {
        self.decision_fields = fields.filter(|f| !f.is_empty()).map(Arc::new);
    }
}

impl<S: SignatureTypes> Module for Predict<S> {
    type Input = S::Input;
    type Output = S::Output;
    const REPORTS_CALLS: bool = true;

    async fn forward(&self, input: S::Input) -> Result<S::Output, ModuleError> {
        let inputs = Example::from_serialize(&input)?;
        let prediction = self.forward_example(&inputs, None).await?;
        output_from_prediction::<S::Output>(prediction)
    }
}

/// Convert a prediction into the typed output. A [`Prediction`] output keeps
/// every completion and the usage (serde would drop them).
pub(crate) fn output_from_prediction<O: serde::de::DeserializeOwned + 'static>(
    prediction: Prediction,
) -> Result<O, ModuleError> {
    let mut slot = Some(prediction);
    if let Some(p) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<O>>() {
        if let Some(out) = p.take() {
            return Ok(out);
        }
    }
    let prediction = slot.unwrap_or_default();
    Ok(prediction.to_typed::<O>()?)
}
