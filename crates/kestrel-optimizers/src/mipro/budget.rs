//! MIPROv2's budgets: `max_lm_calls` and `max_cost_usd`, checked against a
//! live [`UsageMeter`] between phases and before and after every trial.
//! Reaching one stops the compile cleanly with the best program so far.

use kestrel_lm::UsageMeter;

use crate::report::StopReason;

/// The budgets of one compile (either may be unset).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Budget {
    pub max_lm_calls: Option<u64>,
    pub max_cost_usd: Option<f64>,
}

impl Budget {
    /// The reason to stop now, if a budget is reached. Calls and cost are
    /// those of LM clients (`kestrel_lm::LmClient`) inside the compile.
    pub fn check(&self, meter: &UsageMeter, phase: &str) -> Option<StopReason> {
        if self.max_lm_calls.is_none() && self.max_cost_usd.is_none() {
            return None;
        }
        let usage = meter.snapshot().total;
        if let Some(limit) = self.max_lm_calls.filter(|&limit| usage.calls >= limit) {
            return Some(StopReason::BudgetReached {
                budget: "max_lm_calls".into(),
                limit: limit as f64,
                spent: usage.calls as f64,
                phase: phase.into(),
            });
        }
        if let Some(limit) = self.max_cost_usd.filter(|&limit| usage.cost_usd >= limit) {
            return Some(StopReason::BudgetReached {
                budget: "max_cost_usd".into(),
                limit,
                spent: usage.cost_usd,
                phase: phase.into(),
            });
        }
        None
    }
}
