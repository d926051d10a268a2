//! The dataset summary of MIPROv2's grounded proposer (DSPy 3.4.1's
//! `create_dataset_summary`): observations on the first
//! `view_data_batch_size` examples (`DatasetDescriptor`), more observations
//! on each later batch given the ones so far
//! (`DatasetDescriptorWithPriorObservations`, at most 9 more batches;
//! replies starting with `COMPLETE` are skipped and the fifth one stops),
//! the observations concatenated with no separator, then a 2–3 sentence
//! `ObservationSummarizer` summary with its `Summary:` label stripped.
//!
//! Every call asks for `n=1` at temperature 1.0. The batches depend on one
//! another, so the calls are sequential. The `examples` input is Python's
//! `repr` of the batch of `dspy.Example`s, input keys sorted (see
//! [`super::pyrepr`]).

use kestrel_core::Example;
use kestrel_lm::{CallConfig, SharedLm};
use kestrel_modules::ModuleError;

use super::ask::{ask, inputs};
use super::proposer_prompts;
use super::pyrepr::{examples_repr, order_input_keys_in_string};
use super::strip_prefix::strip_prefix;
use crate::error::OptimizerError;

/// DSPy's limit on describer calls (the first batch included).
const MAX_CALLS: usize = 10;
/// `COMPLETE` replies tolerated before the batches stop.
const MAX_SKIPS: usize = 5;

/// The summary, or why there is none. A failure of the first or of the
/// summarizing call fails the summary (DSPy then proposes without it); a
/// failure on a later batch only ends the batches (`note` says so).
#[derive(Clone)]
pub(crate) struct SummaryOutcome {
    pub summary: Result<String, ModuleError>,
    pub note: Option<String>,
}

fn config() -> CallConfig {
    CallConfig { n: Some(1), temperature: Some(1.0), ..CallConfig::default() }
}

fn batch_text(batch: &[Example]) -> String {
    order_input_keys_in_string(&examples_repr(batch))
}

/// Summarize `trainset` with `lm` (or the LM in scope).
pub(crate) async fn create_dataset_summary(
    trainset: &[Example],
    view_data_batch_size: usize,
    lm: Option<&SharedLm>,
) -> Result<SummaryOutcome, OptimizerError> {
    let descriptor = proposer_prompts::dataset_descriptor()?;
    let with_prior = proposer_prompts::dataset_descriptor_with_prior_observations()?;
    let summarizer = proposer_prompts::observation_summarizer()?;
    let size = view_data_batch_size.max(1);

    let first = &trainset[..trainset.len().min(size)];
    let first = ask(lm, &descriptor, config(), inputs([("examples", batch_text(first))]), "observations").await;
    let mut observations = match first {
        Ok(text) => text,
        Err(error) => return Ok(SummaryOutcome { summary: Err(error), note: None }),
    };

    let mut note = None;
    let mut skips = 0;
    for (calls, start) in (size..trainset.len()).step_by(size).enumerate() {
        if calls + 1 >= MAX_CALLS {
            break;
        }
        let batch = &trainset[start..trainset.len().min(start + size)];
        let request = inputs([("examples", batch_text(batch)), ("prior_observations", observations.clone())]);
        match ask(lm, &with_prior, config(), request, "observations").await {
            Ok(more) if is_complete(&more) => {
                skips += 1;
                if skips >= MAX_SKIPS {
                    break;
                }
            }
            Ok(more) => observations.push_str(&more),
            Err(error) => {
                note = Some(format!("dataset summary: observations stop at example {start}: {error}"));
                break;
            }
        }
    }

    let summary = ask(lm, &summarizer, config(), inputs([("observations", observations)]), "summary").await;
    Ok(SummaryOutcome { summary: summary.map(|s| strip_prefix(&s)), note })
}

/// `len(text) >= 8 and text[:8].upper() == "COMPLETE"`.
fn is_complete(text: &str) -> bool {
    let head: String = text.chars().take(8).collect();
    head.chars().count() == 8 && head.to_uppercase() == "COMPLETE"
}

#[cfg(test)]
mod tests {
    use super::is_complete;

    #[test]
    fn complete_is_read_case_blind_from_the_first_eight_characters() {
        assert!(is_complete("COMPLETE"));
        assert!(is_complete("complete, nothing to add"));
        assert!(!is_complete("COMPLET"));
        assert!(!is_complete(" COMPLETE"));
    }
}
