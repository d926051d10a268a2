//! A cost estimate before a compile starts: an upper bound of the program
//! runs an optimizer makes ([`Optimizer::program_runs_bound`]), turned into
//! LM calls, tokens and dollars with a [`CallProfile`] measured on the
//! program (typically from the baseline evaluation run before compiling),
//! and capped by the budget in force.
//!
//! Method: `LM calls = ⌈runs × calls per run⌉ + extra calls` (proposals,
//! reflections, each counted as one call); `tokens = LM calls × tokens per
//! call` (prompt and completion separately); `cost = tokens × the model's
//! price` when the [`PriceTable`] knows it. A budget's `max_lm_calls`,
//! `max_tokens` and `max_cost_usd` cap the figures (a budgeted compile
//! cannot spend more). Proposal prompts are longer than task prompts and
//! demos make prompts grow during a compile, so the token figures are a
//! rough guide; the run bound itself is an upper bound (bootstraps usually
//! stop early), except for optimizers that return `None` (unknown).

use std::fmt;

use kestrel_lm::{BudgetLimits, PriceTable, UsageReport};
use serde::Serialize;

use crate::dyn_optimizer::DynOptimizer;
use crate::optimizer::Optimizer;

/// At most how many program runs (teacher runs and evaluation runs) a
/// compile makes, and how many LM calls it makes besides (proposals,
/// reflections).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProgramRuns {
    /// Program runs, at most.
    pub runs: u64,
    /// Other LM calls, at most.
    pub extra_lm_calls: u64,
}

/// What one program run costs, measured: LM calls per run, and prompt and
/// completion tokens per paid call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CallProfile {
    /// LM calls per program run (one per predictor call).
    pub lm_calls_per_run: f64,
    /// Prompt tokens per paid call.
    pub prompt_tokens_per_call: f64,
    /// Completion tokens per paid call.
    pub completion_tokens_per_call: f64,
}

impl CallProfile {
    /// The profile of `runs` program runs that used `usage` (an evaluation's
    /// [`kestrel_eval::EvaluationResult::usage`] over its examples); `None`
    /// when nothing was paid for (every call a cache hit), as then no
    /// token figure is known.
    pub fn from_usage(runs: usize, usage: &UsageReport) -> Option<CallProfile> {
        let total = &usage.total;
        let paid = total.calls.saturating_sub(total.cache_hits);
        if runs == 0 || paid == 0 {
            return None;
        }
        Some(CallProfile {
            lm_calls_per_run: total.calls as f64 / runs as f64,
            prompt_tokens_per_call: total.prompt_tokens as f64 / paid as f64,
            completion_tokens_per_call: total.completion_tokens as f64 / paid as f64,
        })
    }
}

/// The estimate of one compile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompileEstimate {
    /// The optimizer.
    pub optimizer: String,
    /// The model the prices are for.
    pub model: String,
    /// The optimizer's bound (`None`: it gives none).
    pub bound: Option<ProgramRuns>,
    /// LM calls, at most (after the budget's cap).
    pub lm_calls: Option<u64>,
    /// Prompt tokens (estimated, after the budget's cap).
    pub prompt_tokens: Option<u64>,
    /// Completion tokens (estimated, after the budget's cap).
    pub completion_tokens: Option<u64>,
    /// US dollars, when the model's price is known (after the budget's cap).
    pub cost_usd: Option<f64>,
    /// Which budget capped the figures, if one did.
    pub capped_by: Option<&'static str>,
}

/// Estimate a compile of a program with `predictors` predictors on
/// `trainset` training and `valset` validation examples (the trainset's
/// size when the optimizer validates on it), with `profile` measured on the
/// program, priced for `model`, capped by `budget`.
pub fn estimate_compile(
    optimizer: &dyn DynOptimizer,
    sizes: (usize, usize, usize),
    profile: &CallProfile,
    model: &str,
    prices: &PriceTable,
    budget: Option<&BudgetLimits>,
) -> CompileEstimate {
    let (trainset, valset, predictors) = sizes;
    let bound = optimizer.program_runs_bound_dyn(trainset, valset, predictors);
    let mut lm_calls =
        bound.map(|b| ((b.runs as f64 * profile.lm_calls_per_run).ceil() as u64).saturating_add(b.extra_lm_calls));
    let mut capped_by = None;
    if let Some(cap) = budget.and_then(|b| b.max_lm_calls) {
        if lm_calls.is_none_or(|calls| calls > cap) {
            lm_calls = Some(cap);
            capped_by = Some("max_lm_calls");
        }
    }
    let tokens = |per_call: f64| lm_calls.map(|calls| (calls as f64 * per_call).round() as u64);
    let (mut prompt_tokens, mut completion_tokens) =
        (tokens(profile.prompt_tokens_per_call), tokens(profile.completion_tokens_per_call));
    if let (Some(cap), Some(p), Some(c)) = (budget.and_then(|b| b.max_tokens), prompt_tokens, completion_tokens) {
        if p + c > cap {
            let scale = cap as f64 / (p + c) as f64;
            prompt_tokens = Some((p as f64 * scale).round() as u64);
            completion_tokens = Some((c as f64 * scale).round() as u64);
            capped_by = Some("max_tokens");
        }
    }
    let mut cost_usd = match (prompt_tokens, completion_tokens) {
        (Some(p), Some(c)) => prices.cost(model, p, c),
        _ => None,
    };
    if let (Some(cap), Some(usd)) = (budget.and_then(|b| b.max_cost_usd), cost_usd) {
        if usd > cap {
            cost_usd = Some(cap);
            capped_by = Some("max_cost_usd");
        }
    }
    CompileEstimate {
        optimizer: optimizer.optimizer_name().to_string(),
        model: model.to_string(),
        bound,
        lm_calls,
        prompt_tokens,
        completion_tokens,
        cost_usd,
        capped_by,
    }
}

impl fmt::Display for CompileEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.optimizer)?;
        match (&self.bound, self.lm_calls) {
            (Some(b), Some(calls)) => {
                write!(f, "at most {} program runs + {} other calls → ≤ {calls} LM calls", b.runs, b.extra_lm_calls)?
            }
            (None, Some(calls)) => write!(f, "no bound known → ≤ {calls} LM calls")?,
            (_, None) => return write!(f, "no bound known (set a max_lm_calls budget to cap it)"),
        }
        if let (Some(p), Some(c)) = (self.prompt_tokens, self.completion_tokens) {
            write!(f, ", ~{p} prompt + {c} completion tokens")?;
        }
        match self.cost_usd {
            Some(usd) => write!(f, ", ~${usd:.4}")?,
            None => write!(f, ", cost unknown (no price for {})", self.model)?,
        }
        if let Some(budget) = self.capped_by {
            write!(f, " (capped by {budget})")?;
        }
        Ok(())
    }
}

/// `n` as a `u64`.
pub(crate) fn n(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The bound of a trait object (forwarded by the blanket `DynOptimizer` impl).
pub(crate) fn bound_of<O: Optimizer>(
    optimizer: &O,
    trainset: usize,
    valset: usize,
    predictors: usize,
) -> Option<ProgramRuns> {
    optimizer.program_runs_bound(trainset, valset, predictors)
}
