//! How optimizers stop on a budget (`kestrel_lm::with_budget`): telling a
//! budget refusal from a real failure, and the [`StopReason`] they report.
//!
//! Every LM call of a compile (teacher runs, proposals, the candidate
//! evaluations) is charged to the budgets in scope. Once one refuses a call,
//! the work under it is incomplete: an optimizer keeps only what finished
//! before (a candidate whose evaluation was cut is not scored), stops, and
//! returns the best program so far with [`StopReason::BudgetReached`].
//! `measured` (optimizer.rs) makes sure every compile reports the stop even
//! if the optimizer noticed nothing.

use kestrel_eval::{EvaluationResult, ExampleError};
use kestrel_lm::{BudgetExceeded, LmError, exhausted_in_scope};

use crate::report::StopReason;

/// The budget stop of a compile phase.
pub(crate) fn budget_stop(why: BudgetExceeded, phase: &str) -> StopReason {
    StopReason::BudgetReached {
        budget: why.kind.as_str().into(),
        limit: why.limit,
        spent: why.spent,
        phase: phase.into(),
    }
}

/// The budget refusal behind a failed example: its typed error, else a
/// budget in scope that refused (an error some module wrapped).
pub(crate) fn refusal(error: &ExampleError) -> Option<BudgetExceeded> {
    match error.lm_error() {
        Some(LmError::BudgetExhausted(why)) => Some(*why),
        _ => exhausted_in_scope(),
    }
}

/// The budget that cut an evaluation short, if one did (its score is then
/// not comparable with complete ones).
pub(crate) fn cut_by_budget(result: &EvaluationResult) -> Option<BudgetExceeded> {
    match &result.stop {
        Some(kestrel_eval::StopReason::BudgetReached { budget, limit, spent }) => {
            Some(BudgetExceeded { kind: *budget, limit: *limit, spent: *spent })
        }
        _ => None,
    }
}

/// True when the stop is a budget's.
pub(crate) fn is_budget_stop(stop: Option<&StopReason>) -> bool {
    matches!(stop, Some(StopReason::BudgetReached { .. }))
}
