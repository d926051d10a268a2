//! One signature call: format with an adapter, call the LM, parse each
//! completion, and fall back from ChatAdapter (or XMLAdapter, a ChatAdapter
//! in DSPy) to JSONAdapter on a parse failure, as DSPy does. The two-step
//! adapter's calls (main LM, then an extraction LM) are in
//! [`crate::two_step_call`].
//!
//! The fallback is a second LM call. It is kept visible: the LM sees (and
//! records) both requests, the returned usage is the sum of both, and
//! [`AdapterCallOutput::json_fallback`] says it happened.
//!
//! A [`PromptCache`] lets a predictor format the part of the prompt that
//! depends only on its signature and demos (system message, demo turns)
//! once per adapter and reuse it for every call.

use std::borrow::Cow;
use std::sync::OnceLock;

use kestrel_core::{
    Adapter, ChatAdapter, CoreError, Example, Fields, JsonAdapter, Message, Prediction, SignatureSpec, Usage,
    XmlAdapter,
};

use serde_json::{Value, json};

use crate::callback::{CallKind, observer};
use crate::error::LmError;
use crate::lm::SharedLm;
use crate::request::{CallConfig, LmRequest};
use crate::stream::{DeltaSink, StreamAdapter};
use crate::two_step_call::{TwoStep, call_two_step};

/// Which adapter formats the prompt.
///
/// By name ([`AdapterChoice::from_name`]): `chat`, `json`, `xml`. The
/// two-step adapter needs its extraction LM, so it has no name alone.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AdapterChoice {
    /// DSPy's ChatAdapter; on a parse failure, retry once with the JSON
    /// adapter when `json_fallback` is true (DSPy's default).
    Chat {
        /// Retry with JSONAdapter when the reply cannot be parsed.
        json_fallback: bool,
    },
    /// DSPy's JSONAdapter.
    Json,
    /// DSPy's XMLAdapter (`<field>` tags). A subclass of ChatAdapter in
    /// DSPy, so it has the same JSON fallback, on by default.
    Xml {
        /// Retry with JSONAdapter when the reply cannot be parsed.
        json_fallback: bool,
    },
    /// DSPy's TwoStepAdapter: the LM in use answers a plain prompt, then
    /// the [`TwoStep`]'s extraction LM fills the output fields from that
    /// answer through the ChatAdapter.
    TwoStep(TwoStep),
}

impl AdapterChoice {
    /// The adapter called `name`: `chat` (or `ChatAdapter`), `json`
    /// (`JSONAdapter`), `xml` (`XMLAdapter`), with DSPy's defaults (JSON
    /// fallback on). `None` for any other name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "chat" | "ChatAdapter" => Some(AdapterChoice::Chat { json_fallback: true }),
            "json" | "JSONAdapter" => Some(AdapterChoice::Json),
            "xml" | "XMLAdapter" => Some(AdapterChoice::Xml { json_fallback: true }),
            _ => None,
        }
    }

    /// The short name: `chat`, `json`, `xml` or `two_step`.
    pub fn name(&self) -> &'static str {
        match self {
            AdapterChoice::Chat { .. } => "chat",
            AdapterChoice::Json => "json",
            AdapterChoice::Xml { .. } => "xml",
            AdapterChoice::TwoStep(_) => "two_step",
        }
    }
}

impl Default for AdapterChoice {
    fn default() -> Self {
        AdapterChoice::Chat { json_fallback: true }
    }
}

/// What [`call_with_adapter`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterCallOutput {
    /// The parsed prediction (all `n` completions), with the usage of every
    /// LM call made for it.
    pub prediction: Prediction,
    /// LM calls made (2 when the JSON fallback ran).
    pub lm_calls: u32,
    /// True when the ChatAdapter (or XMLAdapter) reply failed to parse and
    /// the JSON adapter produced the prediction (for the two-step adapter:
    /// some extraction needed it).
    pub json_fallback: bool,
    /// True when every LM response came from a cache.
    pub cache_hit: bool,
}

impl AdapterCallOutput {
    /// This JSONAdapter output as the result of the JSON fallback, after a
    /// ChatAdapter round that spent `spent` failed to parse: two calls, both
    /// usages, not a cache hit.
    pub(crate) fn after_failed_chat_round(mut self, spent: Usage) -> Self {
        let mut usage = self.prediction.usage();
        usage += spent;
        self.prediction.set_usage(usage);
        self.lm_calls += 1;
        self.json_fallback = true;
        self.cache_hit = false;
        self
    }
}

