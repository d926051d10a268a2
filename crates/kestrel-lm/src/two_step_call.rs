//! DSPy 3.4.1's `TwoStepAdapter`: the LM in use answers a plain prompt
//! freely, then a second LM (the extraction model) fills the output fields
//! from that answer.
//!
//! The prompts are core's ([`kestrel_core::adapter::two_step`]); this file
//! makes the calls, as DSPy's `TwoStepAdapter.acall` does:
//!
//! 1. the main LM gets the two-step prompt with the caller's options
//!    (`n`, temperature...) and no `response_format`;
//! 2. each of its completions is handed, as the `text` input, to a
//!    ChatAdapter call of the extraction signature on the extraction LM,
//!    with no demos, default options and DSPy's JSON fallback; the first
//!    completion of that call is the parsed result.
//!
//! An extraction that cannot be parsed (even after the JSON fallback) is
//! [`LmError::Parse`] with DSPy's `TwoStepAdapter` error (the original
//! signature's fields, the main LM's answer, the extraction's error as its
//! first paragraph). Provider errors of either LM propagate as they are.
//! The usage returned is the sum over every call (main and extraction).

use std::fmt;

use kestrel_core::adapter::two_step;
use kestrel_core::{Example, Fields, Prediction, SignatureSpec};
use serde_json::Value;

use crate::adapter_call::{AdapterCallOutput, AdapterChoice, extraction_call};
use crate::error::LmError;
use crate::lm::SharedLm;
use crate::request::{CallConfig, LmRequest};

/// The two-step adapter's configuration: its extraction LM
/// (`dspy.TwoStepAdapter(extraction_model)`). Choose it with
/// [`AdapterChoice::TwoStep`].
#[derive(Clone)]
pub struct TwoStep {
    extraction: SharedLm,
}

impl TwoStep {
    /// A two-step adapter whose fields are extracted by `extraction_lm`.
    pub fn new(extraction_lm: impl Into<SharedLm>) -> Self {
        Self { extraction: extraction_lm.into() }
    }

    /// The extraction LM.
    pub fn extraction_lm(&self) -> &SharedLm {
        &self.extraction
    }
}

impl fmt::Debug for TwoStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwoStep").field("extraction_lm", &self.extraction.model()).finish()
    }
}

/// Two-step adapters are equal when they share one extraction LM.
impl PartialEq for TwoStep {
    fn eq(&self, other: &Self) -> bool {
        self.extraction.same_as(&other.extraction)
    }
}

impl From<TwoStep> for AdapterChoice {
    fn from(two_step: TwoStep) -> Self {
        AdapterChoice::TwoStep(two_step)
    }
}

/// One two-step call: the main LM `lm` with `config`, then one extraction
/// call per completion.
pub(crate) async fn call_two_step(
    lm: &SharedLm,
    adapter: &TwoStep,
    signature: &SignatureSpec,
    demos: &[Example],
    inputs: &Example,
    config: &CallConfig,
) -> Result<AdapterCallOutput, LmError> {
    // Built first: an invalid extraction signature (an output named `text`)
    // fails before any LM is called.
    let extractor = two_step::extractor_signature(signature)?;
    let request = LmRequest::new(two_step::format(signature, demos, inputs)).with_config(config);
    let response = lm.call(request).await?;
    if response.completions.is_empty() {
        return Err(LmError::EmptyResponse { model: response.model });
    }
    let mut usage = response.usage;
    let mut lm_calls = 1;
    let mut json_fallback = false;
    let mut cache_hit = response.cache_hit;
    let mut completions: Vec<Fields> = Vec::with_capacity(response.completions.len());
    for completion in &response.completions {
        let text = Example::from_pairs([(two_step::TEXT_FIELD, Value::String(completion.text.clone()))]);
        let out = match extraction_call(&adapter.extraction, &extractor, &text).await {
            Ok(out) => out,
            Err(LmError::Parse(e)) => {
                return Err(two_step::extraction_error(signature, &completion.text, &e).into());
            }
            Err(other) => return Err(other),
        };
        usage += out.prediction.usage();
        lm_calls += out.lm_calls;
        json_fallback |= out.json_fallback;
        cache_hit &= out.cache_hit;
        completions.push(out.prediction.fields().clone());
    }
    Ok(AdapterCallOutput {
        prediction: Prediction::from_completions(completions).with_usage(usage),
        lm_calls,
        json_fallback,
        cache_hit,
    })
}
