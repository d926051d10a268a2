//! [`CompileReport`]: what one compile did and spent — candidates and their
//! scores, teacher runs (and how many were speculative), skipped examples,
//! LM calls, cache hits, tokens, cost and wall time.

use std::fmt;
use std::time::Duration;

use kestrel_lm::UsageReport;
use serde::Serialize;

use crate::instruction_report::{DepthStats, InstructionCandidate, ProposalFailure};

/// A training or validation example the optimizer skipped because running
/// or scoring it failed (counted against the error budget).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedExample {
    /// Position in the training set the optimizer used.
    pub index: usize,
    /// The error, as text.
    pub error: String,
}

/// One candidate program an optimizer scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateScore {
    /// DSPy's candidate seed (`-3` zero-shot, `-2` labeled only, `-1`
    /// unshuffled bootstrap, `0..` shuffled bootstraps).
    pub seed: i64,
    /// What the candidate is (`zero-shot`, `labeled`, `bootstrap`, ...).
    pub label: String,
    /// Validation score in percent (DSPy's `Evaluate` score).
    pub score: f64,
    /// Per-example scores on the validation set, in order.
    pub subscores: Vec<f64>,
    /// Demos per predictor, in predictor order.
    pub demos: Vec<usize>,
}

/// What a compile did and spent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CompileReport {
    /// The optimizer's name (`BootstrapFewShot`...).
    pub optimizer: String,
    /// LM usage of the whole compile (calls, cache hits, tokens, cost).
    pub usage: UsageReport,
    /// Wall time.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
    /// Training examples the teacher was started on (bootstrapping
    /// optimizers; each runs up to `max_rounds` rounds).
    pub teacher_runs: usize,
    /// Of those, the ones a one-at-a-time run would not have made: started
    /// speculatively by the concurrency window, their results discarded.
    pub speculative_runs: usize,
    /// Training examples whose traces became demos.
    pub bootstrapped: usize,
    /// Examples skipped because they failed (error budget).
    pub skipped: Vec<SkippedExample>,
    /// Why the optimizer stopped before the end, if it did (error budget
    /// spent, `stop_at_score` reached).
    pub stopped_early: Option<String>,
    /// Candidates scored, in seed order (search optimizers).
    pub candidates: Vec<CandidateScore>,
    /// The winning candidate's seed (search optimizers).
    pub best_seed: Option<i64>,
    /// Nested compiles (the bootstraps inside a random search), in order.
    pub children: Vec<CompileReport>,
    /// Instruction candidates scored (instruction optimizers), best first;
    /// the first is the one chosen.
    pub instruction_candidates: Vec<InstructionCandidate>,
    /// Full evaluations of candidate programs (COPRO's `total_calls`).
    pub evaluations: usize,
    /// Score statistics per predictor and depth (COPRO's `track_stats`).
    pub depth_stats: Vec<DepthStats>,
    /// Proposal requests that failed (the search went on without them).
    pub proposal_failures: Vec<ProposalFailure>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl CompileReport {
    /// An empty report for `optimizer`.
    pub fn new(optimizer: impl Into<String>) -> Self {
        Self { optimizer: optimizer.into(), ..Self::default() }
    }

    /// LM calls answered (cache hits included).
    pub fn lm_calls(&self) -> u64 {
        self.usage.total.calls
    }

    /// LM calls answered from a cache.
    pub fn cache_hits(&self) -> u64 {
        self.usage.total.cache_hits
    }

    /// Cost in US dollars (unknown prices count as zero).
    pub fn cost_usd(&self) -> f64 {
        self.usage.total.cost_usd
    }

    /// The best candidate's score, if candidates were scored.
    pub fn best_score(&self) -> Option<f64> {
        let seed = self.best_seed?;
        self.candidates.iter().find(|c| c.seed == seed).map(|c| c.score)
    }
}

impl fmt::Display for CompileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.usage.total;
        writeln!(
            f,
            "{}: {:.2}s, {} LM calls ({} cached), {} prompt + {} completion tokens, ${:.4}",
            self.optimizer,
            self.elapsed.as_secs_f64(),
            u.calls,
            u.cache_hits,
            u.prompt_tokens,
            u.completion_tokens,
            u.cost_usd
        )?;
        if self.teacher_runs > 0 {
            writeln!(
                f,
                "  teacher runs: {} ({} speculative), bootstrapped: {}",
                self.teacher_runs, self.speculative_runs, self.bootstrapped
            )?;
        }
        if !self.skipped.is_empty() {
            writeln!(f, "  skipped {} failing example(s)", self.skipped.len())?;
        }
        if let Some(why) = &self.stopped_early {
            writeln!(f, "  stopped early: {why}")?;
        }
        if self.evaluations > 0 {
            writeln!(f, "  {} candidate evaluations", self.evaluations)?;
        }
        for failure in &self.proposal_failures {
            writeln!(f, "  proposal for `{}` at depth {} failed: {}", failure.predictor, failure.depth, failure.error)?;
        }
        for (i, c) in self.instruction_candidates.iter().take(5).enumerate() {
            let best = if i == 0 { "  <- best" } else { "" };
            writeln!(
                f,
                "  {:<10} depth {} score {:>6.2}  {:?} / {:?}{best}",
                c.predictor, c.depth, c.score, c.instruction, c.prefix
            )?;
        }
        for c in &self.candidates {
            let best = if Some(c.seed) == self.best_seed { "  <- best" } else { "" };
            writeln!(f, "  seed {:>3} {:<12} score {:>6.2}  demos {:?}{best}", c.seed, c.label, c.score, c.demos)?;
        }
        Ok(())
    }
}
