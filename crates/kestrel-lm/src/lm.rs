//! The [`Lm`] trait and the [`SharedLm`] handle.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::LmError;
use crate::history::{HistoryEntry, format_history};
use crate::request::{CallConfig, LmRequest, LmResponse};
use crate::stream::DeltaSink;
use crate::usage::UsageReport;

/// What a model can do beyond plain chat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LmCapabilities {
    /// Accepts `response_format` with a strict JSON schema (structured
    /// outputs). When false, the JSON adapter sends no `response_format`, as
    /// DSPy does for models it does not know to support one.
    pub structured_outputs: bool,
    /// Decodes under a grammar: given a request's
    /// [`crate::LmRequest::output_structure`] (or a JSON-schema
    /// `response_format`), every reply follows it. When true, the adapter
    /// path asks for the ChatAdapter's field structure on each request (the
    /// local provider does; HTTP providers do not: DSPy sends no structure
    /// to unknown servers).
    pub constrained_decoding: bool,
    /// Responses must never be cached (scripted test LMs, whose replies
    /// depend on call order).
    pub no_cache: bool,
    /// Takes [`crate::LmRequest::tools`] and answers with tool calls
    /// (DSPy's `supports_function_calling`): native function calling is
    /// used only with LMs that say so. The OpenAI and Anthropic providers
    /// do.
    pub function_calling: bool,
    /// [`Lm::call_streaming`] sends the reply as it is generated (token
    /// deltas). When false the default sends the whole reply as one chunk.
    pub streaming: bool,
}

impl LmCapabilities {
    /// Capabilities that forbid caching (see [`LmCapabilities::no_cache`]).
    pub fn uncacheable(mut self) -> Self {
        self.no_cache = true;
        self
    }

    /// Capabilities with constrained decoding on or off.
    pub fn with_constrained_decoding(mut self, on: bool) -> Self {
        self.constrained_decoding = on;
        self
    }

    /// Capabilities with native function calling on or off.
    pub fn with_function_calling(mut self, on: bool) -> Self {
        self.function_calling = on;
        self
    }

    /// Capabilities with streaming on or off.
    pub fn with_streaming(mut self, on: bool) -> Self {
        self.streaming = on;
        self
    }

    /// Capabilities with structured outputs on or off.
    pub fn with_structured_outputs(mut self, on: bool) -> Self {
        self.structured_outputs = on;
        self
    }
}

/// A language model: one async chat-completion call.
///
/// Implement this for a new provider; wrap it in [`SharedLm`] to use it.
#[async_trait]
pub trait Lm: Send + Sync + fmt::Debug {
    /// The model string, DSPy style (`openai/gpt-4o-mini`).
    fn model(&self) -> &str;

    /// What the model supports.
    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default()
    }

    /// Send one request.
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError>;

    /// Send one request, sending the reply's text to `sink` as it arrives,
    /// and return the whole response as [`Lm::call`] does. Providers that
    /// stream override it (and say so in [`LmCapabilities::streaming`]); the
    /// default calls [`Lm::call`] and sends each completion as one chunk.
    async fn call_streaming(&self, request: LmRequest, sink: &DeltaSink) -> Result<LmResponse, LmError> {
        let response = self.call(request).await?;
        sink.replay(&response, 1).await;
        Ok(response)
    }

    /// Call options this LM applies to every call, below the call's own
    /// (DSPy's `dspy.LM(model, temperature=0, max_tokens=256)`): a
    /// predictor's config and `with_call_config` overrides win, these fill
    /// what they leave unset. `None` (the default) for LMs without any
    /// ([`crate::LmBuilder`] sets them).
    fn get_call_defaults(&self) -> Option<&CallConfig> {
        None
    }

    /// Usage totals, for LMs that account for it ([`crate::LmClient`]).
    fn usage(&self) -> Option<UsageReport> {
        None
    }

    /// The last `n` calls, for LMs that keep history ([`crate::LmClient`]).
    fn history(&self, _n: usize) -> Vec<HistoryEntry> {
        Vec::new()
    }
}

/// A cheap-to-clone handle to an [`Lm`] (an `Arc`).
#[derive(Clone)]
pub struct SharedLm(Arc<dyn Lm>);

impl SharedLm {
    /// Wrap a provider.
    pub fn new(lm: impl Lm + 'static) -> Self {
        SharedLm(Arc::new(lm))
    }

    /// Wrap an already shared provider.
    pub fn from_arc(lm: Arc<dyn Lm>) -> Self {
        SharedLm(lm)
    }

    /// The model string.
    pub fn model(&self) -> &str {
        self.0.model()
    }

    /// What the model supports.
    pub fn capabilities(&self) -> LmCapabilities {
        self.0.capabilities()
    }

    /// Send one request, charged to the budgets in scope
    /// ([`crate::with_budget`]); refused with [`LmError::BudgetExhausted`]
    /// when one is spent.
    /// Callbacks in scope see it as an LM call ([`crate::callback`]).
    pub async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        self.observed(request, |request| self.0.call(request)).await
    }

    /// Send one request, streaming its deltas to `sink`
    /// ([`Lm::call_streaming`]), charged to the budgets in scope and seen by
    /// callbacks like [`SharedLm::call`].
    pub async fn call_streaming(&self, request: LmRequest, sink: &DeltaSink) -> Result<LmResponse, LmError> {
        self.observed(request, |request| self.0.call_streaming(request, sink)).await
    }

    /// `send` charged to the budgets in scope and reported to the callbacks
    /// in scope as one LM call.
    async fn observed<'a, F, Fut>(&self, request: LmRequest, send: F) -> Result<LmResponse, LmError>
    where
        F: FnOnce(LmRequest) -> Fut,
        Fut: std::future::Future<Output = Result<LmResponse, LmError>> + 'a,
    {
        let Some(mut observer) = crate::callback::observer(crate::callback::CallKind::Lm) else {
            return crate::budget::charged(send(request)).await;
        };
        observer.start(self.model(), || serde_json::to_value(&request).unwrap_or(serde_json::Value::Null))?;
        let result = observer.run(crate::budget::charged(send(request))).await;
        observer.finish(result, |response| {
            serde_json::Value::Array(
                response.completions.iter().map(|c| serde_json::Value::String(c.text.clone())).collect(),
            )
        })
    }

    /// The LM's default call options, if it has any
    /// ([`Lm::get_call_defaults`]).
    pub fn get_call_defaults(&self) -> Option<&CallConfig> {
        self.0.get_call_defaults()
    }

    /// Usage totals, if this LM accounts for them.
    pub fn usage(&self) -> Option<UsageReport> {
        self.0.usage()
    }

    /// The last `n` calls, oldest first (empty if the LM keeps no history).
    pub fn history(&self, n: usize) -> Vec<HistoryEntry> {
        self.0.history(n)
    }

    /// Print the last `n` calls readably (DSPy's `inspect_history`).
    pub fn inspect_history(&self, n: usize) {
        println!("{}", format_history(&self.history(n)));
    }

    /// True when both handles point at the same provider instance.
    pub fn same_as(&self, other: &SharedLm) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for SharedLm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedLm").field(&self.0).finish()
    }
}

impl<T: Lm + 'static> From<T> for SharedLm {
    fn from(lm: T) -> Self {
        SharedLm::new(lm)
    }
}
