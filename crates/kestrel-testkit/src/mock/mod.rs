//! The mock HTTP server: OpenAI- and Anthropic-compatible, on
//! `127.0.0.1:<free port>`, for provider tests over real HTTP and for
//! benchmarks with a simulated LM.
//!
//! # Routes
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/chat/completions` | a `chat.completion` with `n` choices from the [`Responder`] |
//! | `POST /v1/messages` | an Anthropic `message` from the [`Responder`] (`max_tokens` required) |
//! | `POST /v1/embeddings` | deterministic unit vectors of each input ([`embed`]) |
//! | `GET /v1/models` | the model ids given to [`MockServerBuilder::models`] |
//! | `GET /colbert?query=..&k=..`, `POST /colbert` | a ColBERTv2 server's `topk` over [`MockServerBuilder::colbert_corpus`] (shared-word ranking; see `colbert.rs`) |
//! | `POST /v1/files`, `DELETE /v1/files/{id}`, `POST /v1/fine_tuning/jobs`, `GET /v1/fine_tuning/jobs/{id}` (and `/events`), `POST /v1/fine_tuning/jobs/{id}/cancel` | OpenAI's fine-tuning API: jobs move `validating_files` → `queued` → `running` → `succeeded`/`failed` one step per retrieve ([`FinetuneBehavior`]); see `finetune.rs` |
//! | anything else | 404 in OpenAI's error shape (405 for a known path with the wrong method) |
//!
//! With `"stream": true` the two LM routes answer with server-sent events
//! as their providers do (OpenAI's `chat.completion.chunk`s and
//! `data: [DONE]`, usage last when `stream_options.include_usage` is set;
//! Anthropic's `message_start` … `message_stop`), the reply cut by
//! [`StreamChunking`] ([`MockServerBuilder::stream_chunking`]); faults apply
//! mid-stream ([`Fault::StreamCut`], [`Fault::StreamMalformed`]) and
//! [`MockServer::streams_cancelled`] counts streams whose client went away.
//!
//! A body that is not JSON or lacks what the API requires gets a 400 in the
//! route's provider error shape; a responder with no reply (a script that ran
//! out, a closure returning `Err`) gets a 500 naming the problem. Usage is
//! counted in whitespace-separated words.
//!
//! # Steering it
//!
//! - [`Responder`]: a [`crate::ScriptedLm`] or any
//!   `Fn(&LmRequest) -> Result<String, String>` ([`ReplyFn`]), or one that
//!   also takes the choice index ([`ChoiceFn`]), so `n` choices can differ.
//! - Tool calls (native function calling): [`Responder::replies`] (a
//!   sequence of [`MockReply`]s) or [`Responder::from_turn_fn`] answer with
//!   text and tool calls, written as OpenAI `tool_calls` or Anthropic
//!   `tool_use` blocks; a request's `tools` are parsed into
//!   [`kestrel_lm::LmRequest::tools`] (OpenAI's shape) for the responder.
//! - Faults ([`Fault`]): queued with [`MockServer::push_fault`] (next request
//!   to any route) or [`MockServer::push_fault_for`] (next request to one
//!   [`Route`]), used first in, first out; [`MockServer::set_fault_always`]
//!   for every request; [`MockServer::set_fault_plan`] ([`FaultPlan`])
//!   chooses per request (a rate of random faults, for soaks).
//! - Latency for every response: [`MockServerBuilder::latency`],
//!   [`MockServer::set_latency`] (a tokio sleep, so thousands of concurrent
//!   requests cost nothing but memory).
//! - Records ([`RecordedRequest`]: path, headers, JSON body, parsed
//!   [`kestrel_lm::LmRequest`], fault): [`MockServer::requests`];
//!   [`MockServerBuilder::record`]`(false)` keeps only the count.
//! - Concurrency: [`MockServer::in_flight`], [`MockServer::max_in_flight`].
//!
//! # Example
//!
//! ```
//! use kestrel_core::Message;
//! use kestrel_lm::providers::OpenAiProvider;
//! use kestrel_lm::{Lm, LmError, LmRequest};
//! use kestrel_testkit::ScriptedLm;
//! use kestrel_testkit::mock::{Fault, MockServer, Responder};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = MockServer::start(ScriptedLm::keyed([("France", "Paris")])).await?;
//! let provider = OpenAiProvider::new("gpt-4o-mini").base_url(server.base_url()).api_key("sk-test");
//! let ask = LmRequest::new(vec![Message::user("Capital of France?")]);
//!
//! server.push_fault(Fault::status(503)); // the next request fails
//! assert!(matches!(provider.call(ask.clone()).await, Err(LmError::Server { status: 503, .. })));
//! assert_eq!(provider.call(ask.clone()).await?.completions[0].text, "Paris");
//! assert_eq!(server.request_count(), 2);
//! assert_eq!(server.requests()[1].header("authorization"), Some("Bearer sk-test"));
//!
//! // A simulated LM: any closure from the request to the reply text.
//! server.set_responder(Responder::from_fn(|request| {
//!     let last = request.messages.last().map(|m| m.content.len()).unwrap_or(0);
//!     Ok(format!("{last} characters"))
//! }));
//! assert_eq!(provider.call(ask).await?.completions[0].text, "18 characters");
//! # Ok(())
//! # }
//! ```

mod anthropic;
mod colbert;
mod embeddings;
mod fault_reply;
mod faults;
mod finetune;
mod openai;
mod record;
mod reply;
mod responder;
mod routes;
mod server;
mod state;
mod stream;
mod wire;

pub use embeddings::{DEFAULT_DIMENSIONS, embed};
pub use faults::{Fault, FaultPlan, StatusFault};
pub use finetune::{FinetuneBehavior, FinetuneOutcome, FinetunedHook, MockFile, MockJob, fine_tuned_model_name};
pub use record::RecordedRequest;
pub use reply::MockReply;
pub use responder::{ChoiceFn, ReplyFn, Responder, TurnFn};
pub use routes::Route;
pub use server::{MockServer, MockServerBuilder};
pub use stream::StreamChunking;
