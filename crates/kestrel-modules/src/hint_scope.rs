//! Refine's hints: a task-local scope under which every predictor call gets
//! an extra `hint_` input ("A hint to the module from an earlier run") whose
//! value is the advice for that predictor, or `N/A` when the feedback step
//! gave none. DSPy does this by wrapping the adapter; here `Predict` asks
//! the scope, so the wrapped program is never modified.
//!
//! A call outside any scope pays one failed task-local lookup. Scopes nest
//! (the innermost wins) and, like every Kestrel scope, do not cross
//! `tokio::spawn`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use kestrel_core::{Example, FieldSpec, FieldType, PredictorId, SignatureSpec};
use serde_json::Value;

use crate::error::ModuleError;

/// The hint field's name, as DSPy names it.
pub(crate) const HINT_FIELD: &str = "hint_";
/// The hint field's description, as DSPy words it.
const HINT_DESC: &str = "A hint to the module from an earlier run";
/// The hint a predictor without advice gets.
const NO_ADVICE: &str = "N/A";

/// Advice per predictor for one attempt.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hints {
    by_predictor: HashMap<PredictorId, String>,
}

impl Hints {
    /// Hints from (predictor id, advice) pairs.
    pub(crate) fn new(pairs: impl IntoIterator<Item = (PredictorId, String)>) -> Self {
        Self { by_predictor: pairs.into_iter().collect() }
    }
}

tokio::task_local! {
    static HINTS: Arc<Hints>;
}

/// Run `future` with `hints` given to every predictor call inside it.
pub(crate) async fn with_hints<F: Future>(hints: Arc<Hints>, future: F) -> F::Output {
    HINTS.scope(hints, future).await
}

/// When a hint scope is active: `signature` with the `hint_` input appended
/// and `inputs` with the predictor's hint. `None` outside any scope.
pub(crate) fn hinted(
    id: PredictorId,
    signature: &SignatureSpec,
    inputs: &Example,
) -> Option<Result<(SignatureSpec, Example), ModuleError>> {
    let hint =
        HINTS.try_with(|hints| hints.by_predictor.get(&id).cloned().unwrap_or_else(|| NO_ADVICE.to_string())).ok()?;
    // A nested Refine's hint replaces the outer one.
    let extended = match signature.field(HINT_FIELD) {
        Some(_) => Ok(signature.clone()),
        None => signature.clone().append(FieldSpec::input(HINT_FIELD, FieldType::Str).with_desc(HINT_DESC)),
    };
    Some(match extended {
        Ok(signature) => Ok((signature, inputs.clone().with(HINT_FIELD, Value::String(hint)))),
        Err(e) => Err(e.into()),
    })
}
