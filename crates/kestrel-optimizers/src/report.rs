//! [`CompileReport`]: what one compile did and spent — candidates and their
//! scores, teacher runs (and how many were speculative), skipped examples,
//! LM calls, cache hits, tokens, cost and wall time.

use std::fmt;
use std::time::Duration;

use kestrel_eval::ExampleError;
use kestrel_lm::UsageReport;
use serde::Serialize;

use crate::finetune::FinetuneReport;
use crate::finetune::better_together::BetterTogetherReport;
use crate::gepa::GepaReport;
use crate::instruction_report::{DepthStats, InstructionCandidate, ProposalFailure};
use crate::mipro::MiproReport;
use crate::simba::SimbaReport;

/// A training or validation example the optimizer skipped because running
/// or scoring it failed (counted against the error budget).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedExample {
    /// Position in the training set the optimizer used.
    pub index: usize,
    /// The error, typed (program or metric; [`ExampleError::lm_error`]
    /// tells a rate limit from a parse failure); serialized as its text.
    pub error: ExampleError,
}

/// Why an optimizer stopped before the end.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// `max_errors` teacher runs failed: bootstrapping stopped with the
    /// demos found so far.
    ErrorBudgetSpent {
        /// Failed teacher runs when it stopped.
        errors: usize,
        /// The budget.
        max_errors: usize,
    },
    /// A candidate reached `stop_at_score`: later candidates were not run.
    StopAtScore {
        /// The candidate's seed.
        seed: i64,
        /// Its validation score (percent).
        score: f64,
        /// The `stop_at_score` setting.
        stop_at_score: f64,
    },
    /// A budget (`max_lm_calls`, `max_cost_usd`) was reached: the compile
    /// stopped and returned the best program found so far.
    BudgetReached {
        /// The budget's builder name (`max_lm_calls` or `max_cost_usd`).
        budget: String,
        /// Its value.
        limit: f64,
        /// What had been spent when it was checked.
        spent: f64,
        /// The phase that was stopped (`demo bootstrapping`, `instruction
        /// proposal`, `trials`).
        phase: String,
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::ErrorBudgetSpent { errors, max_errors } => {
                write!(f, "error budget spent: {errors} failed teacher runs (max_errors = {max_errors})")
            }
            StopReason::StopAtScore { seed, score, stop_at_score } => {
                write!(f, "seed {seed} scored {score:.2} >= stop_at_score {stop_at_score:.2}")
            }
            StopReason::BudgetReached { budget, limit, spent, phase } => {
                write!(f, "budget reached during {phase}: {budget} = {limit}, spent {spent}")
            }
        }
    }
}

/// What a random-search candidate is (DSPy's seeds -3, -2, -1 and `0..`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CandidateKind {
    /// Seed -3: the student without demos.
    ZeroShot,
    /// Seed -2: labeled demos only (`LabeledFewShot`).
    Labeled,
    /// Seed -1: BootstrapFewShot on the trainset as given.
    Bootstrap,
    /// Seeds `0..`: BootstrapFewShot on a shuffled trainset with a random
    /// demo count.
    Shuffled,
}

impl CandidateKind {
    /// The kind of DSPy's candidate `seed`.
    pub fn of_seed(seed: i64) -> Self {
        match seed {
            i64::MIN..=-3 => CandidateKind::ZeroShot,
            -2 => CandidateKind::Labeled,
            -1 => CandidateKind::Bootstrap,
            _ => CandidateKind::Shuffled,
        }
    }

    /// The kind as text (`zero-shot`, `labeled`, `bootstrap`, `shuffled`).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::ZeroShot => "zero-shot",
            CandidateKind::Labeled => "labeled",
            CandidateKind::Bootstrap => "bootstrap",
            CandidateKind::Shuffled => "shuffled",
        }
    }
}

impl fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One candidate program an optimizer scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateScore {
    /// DSPy's candidate seed (`-3` zero-shot, `-2` labeled only, `-1`
    /// unshuffled bootstrap, `0..` shuffled bootstraps).
    pub seed: i64,
    /// What the candidate is (its `Display` is `zero-shot`, `labeled`,
    /// `bootstrap` or `shuffled`).
    pub kind: CandidateKind,
    /// Validation score in percent (DSPy's `Evaluate` score).
    pub score: f64,
    /// Per-example scores on the validation set, in order.
    pub subscores: Vec<f64>,
    /// Demos per predictor, in predictor order.
    pub demos: Vec<usize>,
    /// LM calls answered to build and score this candidate (calls through
    /// an LM client; cache hits included).
    pub lm_calls: u64,
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
    pub stopped_early: Option<StopReason>,
    /// Candidates scored, in seed order (search optimizers).
    pub candidates: Vec<CandidateScore>,
    /// The winning candidate's seed (search optimizers).
    pub best_seed: Option<i64>,
    /// Candidates a sequential search never starts (after `stop_at_score`
    /// was reached), so never run here either.
    pub candidates_not_run: usize,
    /// Candidates started ahead of their turn and cancelled once an earlier
    /// seed reached `stop_at_score` (their work was discarded).
    pub candidates_cancelled: usize,
    /// LM calls answered for cancelled candidates (through an LM client;
    /// calls still in flight at the cancellation are dropped unanswered and
    /// not counted): the price of running candidates concurrently.
    pub cancelled_lm_calls: u64,
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
    /// SIMBA's steps (minibatches, candidates and their strategies, the
    /// winners) and the final choice on the trainset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simba: Option<Box<SimbaReport>>,
    /// MIPROv2's choices: settings, cost estimate, candidates with their
    /// scores, every trial and the winner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mipro: Option<Box<MiproReport>>,
    /// GEPA's candidate tree (parents, changed predictors, minibatch and
    /// validation scores), rejected proposals and budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gepa: Option<Box<GepaReport>>,
    /// BootstrapFinetune's jobs (data, job ids, fine-tuned models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finetune: Option<Box<FinetuneReport>>,
    /// BetterTogether's stages (strategy prefix, validation score, each
    /// stage's own report).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub better_together: Option<Box<BetterTogetherReport>>,
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
        if self.candidates_not_run > 0 || self.candidates_cancelled > 0 {
            writeln!(
                f,
                "  candidates not run: {}, cancelled: {} ({} LM calls spent on them)",
                self.candidates_not_run, self.candidates_cancelled, self.cancelled_lm_calls
            )?;
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
        if let Some(simba) = &self.simba {
            write!(f, "{simba}")?;
        }
        if let Some(mipro) = &self.mipro {
            write!(f, "{mipro}")?;
        }
        if let Some(gepa) = &self.gepa {
            write!(f, "{gepa}")?;
        }
        if let Some(finetune) = &self.finetune {
            write!(f, "{finetune}")?;
        }
        if let Some(together) = &self.better_together {
            write!(f, "{together}")?;
        }
        for c in &self.candidates {
            let best = if Some(c.seed) == self.best_seed { "  <- best" } else { "" };
            writeln!(f, "  seed {:>3} {:<12} score {:>6.2}  demos {:?}{best}", c.seed, c.kind, c.score, c.demos)?;
        }
        Ok(())
    }
}
