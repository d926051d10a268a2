//! Test support for Kestrel:
//!
//! - [`ScriptedLm`]: an in-process LM like DSPy's `DummyLM` that answers
//!   from a script and records every request;
//! - [`mock::MockServer`]: an OpenAI- and Anthropic-compatible HTTP server on
//!   `127.0.0.1:<free port>` that answers from a script or a closure,
//!   records requests, simulates latency and injects faults (error statuses
//!   with `Retry-After`, delays, dropped connections, truncated and
//!   malformed bodies), so providers are tested over real HTTP;
//! - [`simulated::SimulatedLm`]: the simulated LM of benchmarks and
//!   examples — deterministic answers to generated word problems whose
//!   accuracy follows documented rules (demos, instructions, reasoning),
//!   served by the mock server.
//!
//! It is a dev-dependency: nothing here reaches a network beyond loopback.

pub mod mock;
mod scripted;
pub mod simulated;

pub use scripted::{Reply, ScriptedLm, format_fields};
