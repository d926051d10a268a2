//! [`SimbaReport`]: what SIMBA did — per step the minibatch, the baseline
//! score of the sampled trajectories, each candidate (source program,
//! strategy, demos dropped, minibatch score) and the winner; then the
//! winners scored on the full trainset (DSPy's `candidate_programs` and
//! `trial_logs`).

use std::fmt;

use serde::Serialize;

/// How a candidate was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SimbaStrategy {
    /// DSPy's `append_a_demo`.
    AppendADemo,
    /// DSPy's `append_a_rule`.
    AppendARule,
}

impl SimbaStrategy {
    /// DSPy's function name.
    pub fn as_str(self) -> &'static str {
        match self {
            SimbaStrategy::AppendADemo => "append_a_demo",
            SimbaStrategy::AppendARule => "append_a_rule",
        }
    }
}

impl fmt::Display for SimbaStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One candidate of a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimbaCandidate {
    /// Its index in the program pool (DSPy's `simba_idx`; 0 is the
    /// student).
    pub program: usize,
    /// The pool program it was copied from.
    pub source: usize,
    /// The strategy drawn for it.
    pub strategy: SimbaStrategy,
    /// `false` when the strategy skipped (percentile checks): the candidate
    /// is its source, less any dropped demos.
    pub applied: bool,
    /// Demos dropped from each predictor before the strategy ran.
    pub dropped_demos: usize,
    /// Average score on the step's minibatch.
    pub score: f64,
}

/// A strategy that failed: no candidate came of its bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimbaFailure {
    /// The strategy.
    pub strategy: SimbaStrategy,
    /// Why (the prompt model's error...).
    pub error: String,
}

/// One optimization step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimbaStep {
    /// Trainset indices of the minibatch.
    pub batch: Vec<usize>,
    /// Average score of every sampled trajectory (DSPy's baseline
    /// mini-batch score).
    pub baseline_score: f64,
    /// Candidates made and scored, in bucket order.
    pub candidates: Vec<SimbaCandidate>,
    /// Strategies that failed.
    pub failures: Vec<SimbaFailure>,
    /// Pool index of the step's best candidate (the first best).
    pub winner: Option<usize>,
    /// DSPy's `trial_logs[step]["train_score"]`: the full-trainset score
    /// DSPy files under this step (it files winner `i`'s score under step
    /// `i - 1`, `i` counting the winners scored, not the steps).
    pub train_score: Option<f64>,
}

/// A winner scored on the full trainset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimbaFinalCandidate {
    /// Its pool index (0: the student).
    pub program: usize,
    /// Average score on the trainset.
    pub score: f64,
}

/// What SIMBA did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimbaReport {
    /// The seed.
    pub seed: i64,
    /// Every step, in order.
    pub steps: Vec<SimbaStep>,
    /// The winners scored on the trainset, best first (DSPy's
    /// `candidate_programs`; ties in evaluation order).
    pub final_candidates: Vec<SimbaFinalCandidate>,
    /// The chosen program's pool index.
    pub best_program: usize,
    /// Program runs that failed (scored 0, as DSPy scores them).
    pub failed_runs: usize,
}

impl fmt::Display for SimbaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(f, "  step {}: baseline {:.3} on {} examples", i + 1, step.baseline_score, step.batch.len())?;
            for c in &step.candidates {
                let win = if Some(c.program) == step.winner { "  <- winner" } else { "" };
                let skipped = if c.applied { "" } else { " (skipped)" };
                writeln!(
                    f,
                    "    #{:<3} from #{:<3} {}{skipped} dropped {} score {:.3}{win}",
                    c.program, c.source, c.strategy, c.dropped_demos, c.score
                )?;
            }
            for failure in &step.failures {
                writeln!(f, "    {} failed: {}", failure.strategy, failure.error)?;
            }
        }
        for c in &self.final_candidates {
            let best = if c.program == self.best_program { "  <- best" } else { "" };
            writeln!(f, "  trainset: #{:<3} score {:.3}{best}", c.program, c.score)?;
        }
        Ok(())
    }
}
