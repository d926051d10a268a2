//! Kestrel: DSPy for Rust.
//!
//! Declare what each LM step must do (a *signature*), compose steps into
//! *modules*, and (with the optimizer crates) compile the program against a
//! metric. This facade re-exports the Kestrel crates as modules plus a small
//! [`prelude`]:
//!
//! | module | crate | holds |
//! |---|---|---|
//! | [`core`] | `kestrel-core` | signatures, examples, predictions, adapters, traces |
//! | [`lm`] | `kestrel-lm` | the `Lm` trait, requests, LM scoping, adapter calls, retrievers (`lm::retrieve`; DSPy's `Embeddings`, BM25 and ColBERTv2 with the `retrieval` feature) |
//! | [`modules`] | `kestrel-modules` | `Module`, `Predict`, `ChainOfThought`, `ReAct`, `BestOfN`, `Refine`, `Retrieve`, save/load, trace scopes |
//! | [`eval`] | `kestrel-eval` | `Evaluate`, metrics, datasets |
//! | [`optimizers`] | `kestrel-optimizers` | `LabeledFewShot`, `BootstrapFewShot`, `BootstrapFewShotWithRandomSearch`, `Copro`, `MiproV2`, `Gepa`, `Simba`, `KnnFewShot`, `Ensemble` |
//! | `local` (feature `local`) | `kestrel-local` | in-process GGUF chat models and MiniLM embeddings |
//!
//! [`providers`] builds LMs from model strings of every provider this
//! build has (`local/…` too, with the feature `local`).
//!
//! ```
//! use kestrel::prelude::*;
//!
//! let qa = Predict::from_signature("question -> answer").unwrap();
//! assert_eq!(qa.signature_spec().to_string(), "question -> answer");
//! ```

pub use kestrel_core as core;
pub use kestrel_eval as eval;
pub use kestrel_lm as lm;
/// In-process local models (cargo feature `local`): `kestrel-local`.
#[cfg(feature = "local")]
pub use kestrel_local as local;
pub use kestrel_modules as modules;
pub use kestrel_optimizers as optimizers;

pub mod providers;

pub use kestrel_lm::{set_default_lm, with_lm, with_retriever};
pub use kestrel_macros::{Module, Signature};

mod error;
pub use error::{Error, Result};

/// The names most programs need.
pub mod prelude {
    pub use crate::{Error, Result};
    pub use kestrel_core::{
        Adapter, ChatAdapter, Dynamic, Example, FieldType, History, Image, JsonAdapter, Prediction, Signature,
        SignatureSpec, SignatureTypes, ToolCall, ToolCalls, ToolSpec, XmlAdapter,
    };
    pub use kestrel_eval::{Dataset, Evaluate, EvaluationResult, Metric, Score};
    pub use kestrel_lm::{
        AdapterChoice, CallConfig, Lm, Retriever, SharedLm, SharedRetriever, TwoStep, set_default_lm, with_lm,
        with_retriever,
    };
    pub use kestrel_macros::{Module, Signature};
    pub use kestrel_modules::{
        BestOfN, ChainOfThought, Module, ModuleExt, Predict, Predictor, Predictors, PredictorsExt, ProgramState, ReAct,
        Refine, Retrieve, Tool, Trace, WithReasoning, WithTrajectory, with_trace,
    };
    pub use kestrel_optimizers::{
        AutoMode, BootstrapFewShot, BootstrapFewShotWithRandomSearch, Compiled, Copro, Gepa, LabeledFewShot, MiproV2,
        Optimizer,
    };
    pub use kestrel_optimizers::{Ensemble, KnnFewShot, Simba};
    /// Derive it on your own struct and enum field types (they become JSON
    /// schemas in prompts).
    pub use schemars::JsonSchema;
}
