//! One signature call: format with an adapter, call the LM, parse each
//! completion, and fall back from ChatAdapter to JSONAdapter on a parse
//! failure, as DSPy does.
//!
//! The fallback is a second LM call. It is kept visible: the LM sees (and
//! records) both requests, the returned usage is the sum of both, and
//! [`AdapterCallOutput::json_fallback`] says it happened.
//!
//! A [`PromptCache`] lets a predictor format the part of the prompt that
//! depends only on its signature and demos (system message, demo turns)
//! once per adapter and reuse it for every call.

use std::sync::OnceLock;

use kestrel_core::{
    Adapter, ChatAdapter, CoreError, Example, Fields, JsonAdapter, Message, Prediction, SignatureSpec, Usage,
};

use serde_json::{Value, json};

use crate::callback::{CallKind, observer};
use crate::error::LmError;
use crate::lm::SharedLm;
use crate::request::{CallConfig, LmRequest};

/// Which adapter formats the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// True when the ChatAdapter reply failed to parse and the JSON adapter
    /// produced the prediction.
    pub json_fallback: bool,
    /// True when every LM response came from a cache.
    pub cache_hit: bool,
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
    signature.check_inputs(inputs)?;
    let merged;
    let config = match lm.get_call_defaults() {
        Some(defaults) => {
            merged = config.clone().over_lm_defaults(defaults);
            &merged
        }
        None => config,
    };
    let (chat_slot, json_slot) = (cache.map(|c| &c.chat), cache.map(|c| &c.json));
    let prompt = Prompt { signature, demos, inputs };
    match choice {
        AdapterChoice::Json => run_once(lm, &JsonAdapter, &prompt, json_slot, config).await.map_err(|(e, _)| e),
        AdapterChoice::Chat { json_fallback } => match run_once(lm, &ChatAdapter, &prompt, chat_slot, config).await {
            Ok(out) => Ok(out),
            Err((LmError::Parse(_), spent)) if json_fallback => {
                let mut out = run_once(lm, &JsonAdapter, &prompt, json_slot, config).await.map_err(|(e, _)| e)?;
                let mut usage = out.prediction.usage();
                usage += spent;
                out.prediction.set_usage(usage);
                out.lm_calls += 1;
                out.json_fallback = true;
                out.cache_hit = false;
                Ok(out)
            }
            Err((e, _)) => Err(e),
        },
    }
}

/// What one call formats.
struct Prompt<'a> {
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
    let response = lm.call(request).await.map_err(|e| (e, Usage::default()))?;
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
