//! [`EvaluationResult`]: what one `Evaluate` run returns — the DSPy-style
//! percentage, one [`EvalRow`] per finished example in devset order, error
//! count, why the run stopped early (if it did), usage and wall time.

use std::fmt;
use std::time::Duration;

use kestrel_core::Prediction;
use kestrel_lm::UsageReport;
use serde::{Serialize, Serializer};

use crate::evaluate::example_error::ExampleError;
use crate::evaluate::example_ref::ExampleRef;
use crate::score::Score;

/// Why a run ended before every example was evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// `max_errors` examples failed (program or metric errors).
    TooManyErrors {
        /// Errors seen when the run stopped.
        errors: usize,
        /// The budget that was exceeded.
        max_errors: usize,
    },
    /// The cancellation token fired or Ctrl-C was pressed.
    Cancelled,
    /// A budget in scope (`kestrel_lm::with_budget`, [`crate::Evaluate::budget`])
    /// refused an LM call: the examples that finished are kept, the one
    /// whose call was refused (and any not started) are not scored.
    BudgetReached {
        /// The budget (`max_lm_calls`, `max_tokens`, `max_cost_usd`).
        budget: kestrel_lm::BudgetKind,
        /// Its limit.
        limit: f64,
        /// What had been spent when the call was refused.
        spent: f64,
    },
}

impl StopReason {
    /// The budget stop for `why`.
    pub fn budget(why: kestrel_lm::BudgetExceeded) -> Self {
        StopReason::BudgetReached { budget: why.kind, limit: why.limit, spent: why.spent }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::TooManyErrors { errors, max_errors } => {
                write!(f, "stopped after {errors} errors (max_errors = {max_errors})")
            }
            StopReason::Cancelled => f.write_str("cancelled"),
            StopReason::BudgetReached { budget, limit, spent } => {
                write!(f, "budget {budget} = {limit} reached (spent {spent})")
            }
        }
    }
}

/// The outcome for one example.
///
/// - success: `prediction` is `Some`, `error` is `None`;
/// - the program failed: `prediction` is `None`, `error` says why, and
///   `score` is the failure score;
/// - the metric failed: `prediction` is `Some`, `error` says why, and
///   `score` is the failure score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalRow {
    /// Position of the example in the devset.
    pub index: usize,
    /// The example (a handle into the shared devset; derefs to
    /// [`kestrel_core::Example`]).
    pub example: ExampleRef,
    /// What the program returned, unless it failed.
    pub prediction: Option<Prediction>,
    /// The metric's score (the failure score when anything failed).
    pub score: Score,
    /// The program's or metric's error, if one failed (typed: match
    /// [`ExampleError`] or ask [`ExampleError::lm_error`]; serialized as
    /// its text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ExampleError>,
}

impl EvalRow {
    /// True when the program and the metric both succeeded.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// The result of `Evaluate::run`.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluationResult {
    /// DSPy's score: `round(100 * sum / total, 2)`, where examples without a
    /// score (failed, or never run because the run stopped early) count as
    /// the failure score.
    pub score: f64,
    /// Number of examples in the devset.
    pub total: usize,
    /// Examples whose program or metric failed.
    pub errors: usize,
    /// Why the run stopped early; `None` when every example was evaluated.
    pub stop: Option<StopReason>,
    /// The metric's name (the score column of tables and CSV).
    pub metric_name: String,
    /// The score given to examples without one.
    pub failure_score: f64,
    /// Wall time of the run.
    #[serde(rename = "elapsed_secs", serialize_with = "as_secs")]
    pub elapsed: Duration,
    /// LM calls, tokens and cost of the run (calls made through an LM client,
    /// by the program and by the metric).
    pub usage: UsageReport,
    /// One row per finished example, in devset order (all of them unless the
    /// run stopped early).
    pub results: Vec<EvalRow>,
}

fn as_secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl EvaluationResult {
    /// Sum of the scores over the devset (failure score for examples
    /// without a row).
    pub fn sum(&self) -> f64 {
        let missing = self.total.saturating_sub(self.results.len());
        self.results.iter().map(|r| r.score.score).sum::<f64>() + missing as f64 * self.failure_score
    }

    /// Number of examples evaluated (successfully or not).
    pub fn finished(&self) -> usize {
        self.results.len()
    }

    /// True when every example was evaluated.
    pub fn is_complete(&self) -> bool {
        self.stop.is_none() && self.results.len() == self.total
    }

    /// True when a budget stopped the run.
    pub fn is_budget_stop(&self) -> bool {
        matches!(self.stop, Some(StopReason::BudgetReached { .. }))
    }

    /// True when the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.stop == Some(StopReason::Cancelled)
    }

    /// Per-example scores in devset order (length [`Self::total`]); the
    /// failure score where there is no row.
    pub fn scores(&self) -> Vec<f64> {
        let mut scores = vec![self.failure_score; self.total];
        for row in &self.results {
            if let Some(slot) = scores.get_mut(row.index) {
                *slot = row.score.score;
            }
        }
        scores
    }

    /// The row of the example at devset position `index`, if it finished.
    pub fn row(&self, index: usize) -> Option<&EvalRow> {
        self.results.binary_search_by_key(&index, |r| r.index).ok().map(|i| &self.results[i])
    }

    /// DSPy's summary line: `Average Metric: 3.0 / 4 (75.0%)`.
    pub fn summary(&self) -> String {
        let sum = self.sum();
        let mut line = format!(
            "Average Metric: {} / {} ({}%)",
            python_float(sum),
            self.total,
            python_float(round_to(100.0 * sum / self.total.max(1) as f64, 1))
        );
        if let Some(stop) = &self.stop {
            line.push_str(&format!(" — {stop}, {} of {} examples evaluated", self.results.len(), self.total));
        }
        line
    }
}

impl fmt::Display for EvaluationResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Python's `round(x, digits)`: round half to even on the exact binary
/// value (Rust's fixed-precision formatting rounds the same way).
pub(crate) fn round_to(x: f64, digits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.digits$}").parse().unwrap_or(x)
}

/// A float as Python's `str()` shows it when it has a fractional part or
/// is whole (`3.0`, `66.67`).
pub(crate) fn python_float(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 { format!("{x:.1}") } else { format!("{x}") }
}
