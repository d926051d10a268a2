//! What [`BestOfN`](crate::BestOfN) and [`Refine`](crate::Refine) share:
//! one attempt of the wrapped module (under a fresh rollout id at
//! temperature 1.0, in a trace scope of its own, then scored), DSPy's
//! failure budget, and the rollout id to start from.

use std::any::Any;
use std::sync::Arc;

use kestrel_core::{Example, Prediction};
use kestrel_lm::CallConfig;
use serde::Serialize;

use crate::call_scope::{scope_rollout_id, with_call_config};
use crate::error::ModuleError;
use crate::hint_scope::{Hints, with_hints};
use crate::module::Module;
use crate::reward::Reward;
use crate::trace::{self, Trace, with_trace};

/// The temperature DSPy gives every attempt.
pub(crate) const ATTEMPT_TEMPERATURE: f32 = 1.0;

/// One finished, scored attempt.
pub(crate) struct Attempt<O> {
    /// The module's typed output.
    pub output: O,
    /// The same output as a prediction (what the reward saw).
    pub prediction: Prediction,
    /// The predictor calls the attempt made.
    pub trace: Trace,
    /// Its reward.
    pub reward: f64,
}

/// The first rollout id: the one in scope (an enclosing BestOfN, say), else
/// 0, as DSPy starts from the LM's `rollout_id` kwarg or 0.
pub(crate) fn first_rollout_id() -> u64 {
    scope_rollout_id().unwrap_or(0)
}

/// The rollout id of attempt `index` (wrapping, so a `start` near
/// `u64::MAX` cannot overflow).
pub(crate) fn attempt_rollout_id(start: u64, index: usize) -> u64 {
    start.wrapping_add(index as u64)
}

/// Run `module` once on `input` with `rollout_id` and temperature 1.0 in
/// scope (predictors that set their own options keep them, as in DSPy),
/// with `hints` when Refine has advice, then score it. The reward runs
/// outside the rollout scope and its own predictor calls are not traced, as
/// in DSPy.
pub(crate) async fn run_attempt<M: Module>(
    module: &M,
    input: M::Input,
    inputs: &Example,
    rollout_id: u64,
    reward: &dyn Reward,
    hints: Option<Arc<Hints>>,
) -> Result<Attempt<M::Output>, ModuleError> {
    let config =
        CallConfig { rollout_id: Some(rollout_id), temperature: Some(ATTEMPT_TEMPERATURE), ..CallConfig::default() };
    let (result, trace) = match hints {
        Some(hints) => with_call_config(config, with_trace(with_hints(hints, module.forward(input)))).await,
        None => with_call_config(config, with_trace(module.forward(input))).await,
    };
    let output = result?;
    let prediction = to_prediction(&output)?;
    let (score, _reward_calls) = with_trace(reward.score(inputs, &prediction)).await;
    Ok(Attempt { output, prediction, trace, reward: score? })
}

/// A module output as a [`Prediction`]: a prediction is kept whole (all
/// completions, usage), anything else goes through serde.
pub(crate) fn to_prediction<O: Serialize + 'static>(output: &O) -> Result<Prediction, ModuleError> {
    match (output as &dyn Any).downcast_ref::<Prediction>() {
        Some(p) => Ok(p.clone()),
        None => Ok(Prediction::from_serialize(output)?),
    }
}

/// DSPy's `fail_count`: failures are tolerated while the failing attempt's
/// index (from 0) is not above the remaining count, which each tolerated
/// failure lowers by one; past that the failure is raised. Unset (or 0)
/// means `N`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FailBudget {
    remaining: i64,
}

impl FailBudget {
    /// The budget for `n` attempts and the user's `fail_count`.
    pub(crate) fn new(n: usize, fail_count: Option<usize>) -> Self {
        let count = fail_count.filter(|&c| c > 0).unwrap_or(n);
        Self { remaining: i64::try_from(count).unwrap_or(i64::MAX) }
    }

    /// Absorb the failure of attempt `index`, or hand it back to be raised.
    pub(crate) fn absorb(&mut self, index: usize, error: ModuleError) -> Result<ModuleError, ModuleError> {
        if i64::try_from(index).unwrap_or(i64::MAX) > self.remaining {
            return Err(error);
        }
        self.remaining -= 1;
        Ok(error)
    }
}

/// Whether `reward` beats the best so far (DSPy starts from -inf and
/// needs strictly more, so NaN and -inf never win).
pub(crate) fn beats<O>(reward: f64, best: Option<&Attempt<O>>) -> bool {
    reward > best.map_or(f64::NEG_INFINITY, |b| b.reward)
}

/// The end of a BestOfN / Refine call: the best attempt's output, its
/// predictor calls handed to the caller's trace scope; or, when no attempt
/// won, the last failure, or (when every reward was NaN or -inf) a plain
/// message.
pub(crate) fn finish<O>(
    module: &'static str,
    best: Option<Attempt<O>>,
    attempts: usize,
    last_error: Option<ModuleError>,
) -> Result<O, ModuleError> {
    if let Some(best) = best {
        trace::extend(best.trace);
        return Ok(best.output);
    }
    Err(match last_error {
        Some(last) => ModuleError::AttemptsFailed { module, attempts, last: Box::new(last) },
        None => ModuleError::Module {
            module: module.into(),
            message: format!("none of the {attempts} attempt(s) got a reward above -inf"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err() -> ModuleError {
        ModuleError::Module { module: "t".into(), message: "boom".into() }
    }

    #[test]
    fn fail_budget_follows_dspy() {
        // N = 3, fail_count = N: the first two failures are absorbed, the third raised.
        let mut b = FailBudget::new(3, None);
        assert!(b.absorb(0, err()).is_ok());
        assert!(b.absorb(1, err()).is_ok());
        assert!(b.absorb(2, err()).is_err());
        // fail_count = 1: attempt 0 absorbed, attempt 1 raised.
        let mut b = FailBudget::new(5, Some(1));
        assert!(b.absorb(0, err()).is_ok());
        assert!(b.absorb(1, err()).is_err());
        // fail_count = 0 means N, as `fail_count or N`.
        let mut b = FailBudget::new(2, Some(0));
        assert!(b.absorb(0, err()).is_ok());
        assert!(b.absorb(1, err()).is_ok());
    }
}
