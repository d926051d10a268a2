//! MIPROv2's own budgets (`max_lm_calls`, `max_tokens`, `max_cost_usd` on
//! the optimizer): soft limits, checked against a live [`UsageMeter`]
//! between phases and before and after every trial, with the limit logic of
//! `kestrel_lm::BudgetLimits`. A budget in scope (`kestrel_lm::with_budget`)
//! that refused a call stops the compile at the same points. Either way the
//! compile ends cleanly with the best program so far.

use kestrel_lm::{BudgetLimits, BudgetSpent, UsageMeter, exhausted_in_scope};

use crate::budget_stop::budget_stop;
use crate::report::StopReason;

/// The budgets of one compile.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Budget {
    pub limits: BudgetLimits,
}

impl Budget {
    /// The reason to stop now, if a budget is reached. Calls, tokens and
    /// cost are those of LM clients (`kestrel_lm::LmClient`) inside the
    /// compile.
    pub fn check(&self, meter: &UsageMeter, phase: &str) -> Option<StopReason> {
        if let Some(why) = exhausted_in_scope() {
            return Some(budget_stop(why, phase));
        }
        if self.limits.is_unlimited() {
            return None;
        }
        let usage = meter.snapshot().total;
        let spent = BudgetSpent {
            lm_calls: usage.calls,
            tokens: usage.prompt_tokens.saturating_add(usage.completion_tokens),
            cost_usd: usage.cost_usd,
        };
        self.limits.reached(&spent).map(|why| budget_stop(why, phase))
    }
}
