//! One call of the proposer's prompt model: a `Predict` on one of the
//! proposer's signatures, with the prompt model (or the LM in scope) and the
//! call options DSPy uses, returning the text of one output field.

use kestrel_core::{Example, SignatureSpec};
use kestrel_lm::{CallConfig, SharedLm};
use kestrel_modules::{ModuleError, ModuleExt, Predict};
use serde_json::Value;

use super::pyrepr::python_str;

/// Ask `signature` with `inputs` and return the text of its `output` field
/// (Python's `str()` of it; empty when the field is missing).
pub(crate) async fn ask(
    lm: Option<&SharedLm>,
    signature: &SignatureSpec,
    config: CallConfig,
    inputs: Example,
    output: &str,
) -> Result<String, ModuleError> {
    let mut predict = Predict::with_spec(signature.clone()).config(config);
    if let Some(lm) = lm {
        predict = predict.lm(lm.clone());
    }
    let prediction = predict.call_example(&inputs).await?;
    Ok(prediction.get(output).map(python_str).unwrap_or_default())
}

/// Inputs from (name, text) pairs.
pub(crate) fn inputs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Example {
    Example::from_pairs(pairs.into_iter().map(|(k, v)| (k, Value::String(v))))
}
