//! [`Retrieve`]: DSPy's `dspy.Retrieve(k)` — a query (or several) in, a
//! [`Prediction`] with `passages` out, from the module's own retriever or
//! the task-local one ([`kestrel_lm::with_retriever`]).
//!
//! Retrieval is not an LM call: like DSPy's, it is not recorded in
//! [`crate::trace`] (optimizers see predictors only). Each call is a
//! `tracing` debug span `retrieve` (retriever, `k`, number of queries) with
//! an event giving the passage count. Its learnable state is DSPy's:
//! `{"k": k}` ([`Retrieve::dump_state`], [`Retrieve::load_state`]).

use std::fmt;

use kestrel_core::{Fields, Prediction};
use kestrel_lm::retrieve::resolve_retriever;
use kestrel_lm::{Passage, SharedRetriever};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::error::ModuleError;
use crate::module::Module;
use crate::predictor::{Parameter, Predictor, Predictors, StateMut, StateRef, leaf_path};

/// DSPy's default `k`.
const DEFAULT_K: usize = 3;

/// One query or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Queries {
    /// A single query: `passages` is a list of texts.
    One(String),
    /// Several queries: `passages` is one list of texts per query, in order.
    Many(Vec<String>),
}

impl From<&str> for Queries {
    fn from(query: &str) -> Self {
        Queries::One(query.to_string())
    }
}

impl From<String> for Queries {
    fn from(query: String) -> Self {
        Queries::One(query)
    }
}

impl From<Vec<String>> for Queries {
    fn from(queries: Vec<String>) -> Self {
        Queries::Many(queries)
    }
}

/// What [`Retrieve`] takes: `query` (one or several) and an optional `k`
/// overriding the module's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrieveInput {
    /// The query or queries.
    pub query: Queries,
    /// Passages per query for this call (default: the module's `k`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
}

impl RetrieveInput {
    /// One query with the module's `k`.
    pub fn new(query: impl Into<Queries>) -> Self {
        Self { query: query.into(), k: None }
    }
}

/// DSPy's `dspy.Retrieve`: `k` passages per query from a retriever.
#[derive(Clone)]
pub struct Retrieve {
    k: usize,
    retriever: Option<SharedRetriever>,
}

impl fmt::Debug for Retrieve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retrieve")
            .field("k", &self.k)
            .field("retriever", &self.retriever.as_ref().map(|r| r.name()))
            .finish()
    }
}

impl Default for Retrieve {
    fn default() -> Self {
        Self::new(DEFAULT_K)
    }
}

impl Retrieve {
    /// A module returning `k` passages per query (DSPy's default is 3) from
    /// the retriever in scope.
    pub fn new(k: usize) -> Self {
        Self { k, retriever: None }
    }

    /// Builder: passages per query.
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Passages per query.
    pub fn get_k(&self) -> usize {
        self.k
    }

    /// Builder: use this retriever instead of the one in scope.
    pub fn retriever(mut self, retriever: SharedRetriever) -> Self {
        self.retriever = Some(retriever);
        self
    }

    /// The module's own retriever, if any.
    pub fn get_retriever(&self) -> Option<&SharedRetriever> {
        self.retriever.as_ref()
    }

    /// The passages (scores and ids too) for one query: the module's own
    /// retriever, else the one in scope, else [`kestrel_lm::LmError::NoRetriever`].
    pub async fn passages(&self, query: &str, k: Option<usize>) -> Result<Vec<Passage>, ModuleError> {
        let retriever = resolve_retriever(self.retriever.as_ref())?;
        let k = k.unwrap_or(self.k);
        let span = tracing::debug_span!("retrieve", retriever = retriever.name(), k, queries = 1);
        let passages = retriever.retrieve(query, k).instrument(span).await?;
        tracing::debug!(passages = passages.len(), "retrieved");
        Ok(passages)
    }

    /// The passages of each query, in order (one batch for the retriever).
    pub async fn passages_batch(&self, queries: &[String], k: Option<usize>) -> Result<Vec<Vec<Passage>>, ModuleError> {
        let retriever = resolve_retriever(self.retriever.as_ref())?;
        let k = k.unwrap_or(self.k);
        let span = tracing::debug_span!("retrieve", retriever = retriever.name(), k, queries = queries.len());
        let passages = retriever.retrieve_batch(queries, k).instrument(span).await?;
        tracing::debug!(passages = passages.iter().map(Vec::len).sum::<usize>(), "retrieved");
        Ok(passages)
    }

    /// DSPy's `dump_state()`: `{"k": k}`.
    pub fn dump_state(&self) -> Value {
        json!({ "k": self.k })
    }

    /// DSPy's `load_state(state)`: reads `k` (a non-negative integer); other
    /// keys are ignored. A malformed state changes nothing and is
    /// [`ModuleError::State`].
    pub fn load_state(&mut self, state: &Value) -> Result<(), ModuleError> {
        if let Some(k) = read_k(state)? {
            self.k = k;
        }
        Ok(())
    }
}

fn texts(passages: Vec<Passage>) -> Value {
    Value::Array(passages.into_iter().map(|p| Value::String(p.text)).collect())
}

impl Module for Retrieve {
    type Input = RetrieveInput;
    type Output = Prediction;

    /// DSPy's `forward(query, k)`: `Prediction(passages=[...])`; for several
    /// queries `passages` holds one list per query.
    async fn forward(&self, input: RetrieveInput) -> Result<Prediction, ModuleError> {
        let passages = match &input.query {
            Queries::One(query) => texts(self.passages(query, input.k).await?),
            Queries::Many(queries) => {
                Value::Array(self.passages_batch(queries, input.k).await?.into_iter().map(texts).collect())
            }
        };
        Ok(Prediction::new(Fields::from_iter([("passages".to_string(), passages)])))
    }
}

/// A retriever holds no predictors; in a `#[derive(Module)]` program its
/// state (`{"k": k}`) is saved under its field's path, as DSPy saves it.
impl Predictors for Retrieve {
    fn visit_predictors(&self, _: &str, _: &mut dyn FnMut(&str, &dyn Predictor)) {}
    fn visit_predictors_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut dyn Predictor)) {}
    fn visit_state(&self, path: &str, visit: &mut dyn FnMut(&str, StateRef<'_>)) {
        visit(leaf_path(path), StateRef::Parameter(self));
    }
    fn visit_state_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, StateMut<'_>)) {
        visit(leaf_path(path), StateMut::Parameter(self));
    }
}

impl Parameter for Retrieve {
    fn parameter_state(&self) -> Value {
        self.dump_state()
    }
    fn check_parameter_state(&self, state: &Value) -> Result<(), ModuleError> {
        read_k(state).map(|_| ())
    }
    fn set_parameter_state(&mut self, state: &Value) -> Result<(), ModuleError> {
        self.load_state(state)
    }
}

/// The `k` of a saved state (`None`: no `k` key, nothing to change).
fn read_k(state: &Value) -> Result<Option<usize>, ModuleError> {
    let malformed = |message: String| ModuleError::State { at: "k".into(), message };
    let Value::Object(map) = state else {
        return Err(ModuleError::State { at: String::new(), message: format!("expected an object, got {state}") });
    };
    match map.get("k") {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|k| usize::try_from(k).ok())
            .map(Some)
            .ok_or_else(|| malformed(format!("expected a non-negative integer, got {n}"))),
        Some(other) => Err(malformed(format!("expected a non-negative integer, got {other}"))),
    }
}
