//! Request and response types of one LM call.

use kestrel_core::{Message, OutputStructure, ToolCall, Usage};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One chat-completion request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmRequest {
    /// The conversation, system message first.
    pub messages: Vec<Message>,
    /// Number of completions wanted.
    pub n: u32,
    /// Whether the caller set `n` itself (even to 1), as DSPy's
    /// `Predict(.., n=1)` does: DSPy then lists `n` among the request's
    /// options. Informational (request logs); never sent, not part of the
    /// cache key.
    #[serde(skip)]
    pub n_explicit: bool,
    /// Sampling temperature (provider default when `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Completion token limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Structured-output request body value (`{"type": "json_schema", ...}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    /// The reply structure to constrain decoding to (the ChatAdapter's field
    /// sections), set by the adapter path only for LMs whose
    /// [`crate::LmCapabilities::constrained_decoding`] is true. Never sent
    /// on the wire; part of the cache key when present, since a constrained
    /// reply differs from a free one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_structure: Option<OutputStructure>,
    /// Tools offered to the model through the provider's tool-calling API,
    /// each in OpenAI's shape (`{"type": "function", "function": {name,
    /// description, parameters}}`, DSPy's `format_as_litellm_function_call`);
    /// the Anthropic wire converts them. Set by native function calling
    /// (`kestrel_lm::call_with_native_tools`); part of the cache key when
    /// present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Value>,
    /// DSPy's rollout id: distinguishes otherwise identical requests in the
    /// cache; never sent to the provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_id: Option<u64>,
    /// Whether a caching layer may serve or store this call (per-call
    /// opt-out). Not part of the request sent, nor of the cache key.
    #[serde(skip, default = "yes")]
    pub use_cache: bool,
}

fn yes() -> bool {
    true
}

impl LmRequest {
    /// A request for one completion of `messages` with provider defaults.
    pub fn new(messages: Vec<Message>) -> Self {
        Self {
            messages,
            n: 1,
            n_explicit: false,
            temperature: None,
            max_tokens: None,
            stop: Vec::new(),
            response_format: None,
            output_structure: None,
            tools: Vec::new(),
            rollout_id: None,
            use_cache: true,
        }
    }

    /// Fill what this request leaves unset (temperature, max tokens, stop,
    /// rollout id) from an LM's default options, and honour their cache
    /// opt-out; `n` is always set on a request, so it is left alone (the
    /// adapter path merges it from the [`CallConfig`]).
    pub fn fill_unset_from(&mut self, defaults: &CallConfig) {
        self.temperature = self.temperature.or(defaults.temperature);
        self.max_tokens = self.max_tokens.or(defaults.max_tokens);
        if self.stop.is_empty() {
            self.stop.clone_from(&defaults.stop);
        }
        self.rollout_id = self.rollout_id.or(defaults.rollout_id);
        if defaults.use_cache == Some(false) {
            self.use_cache = false;
        }
    }

    /// Apply per-call options.
    pub fn with_config(mut self, config: &CallConfig) -> Self {
        self.n = config.n.unwrap_or(1).max(1);
        self.n_explicit = config.n.is_some();
        self.temperature = config.temperature;
        self.max_tokens = config.max_tokens;
        self.stop = config.stop.clone();
        self.rollout_id = config.rollout_id;
        self.use_cache = config.use_cache.unwrap_or(true);
        self
    }
}

/// Why a completion ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FinishReason {
    /// Natural end or a stop sequence.
    Stop,
    /// The token limit was hit (the reply may be truncated).
    Length,
    /// The provider filtered the content.
    ContentFilter,
    /// The model asked for a tool call.
    ToolCalls,
    /// Anything else, as the provider spelled it.
    Other(String),
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The text.
    pub text: String,
    /// Why it ended, if the provider said.
    pub finish_reason: Option<FinishReason>,
    /// The tool calls the model asked for through the provider's
    /// tool-calling API (empty for text replies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl Completion {
    /// A completion that ended normally.
    pub fn stop(text: impl Into<String>) -> Self {
        Self { text: text.into(), finish_reason: Some(FinishReason::Stop), tool_calls: Vec::new() }
    }

    /// A completion with this text and finish reason (no tool calls).
    pub fn new(text: impl Into<String>, finish_reason: Option<FinishReason>) -> Self {
        Self { text: text.into(), finish_reason, tool_calls: Vec::new() }
    }
}

/// The answer to one [`LmRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmResponse {
    /// `n` completions.
    pub completions: Vec<Completion>,
    /// Tokens spent (zero on a cache hit).
    pub usage: Usage,
    /// The model that answered.
    pub model: String,
    /// True when served from a cache.
    pub cache_hit: bool,
    /// Cost in US dollars, when the model's price is known (zero on a cache
    /// hit).
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

impl LmResponse {
    /// A fresh (not cached) response with no known cost.
    pub fn new(completions: Vec<Completion>, usage: Usage, model: impl Into<String>) -> Self {
        Self { completions, usage, model: model.into(), cache_hit: false, cost_usd: None }
    }
}

/// Call options (DSPy's `config` / LM kwargs): a predictor's own, a
/// `with_call_config` scope's, or an LM's defaults
/// ([`crate::LmBuilder::call_defaults`]). `None` / an empty `stop` means
/// unset: the next level down decides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallConfig {
    /// Number of completions.
    pub n: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Completion token limit.
    pub max_tokens: Option<u32>,
    /// Stop sequences.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Rollout id (cache key only).
    pub rollout_id: Option<u64>,
    /// `Some(false)` bypasses the LM's cache for these calls.
    pub use_cache: Option<bool>,
}

impl CallConfig {
    /// DSPy's rule in `Predict`: asking for several completions at a
    /// temperature unset or at most 0.15 raises the temperature to 0.7.
    pub fn with_dspy_sampling_rule(mut self) -> Self {
        let n = self.n.unwrap_or(1);
        if n > 1 && self.temperature.is_none_or(|t| t <= 0.15) {
            self.temperature = Some(0.7);
        }
        self
    }

    /// `self` (already merged from the call, the predictor and any
    /// `with_call_config` scope) over an LM's default options, then DSPy's
    /// sampling rule over the result — DSPy's `Predict` reads `n` and
    /// temperature from its config, else from `lm.kwargs`, before raising
    /// the temperature, and LiteLLM gets `{**lm.kwargs, **config}`.
    pub fn over_lm_defaults(self, defaults: &CallConfig) -> Self {
        self.or(defaults).with_dspy_sampling_rule()
    }

    /// Fill every unset option of `self` from `fallback`.
    pub fn or(mut self, fallback: &CallConfig) -> Self {
        self.n = self.n.or(fallback.n);
        self.temperature = self.temperature.or(fallback.temperature);
        self.max_tokens = self.max_tokens.or(fallback.max_tokens);
        if self.stop.is_empty() {
            self.stop = fallback.stop.clone();
        }
        self.rollout_id = self.rollout_id.or(fallback.rollout_id);
        self.use_cache = self.use_cache.or(fallback.use_cache);
        self
    }
}
