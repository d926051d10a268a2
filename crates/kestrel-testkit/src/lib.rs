//! Test support for Kestrel: [`ScriptedLm`], an in-process LM like DSPy's
//! `DummyLM` that answers from a script and records every request.
//!
//! It is a dev-dependency: nothing here reaches a network. (The
//! OpenAI-compatible mock HTTP server arrives with the LM-layer issue.)

pub mod mock;
mod scripted;

pub use scripted::{Reply, ScriptedLm, format_fields};
