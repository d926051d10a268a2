//! [`BootstrapFewShotWithRandomSearch`]: DSPy's random search over
//! bootstrapped demo sets. Candidate seeds run from -3: `-3` zero-shot,
//! `-2` labeled demos only, `-1` an unshuffled BootstrapFewShot, then seeds
//! `0..num_candidate_programs`, each a BootstrapFewShot on the trainset
//! shuffled with `random.Random(seed)` and a demo count drawn with
//! `random.Random(seed).randint(1, max_bootstrapped_demos)`. Every candidate
//! is scored on the validation set; the best wins, ties going to the earlier
//! seed, and `stop_at_score` ends the search at the first candidate (in seed
//! order) that reaches it.
//!
//! DSPy builds and scores candidates one after another. Here they start in
//! seed order under one shared limit on program calls in flight, a later
//! candidate whenever the running ones leave capacity unused, and results
//! are taken in seed order — the winner is the sequential run's winner.
//! With `stop_at_score`, once a candidate reaches it no later one starts and
//! those already running are cancelled: the candidates a sequential search
//! never starts are never paid for beyond what was already in flight (see
//! `schedule`; the report counts candidates not run and cancelled).

use std::num::NonZeroUsize;
use std::sync::Arc;

use kestrel_core::{Example, PyRandom};
use kestrel_eval::{Evaluate, Metric};
use kestrel_lm::{BudgetExceeded, exhausted_in_scope, track_usage};
use kestrel_modules::Module;
use tokio::sync::Semaphore;

use crate::bootstrap::BootstrapFewShot;
use crate::budget_stop::{budget_stop, cut_by_budget, is_budget_stop};
use crate::cost_estimate::{ProgramRuns, n};
use crate::error::OptimizerError;
use crate::in_order::Flow;
use crate::labeled::LabeledFewShot;
use crate::optimizer::{Compiled, Optimizer, demo_counts, measured, reset_copy};
use crate::progress::Progress;
use crate::report::{CandidateKind, CandidateScore, CompileReport, StopReason};
use crate::schedule::run_seed_ordered;

/// Program calls in flight by default, shared by every candidate.
pub const DEFAULT_SEARCH_CONCURRENCY: NonZeroUsize = NonZeroUsize::MIN.saturating_add(15);

/// Random search over bootstrapped few-shot programs.
#[derive(Clone)]
pub struct BootstrapFewShotWithRandomSearch {
    /// Settings every bootstrap candidate shares (metric, threshold,
    /// teacher, labeled demos, rounds, error budget, concurrency).
    base: BootstrapFewShot,
    max_bootstrapped_demos: usize,
    num_candidate_programs: usize,
    stop_at_score: Option<f64>,
    labeled_sample: bool,
    display_progress: bool,
}

impl std::fmt::Debug for BootstrapFewShotWithRandomSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapFewShotWithRandomSearch")
            .field("base", &self.base)
            .field("max_bootstrapped_demos", &self.max_bootstrapped_demos)
            .field("num_candidate_programs", &self.num_candidate_programs)
            .field("stop_at_score", &self.stop_at_score)
            .finish_non_exhaustive()
    }
}

/// One candidate's program and its validation result.
struct Scored<M> {
    program: M,
    candidate: CandidateScore,
    report: Option<CompileReport>,
    /// The budget that cut this candidate short (its bootstrap or its
    /// evaluation): then its score is not comparable and it is not kept.
    budget: Option<BudgetExceeded>,
}

impl BootstrapFewShotWithRandomSearch {
    /// DSPy's defaults: 16 candidate programs, 4 bootstrapped and 16 labeled
    /// demos, 1 round, no `stop_at_score`; program calls in flight default
    /// to [`DEFAULT_SEARCH_CONCURRENCY`], shared by every candidate.
    pub fn new(metric: impl Metric + 'static) -> Self {
        Self {
            base: BootstrapFewShot::new(metric).with_concurrency(DEFAULT_SEARCH_CONCURRENCY).display_progress(false),
            max_bootstrapped_demos: 4,
            num_candidate_programs: 16,
            stop_at_score: None,
            labeled_sample: true,
            display_progress: true,
        }
    }

    /// Builder: change the settings the bootstrap candidates share — the
    /// same builders as [`BootstrapFewShot`] (`metric_threshold`,
    /// `teacher_lm`, `teacher_config`, `max_labeled_demos`). The counts
    /// (`max_rounds`, `max_errors`, `concurrency`) have their own builders
    /// here, which return an error for a zero.
    pub fn bootstrap_settings(mut self, f: impl FnOnce(BootstrapFewShot) -> BootstrapFewShot) -> Self {
        self.base = f(self.base);
        self
    }

    /// Builder: the bootstraps' teacher attempts per example (DSPy's
    /// `max_rounds`). Zero is an [`OptimizerError::InvalidArgument`].
    pub fn max_rounds(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.base = self.base.max_rounds(n)?;
        Ok(self)
    }

    /// Builder: failed runs that end a bootstrap, and failed examples that
    /// stop a candidate's evaluation (DSPy's `max_errors`, used for both).
    /// Zero is an [`OptimizerError::InvalidArgument`].
    pub fn max_errors(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.base = self.base.max_errors(n)?;
        Ok(self)
    }