/// `config` over `lm`'s default call options ([`CallConfig::over_lm_defaults`]),
/// borrowed as is when the LM has none.
pub(crate) fn over_lm_defaults<'a>(lm: &SharedLm, config: &'a CallConfig) -> Cow<'a, CallConfig> {
    match lm.get_call_defaults() {
        Some(defaults) => Cow::Owned(config.clone().over_lm_defaults(defaults)),
        None => Cow::Borrowed(config),
    }
}

/// The formatted prompt prefixes (system message and demo turns) of one
/// signature + demos pair, one per adapter, made on first use.
///
/// Whoever holds one must replace it when the signature or the demos
/// change (`Predict` does); clones of a predictor may share it.
#[derive(Debug, Default)]
pub struct PromptCache {
    chat: OnceLock<Vec<Message>>,
    json: OnceLock<Vec<Message>>,
    xml: OnceLock<Vec<Message>>,
}

impl PromptCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Format `signature` + `demos` + `inputs`, call `lm`, parse the reply.
///
/// Missing inputs are [`kestrel_core::CoreError::MissingInputs`]; a reply that
/// cannot be parsed is [`LmError::Parse`] carrying the raw completion.
pub async fn call_with_adapter(
    lm: &SharedLm,
    choice: AdapterChoice,
    signature: &SignatureSpec,
    demos: &[Example],
    inputs: &Example,
    config: &CallConfig,
) -> Result<AdapterCallOutput, LmError> {
    call_with_adapter_cached(lm, choice, signature, demos, inputs, config, None).await
}

/// [`call_with_adapter`], reusing the prompt prefix kept in `cache` (which
/// must belong to this `signature` and `demos`).
pub async fn call_with_adapter_cached(
    lm: &SharedLm,
    choice: AdapterChoice,
    signature: &SignatureSpec,
    demos: &[Example],
    inputs: &Example,
    config: &CallConfig,
    cache: Option<&PromptCache>,
) -> Result<AdapterCallOutput, LmError> {
    call_with_adapter_streamed(lm, choice, signature, demos, inputs, config, cache, None).await
}

/// [`call_with_adapter_cached`], streaming each LM call's deltas to `sink`
/// when given (tagged with the adapter that formatted the call, so a JSON
/// fallback's tokens say they are JSON).
#[allow(clippy::too_many_arguments)]
pub async fn call_with_adapter_streamed(
    lm: &SharedLm,
    choice: AdapterChoice,
    signature: &SignatureSpec,
    demos: &[Example],
    inputs: &Example,
    config: &CallConfig,
    cache: Option<&PromptCache>,
    sink: Option<&DeltaSink>,
) -> Result<AdapterCallOutput, LmError> {
    signature.check_inputs(inputs)?;
    let config: &CallConfig = &over_lm_defaults(lm, config);
    let (chat_slot, json_slot) = (cache.map(|c| &c.chat), cache.map(|c| &c.json));
    let prompt = Prompt { signature, demos, inputs, sink };
    match choice {
        AdapterChoice::Json => run_once(lm, &JsonAdapter, &prompt, json_slot, config).await.map_err(|(e, _)| e),
        AdapterChoice::TwoStep(two_step) => call_two_step(lm, &two_step, signature, demos, inputs, config).await,
        AdapterChoice::Chat { json_fallback } => {
            with_fallback(lm, &ChatAdapter, json_fallback, &prompt, chat_slot, json_slot, config).await
        }
        AdapterChoice::Xml { json_fallback } => {
            with_fallback(lm, &XmlAdapter, json_fallback, &prompt, cache.map(|c| &c.xml), json_slot, config).await
        }
    }
}

/// The ChatAdapter call (with DSPy's JSON fallback, no demos, the LM's own
/// default options) the two-step adapter extracts fields with.
pub(crate) async fn extraction_call(
    lm: &SharedLm,
    signature: &SignatureSpec,
    inputs: &Example,
) -> Result<AdapterCallOutput, LmError> {
    let config = match lm.get_call_defaults() {
        Some(defaults) => CallConfig::default().over_lm_defaults(defaults),
        None => CallConfig::default(),
    };
    let prompt = Prompt { sink: None, signature, demos: &[], inputs };
    with_fallback(lm, &ChatAdapter, true, &prompt, None, None, &config).await
}

/// One round with `first`; on a parse failure, when `json_fallback`, one
/// more with the JSON adapter (usage summed, the fallback reported).
async fn with_fallback(
    lm: &SharedLm,
    first: &dyn Adapter,
    json_fallback: bool,
    prompt: &Prompt<'_>,
    slot: Option<&OnceLock<Vec<Message>>>,
    json_slot: Option<&OnceLock<Vec<Message>>>,
    config: &CallConfig,
) -> Result<AdapterCallOutput, LmError> {
    match run_once(lm, first, prompt, slot, config).await {
        Ok(out) => Ok(out),
        Err((LmError::Parse(_), spent)) if json_fallback => {
            let out = run_once(lm, &JsonAdapter, prompt, json_slot, config).await.map_err(|(e, _)| e)?;
            Ok(out.after_failed_chat_round(spent))
        }
        Err((e, _)) => Err(e),
    }
}

