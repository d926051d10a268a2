//! Test support for Kestrel:
//!
//! - [`ScriptedLm`]: an in-process LM like DSPy's `DummyLM` that answers
//!   from a script and records every request;
//! - [`mock::MockServer`]: an OpenAI- and Anthropic-compatible HTTP server on
//!   `127.0.0.1:<free port>` that answers from a script or a closure,
//!   records requests, simulates latency and injects faults (error statuses
//!   with `Retry-After`, delays, dropped connections, truncated and
//!   malformed bodies), so providers are tested over real HTTP;
//! - [`RuleLm`]: the rule-scripted LM of DSPy's `optimizer_call` fixtures
//!   (replies as a pure function of the request), with a shared
//!   [`RequestLog`] of every request in order.
//! - [`simulated::SimulatedLm`]: the simulated LM of benchmarks and
//!   examples — deterministic answers to generated word problems whose
//!   accuracy follows documented rules (demos, instructions, reasoning),
//!   served by the mock server.
//! - [`LetterCountEmbedder`] and [`HashedWordsEmbedder`]: deterministic
//!   offline [`kestrel_lm::Embedder`]s (KNNFewShot's fixture, benchmarks).
//! - [`RagReaderLm`]: the offline LM of the multi-hop RAG example — reads
//!   the retrieved passages in the prompt and answers by documented
//!   word-overlap rules (a simulation of the plumbing, not a model).
//! - [`mcp`] (feature `mcp`): a small MCP server (stdio and streamable HTTP)
//!   for the MCP client's tests and example.
//!
//! It is a dev-dependency: nothing here reaches a network beyond loopback.

#[cfg(feature = "mcp")]
pub mod mcp;
pub mod mock;
mod rag_reader;
mod rules;
mod scripted;
pub mod simulated;
mod test_embedders;

pub use rag_reader::{RAG_READER_MODEL, RagReaderLm};
pub use rules::{LoggedRequest, RequestLog, Rule, RuleLm};
pub use scripted::{Reply, ScriptedLm, format_fields};
pub use test_embedders::{HashedWordsEmbedder, LetterCountEmbedder};