    /// Builder: the bootstraps' metric threshold.
    pub fn metric_threshold(self, threshold: f64) -> Self {
        self.bootstrap_settings(|b| b.metric_threshold(threshold))
    }

    /// Builder: labeled demos per predictor.
    pub fn max_labeled_demos(self, n: usize) -> Self {
        self.bootstrap_settings(|b| b.max_labeled_demos(n))
    }

    /// Builder: program calls in flight at once, across all candidates
    /// (DSPy's `num_threads`). Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn concurrency(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.base = self.base.concurrency(n)?;
        Ok(self)
    }

    /// Builder: the largest demo count a candidate may draw (DSPy's
    /// `max_bootstrapped_demos`, sampled between 1 and this). With shuffled
    /// candidates (`num_candidate_programs > 0`) it must be at least 1:
    /// compiling otherwise fails at once with
    /// [`OptimizerError::InvalidArgument`] (DSPy's `randint(1, 0)` raises).
    pub fn max_bootstrapped_demos(mut self, n: usize) -> Self {
        self.max_bootstrapped_demos = n;
        self
    }

    /// Builder: shuffled-bootstrap candidates (seeds `0..n`), on top of the
    /// three fixed ones.
    pub fn num_candidate_programs(mut self, n: usize) -> Self {
        self.num_candidate_programs = n;
        self
    }

    /// Builder: stop at the first candidate (in seed order) scoring at least
    /// this (percent).
    pub fn stop_at_score(mut self, score: f64) -> Self {
        self.stop_at_score = Some(score);
        self
    }

    /// Builder: `false` gives the labeled-only candidate the first examples
    /// instead of a sample.
    pub fn labeled_sample(mut self, on: bool) -> Self {
        self.labeled_sample = on;
        self
    }

    /// Builder: show progress on a terminal (default on).
    pub fn display_progress(mut self, on: bool) -> Self {
        self.display_progress = on;
        self
    }

    /// The settings every bootstrap candidate shares.
    pub fn get_bootstrap_settings(&self) -> &BootstrapFewShot {
        &self.base
    }

    /// The largest demo count a candidate may draw.
    pub fn get_max_bootstrapped_demos(&self) -> usize {
        self.max_bootstrapped_demos
    }

    /// Shuffled-bootstrap candidates.
    pub fn get_num_candidate_programs(&self) -> usize {
        self.num_candidate_programs
    }

    /// The score that ends the search, if set.
    pub fn get_stop_at_score(&self) -> Option<f64> {
        self.stop_at_score
    }

    fn bootstrap(&self, max_bootstrapped: usize, limiter: &Arc<Semaphore>) -> BootstrapFewShot {
        self.base.clone().max_bootstrapped_demos(max_bootstrapped).limiter(Arc::clone(limiter))
    }

    /// Build the candidate of `seed` and score it with `evaluate` (set up
    /// once, on the validation set, for every candidate).
    async fn candidate<M>(
        &self,
        seed: i64,
        student: &M,
        trainset: &[Example],
        evaluate: &Evaluate,
        limiter: &Arc<Semaphore>,
    ) -> Result<Scored<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        let kind = CandidateKind::of_seed(seed);
        let build_and_score = async {
            let (program, report) = match kind {
                CandidateKind::ZeroShot => (reset_copy(student), None),
                CandidateKind::Labeled => {
                    let labeled = LabeledFewShot::new(self.base.get_max_labeled_demos()).sample(self.labeled_sample);
                    (labeled.apply(student, trainset), None)
                }
                CandidateKind::Bootstrap => {
                    let compiled =
                        self.bootstrap(self.max_bootstrapped_demos, limiter).compile(student, trainset).await?;
                    (compiled.program, Some(compiled.report))
                }
                _ => {
                    let mut shuffled = trainset.to_vec();
                    PyRandom::new(seed).shuffle(&mut shuffled);
                    // `compile_with_valset` rejects 0 when there are shuffled candidates.
                    let size = PyRandom::new(seed).randint(1, self.max_bootstrapped_demos.max(1));
                    let compiled = self.bootstrap(size, limiter).compile(student, &shuffled).await?;
                    (compiled.program, Some(compiled.report))
                }
            };
            let result = evaluate.run(&program, self.base.metric()).await?;
            Ok::<_, OptimizerError>((program, report, result))
        };
        let (outcome, usage) = track_usage(build_and_score).await;
        let (program, report, result) = outcome?;
        let budget = cut_by_budget(&result).or_else(|| {
            let stop = report.as_ref().and_then(|r| r.stopped_early.as_ref());
            is_budget_stop(stop).then(exhausted_in_scope).flatten()
        });
        let candidate = CandidateScore {
            seed,
            kind,
            score: result.score,
            subscores: result.scores(),
            demos: demo_counts(&program),
            lm_calls: usage.total.calls,
        };
        Ok(Scored { program, candidate, report, budget })
    }

    async fn search<M>(
        &self,
        student: &M,
        trainset: &[Example],
        valset: &[Example],
    ) -> Result<(M, CompileReport), OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        let concurrency = self.base.get_concurrency();
        let limiter = Arc::new(Semaphore::new(concurrency.get()));
        // One evaluation set-up (and one copy of the valset) for every candidate.
        let evaluate = Evaluate::new(valset.to_vec())
            .concurrency(concurrency)?
            .limiter(Arc::clone(&limiter))
            .max_errors(self.base.get_max_errors())?
            .display_progress(false)
            .display_table(0);
        let seeds: Vec<i64> = (-3..self.num_candidate_programs as i64).collect();
        let progress = Progress::new(seeds.len(), self.display_progress, "random search");
        let mut report = CompileReport::new("BootstrapFewShotWithRandomSearch");
        let mut best: Option<(f64, i64, M)> = None;
        let mut failure = None;
        let stop_at = self.stop_at_score;
        let reaches_stop = |score: f64| stop_at.is_some_and(|stop| score >= stop);
        let stats = run_seed_ordered(
            seeds.len(),
            &limiter,
            |i| self.candidate(seeds[i], student, trainset, &evaluate, &limiter),
            // A sequential search runs nothing after an error or a stop.
            |scored: &Result<Scored<M>, OptimizerError>| {
                scored.as_ref().map_or(true, |s| s.budget.is_some() || reaches_stop(s.candidate.score))
            },
            |_, scored| {
                let Scored { program, candidate, report: child, budget } = match scored {
                    Ok(scored) => scored,
                    Err(e) => {
                        failure = Some(e);
                        return Flow::Stop;
                    }
                };
                progress.inc();
                if let Some(why) = budget {
                    // Cut short: not scored; the best so far stands.
                    if let Some(child) = child {
                        report.children.push(child);
                    }
                    report.stopped_early = Some(budget_stop(why, &format!("candidate {}", candidate.seed)));
                    return Flow::Stop;
                }
                let (score, seed) = (candidate.score, candidate.seed);
                if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
                    best = Some((score, seed, program));
                }
                report.candidates.push(candidate);
                if let Some(child) = child {
                    report.teacher_runs += child.teacher_runs;
                    report.speculative_runs += child.speculative_runs;
                    report.skipped.extend(child.skipped.iter().cloned());
                    report.children.push(child);
                }
                progress.message(format!("best {:.2}", best.as_ref().map_or(0.0, |b| b.0)));
                if let Some(stop_at_score) = stop_at.filter(|_| reaches_stop(score)) {
                    report.stopped_early = Some(StopReason::StopAtScore { seed, score, stop_at_score });
                    return Flow::Stop;
                }
                Flow::Continue
            },
        )
        .await;
        progress.finish();
        if let Some(error) = failure {
            return Err(error);
        }
        report.candidates_not_run = stats.not_started;
        report.candidates_cancelled = stats.cancelled();
        if best.is_none() && is_budget_stop(report.stopped_early.as_ref()) {
            // The budget ran out before any candidate was scored: the
            // student, unchanged.
            return Ok((student.clone(), report));
        }
        let (_, best_seed, program) =
            best.ok_or_else(|| OptimizerError::Config("no candidate programs were evaluated".into()))?;
        report.best_seed = Some(best_seed);
        Ok((program, report))
    }
}