/// What one call formats.
struct Prompt<'a> {
    sink: Option<&'a DeltaSink>,
    signature: &'a SignatureSpec,
    demos: &'a [Example],
    inputs: &'a Example,
}

impl Prompt<'_> {
    /// The messages, reusing (or filling) `slot`'s prefix when the adapter
    /// splits its prompt.
    fn messages(
        &self,
        adapter: &dyn Adapter,
        slot: Option<&OnceLock<Vec<Message>>>,
    ) -> Result<Vec<Message>, CoreError> {
        let whole = || adapter.format(self.signature, self.demos, self.inputs);
        let Some(slot) = slot else { return whole() };
        let Some(request) = adapter.format_request(self.signature, self.inputs) else { return whole() };
        let prefix = match slot.get() {
            Some(prefix) => prefix,
            None => match adapter.format_prefix(self.signature, self.demos) {
                Some(prefix) => slot.get_or_init(|| prefix),
                None => return whole(),
            },
        };
        let mut messages = Vec::with_capacity(prefix.len() + 1);
        messages.extend_from_slice(prefix);
        messages.extend(request);
        Ok(messages)
    }
}

/// One adapter round; on error also returns the usage already spent.
async fn run_once(
    lm: &SharedLm,
    adapter: &dyn Adapter,
    prompt: &Prompt<'_>,
    slot: Option<&OnceLock<Vec<Message>>>,
    config: &CallConfig,
) -> Result<AdapterCallOutput, (LmError, Usage)> {
    let signature = prompt.signature;
    let messages = format_observed(adapter, prompt, slot).map_err(|e| (e, Usage::default()))?;
    let mut request = LmRequest::new(messages).with_config(config);
    let capabilities = lm.capabilities();
    if capabilities.structured_outputs {
        request.response_format = adapter.response_format(signature);
    }
    if capabilities.constrained_decoding {
        request.output_structure = adapter.output_structure(signature);
    }
    let sent = match prompt.sink {
        None => lm.call(request).await,
        Some(sink) => {
            let kind = if adapter.name() == "JSONAdapter" { StreamAdapter::Json } else { StreamAdapter::Chat };
            lm.call_streaming(request, &sink.with_adapter(kind)).await
        }
    };
    let response = sent.map_err(|e| (e, Usage::default()))?;
    if response.completions.is_empty() {
        return Err((LmError::EmptyResponse { model: response.model }, response.usage));
    }
    let mut completions: Vec<Fields> = Vec::with_capacity(response.completions.len());
    for completion in &response.completions {
        let fields = parse_observed(adapter, signature, &completion.text).map_err(|e| (e, response.usage))?;
        completions.push(fields);
    }
    Ok(AdapterCallOutput {
        prediction: Prediction::from_completions(completions).with_usage(response.usage),
        lm_calls: 1,
        json_fallback: false,
        cache_hit: response.cache_hit,
    })
}

/// The adapter's format, seen by the callbacks and span in scope as
/// `adapter_format` (inputs: signature, demos, inputs; outputs: messages).
fn format_observed(
    adapter: &dyn Adapter,
    prompt: &Prompt<'_>,
    slot: Option<&OnceLock<Vec<Message>>>,
) -> Result<Vec<Message>, LmError> {
    let Some(mut observer) = observer(CallKind::AdapterFormat) else {
        return prompt.messages(adapter, slot).map_err(LmError::from);
    };
    observer.start(adapter.name(), || {
        json!({
            "signature": prompt.signature.to_string(),
            "demos": prompt.demos,
            "inputs": prompt.inputs,
        })
    })?;
    let result = prompt.messages(adapter, slot).map_err(LmError::from);
    observer.finish(result, |messages| serde_json::to_value(messages).unwrap_or(Value::Null))
}

/// The adapter's parse of one completion, seen by the callbacks and span in
/// scope as `adapter_parse` (inputs: signature, completion; outputs: fields).
fn parse_observed(adapter: &dyn Adapter, signature: &SignatureSpec, completion: &str) -> Result<Fields, LmError> {
    let Some(mut observer) = observer(CallKind::AdapterParse) else {
        return adapter.parse(signature, completion).map_err(LmError::from);
    };
    observer.start(adapter.name(), || json!({ "signature": signature.to_string(), "completion": completion }))?;
    let result = adapter.parse(signature, completion).map_err(LmError::from);
    observer.finish(result, |fields| serde_json::to_value(fields).unwrap_or(Value::Null))
}
