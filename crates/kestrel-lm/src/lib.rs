//! Kestrel's LM layer.
//!
//! - [`Lm`]: the trait every provider implements (one async `call`), and
//!   [`SharedLm`], the cheap-to-clone handle programs hold.
//! - [`LmRequest`] / [`LmResponse`]: messages, `n`, temperature, max tokens,
//!   stop, `response_format`, rollout id; completions, usage, finish reason.
//! - [`scope`]: which LM a call uses — the predictor's own, else the
//!   task-local one set by [`with_lm`], else the process default set (and
//!   replaceable at any time) by [`set_default_lm`]. Nothing configured is [`LmError::NotConfigured`].
//! - [`adapter_call`]: format a signature with an adapter, call the LM, parse
//!   the reply, and fall back from ChatAdapter (or XMLAdapter) to
//!   JSONAdapter as DSPy does; [`two_step_call`]: DSPy's TwoStepAdapter (a
//!   main LM answers freely, an extraction LM fills the fields).
//!
//! - [`stream`]: streaming — [`StreamEvent`]s, the [`DeltaSink`] providers
//!   push token deltas into ([`Lm::call_streaming`]), the task-local
//!   [`stream::with_stream`] scope and DSPy's field listener.
//! - [`budget`] — [`Budget`] (`max_lm_calls`, `max_tokens`, `max_cost_usd`)
//!   and its task-local scope [`with_budget`]; every call through a
//!   [`SharedLm`] is charged to the budgets in scope.
//! - [`journal`] — [`Journal`]: a resumable run's finished units, appended
//!   and synced line by line beside the cache, keyed by [`RunIdentity`], and
//!   its task-local scope [`with_journal`].
//! - [`finetune`] — fine-tuning backends ([`FinetuneBackend`]; the
//!   OpenAI-compatible one with the `openai` feature), jobs and DSPy's
//!   training-data formats.
//! - [`callback`]: DSPy-style callbacks ([`Callback`], registered for a
//!   task-local scope with [`with_callbacks`]) and the `tracing` spans of
//!   the same events.
//! - [`retrieve`]: the [`Retriever`] trait and its task-local scope
//!   ([`with_retriever`]); with the `retrieval` feature DSPy's `Embeddings`,
//!   BM25 and the ColBERTv2 client.
//!
//! Invariant: this crate knows no module or optimizer; it turns a signature,
//! demos and inputs into a prediction through some `Lm`.

pub mod adapter_call;
pub mod budget;
pub mod cache;
pub mod callback;
pub mod client;
pub mod embed;
pub mod error;
pub mod finetune;
pub mod history;
pub mod journal;
pub mod limits;
pub mod lm;
pub mod native_tools;
pub mod providers;
pub mod registry;
pub mod request;
pub mod retrieve;
pub mod retry;
pub mod scope;
pub mod stream;
pub mod two_step_call;
pub mod usage;

pub use adapter_call::{
    AdapterCallOutput, AdapterChoice, PromptCache, call_with_adapter, call_with_adapter_cached,
    call_with_adapter_streamed,
};
pub use budget::{
    Budget, BudgetExceeded, BudgetKind, BudgetLimits, BudgetSpent, active_budgets, exhausted_in_scope, with_budget,
};
pub use callback::{
    CallEnd, CallId, CallKind, CallStart, Callback, CallbackError, CallbackErrorPolicy, Callbacks, with_callbacks,
};
pub use client::{LmBuilder, LmClient, lm};
pub use embed::Embedder;
pub use error::LmError;
pub use finetune::{
    FinetuneBackend, FinetuneJob, FinetuneRequest, FinetunedModel, JobEvent, JobProgress, SharedFinetuneBackend,
    TrainDataFormat, TrainingData, TrainingStatus, start_finetune,
};
pub use history::{History, HistoryEntry, format_history};
pub use journal::{DurableHook, DurableWrite, Journal, RunIdentity, current_journal, with_journal};
pub use limits::RateLimits;
pub use lm::{Lm, LmCapabilities, SharedLm};
pub use native_tools::call_with_native_tools;
pub use registry::{EmbedderConstructor, LmConstructor, ProviderRegistry};
pub use request::{CallConfig, Completion, FinishReason, LmRequest, LmResponse};
pub use retrieve::{Passage, Retriever, SharedRetriever, current_retriever, with_retriever};
pub use retry::RetryPolicy;
pub use scope::{clear_default_lm, current_lm, default_lm, resolve_lm, set_default_lm, with_lm};
pub use stream::{DeltaSink, FieldChunk, FieldListener, StreamAdapter, StreamEvent, StreamScope, TokenDelta};
pub use two_step_call::TwoStep;
pub use usage::{Price, PriceTable, UsageMeter, UsageReport, track_usage, track_usage_live};

/// Result alias for this crate.
pub type Result<T, E = LmError> = std::result::Result<T, E>;