impl Optimizer for BootstrapFewShotWithRandomSearch {
    fn name(&self) -> &'static str {
        "BootstrapFewShotWithRandomSearch"
    }

    /// `num_candidate_programs + 1` bootstraps (each every training example
    /// up to `max_rounds` times) and `num_candidate_programs + 3`
    /// evaluations on the valset.
    fn program_runs_bound(&self, trainset: usize, valset: usize, _predictors: usize) -> Option<ProgramRuns> {
        let candidates = n(self.num_candidate_programs);
        let teacher = n(trainset).saturating_mul(n(self.base.get_max_rounds().get()));
        let runs = (candidates + 1).saturating_mul(teacher).saturating_add((candidates + 3).saturating_mul(n(valset)));
        Some(ProgramRuns { runs, extra_lm_calls: 0 })
    }

    async fn compile_with_valset<'a, M>(
        &'a self,
        student: &'a M,
        trainset: &'a [Example],
        valset: Option<&'a [Example]>,
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        if self.num_candidate_programs > 0 && self.max_bootstrapped_demos == 0 {
            // DSPy's `randint(1, 0)` for seed 0 raises; say so before any work.
            return Err(OptimizerError::InvalidArgument {
                name: "max_bootstrapped_demos",
                message: "must be at least 1 when num_candidate_programs > 0 (shuffled candidates draw \
                          between 1 and max_bootstrapped_demos demos)"
                    .into(),
            });
        }
        // DSPy's `valset or trainset`: an empty valset falls back too.
        let valset = valset.filter(|v| !v.is_empty()).unwrap_or(trainset);
        let mut compiled = measured(self.name(), student, self.search(student, trainset, valset)).await?;
        let report = &mut compiled.report;
        let decided: u64 = report.candidates.iter().map(|c| c.lm_calls).sum();
        report.cancelled_lm_calls = report.usage.total.calls.saturating_sub(decided);
        Ok(compiled)
    }
}
