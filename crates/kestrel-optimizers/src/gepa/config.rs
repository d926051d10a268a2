//! GEPA's settings that are not plain numbers: the metric-call budget
//! (`auto`, `max_full_evals`, `max_metric_calls`, with DSPy 3.4.1's
//! `auto_budget` formula), the candidate selection strategy and the
//! component selector.

use serde::Serialize;

use crate::error::OptimizerError;
use crate::mipro::AutoMode;

/// How much GEPA may spend, in metric calls (one program run and score of
/// one example). Exactly one is set, as DSPy asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GepaBudget {
    /// DSPy's `auto`: light, medium or heavy (`n` = 6, 12, 18 candidates),
    /// turned into metric calls by [`auto_budget`].
    Auto(AutoMode),
    /// DSPy's `max_full_evals`: this many evaluations of the train (+ val)
    /// set.
    MaxFullEvals(usize),
    /// DSPy's `max_metric_calls`.
    MaxMetricCalls(usize),
}

impl GepaBudget {
    /// The metric calls this budget allows for a program with
    /// `num_predictors` predictors, `trainset` training examples and an
    /// optional separate validation set of `valset` examples (DSPy's
    /// `compile`).
    pub fn metric_calls(self, num_predictors: usize, trainset: usize, valset: Option<usize>) -> usize {
        match self {
            GepaBudget::Auto(mode) => {
                auto_budget(num_predictors.max(1), mode.candidates(), valset.unwrap_or(trainset), 35, 5)
            }
            GepaBudget::MaxFullEvals(n) => n.saturating_mul(trainset + valset.unwrap_or(0)),
            GepaBudget::MaxMetricCalls(n) => n,
        }
    }
}

/// DSPy 3.4.1's `GEPA.auto_budget(num_preds, num_candidates, valset_size,
/// minibatch_size=35, full_eval_steps=5)`:
/// `N = int(max(2·(2·num_preds)·log2(num_candidates), 1.5·num_candidates))`
/// trials, and `V + 5·num_candidates + N·M + (periodic + extra)·V` metric
/// calls, where `periodic = (N + 1) // m + 1` and `extra = 1` when `N < m`.
/// `full_eval_steps` of 0 is treated as 1 (DSPy raises).
pub fn auto_budget(
    num_preds: usize,
    num_candidates: usize,
    valset_size: usize,
    minibatch_size: usize,
    full_eval_steps: usize,
) -> usize {
    let candidates = num_candidates as f64;
    let by_preds = 2.0 * (num_preds as f64 * 2.0) * candidates.log2();
    // Python's `int()` truncates toward zero.
    let num_trials = by_preds.max(1.5 * candidates) as usize;
    let m = full_eval_steps.max(1);
    let mut total = valset_size + num_candidates * 5 + num_trials * minibatch_size;
    if num_trials == 0 {
        return total;
    }
    let periodic_fulls = (num_trials + 1) / m + 1;
    let extra_final = usize::from(num_trials < m);
    total += (periodic_fulls + extra_final) * valset_size;
    total
}

/// Which candidate GEPA improves next (DSPy's
/// `candidate_selection_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CandidateSelection {
    /// A candidate drawn from the per-instance Pareto frontier, weighted by
    /// the validation examples it is best on (dominated ones removed).
    #[default]
    Pareto,
    /// The candidate with the best validation average (the first on ties).
    CurrentBest,
}

impl std::str::FromStr for CandidateSelection {
    type Err = OptimizerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pareto" => Ok(Self::Pareto),
            "current_best" => Ok(Self::CurrentBest),
            other => Err(OptimizerError::InvalidArgument {
                name: "candidate_selection_strategy",
                message: format!("invalid value {other:?}: must be pareto or current_best"),
            }),
        }
    }
}

/// Which predictors one reflective step rewrites (DSPy's
/// `component_selector`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ComponentSelection {
    /// One predictor per step, in turn (each candidate keeps its own turn,
    /// inherited from its parent).
    #[default]
    RoundRobin,
    /// Every predictor at every step.
    All,
}

impl std::str::FromStr for ComponentSelection {
    type Err = OptimizerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "round_robin" => Ok(Self::RoundRobin),
            "all" => Ok(Self::All),
            other => Err(OptimizerError::InvalidArgument {
                name: "component_selector",
                message: format!("invalid value {other:?}: must be round_robin or all"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_budget_matches_dspy() {
        // Python: GEPA(metric, auto=...).auto_budget(num_preds, n, valset_size)
        assert_eq!(auto_budget(1, 6, 100, 35, 5), 780);
        assert_eq!(auto_budget(1, 12, 100, 35, 5), 1190);
        assert_eq!(auto_budget(1, 18, 100, 35, 5), 1735);
        assert_eq!(auto_budget(2, 6, 2, 35, 5), 742);
        assert_eq!(GepaBudget::MaxFullEvals(3).metric_calls(1, 10, Some(5)), 45);
        assert_eq!(GepaBudget::MaxFullEvals(3).metric_calls(1, 10, None), 30);
    }
}
