//! [`Gepa`]: DSPy 3.4.1's GEPA — reflective prompt evolution with a
//! per-instance Pareto frontier (the `gepa` package's engine, through DSPy's
//! `dspy.GEPA` adapter).
//!
//! The student's instructions are candidate 0, scored on the validation set.
//! Each iteration picks a parent (from the Pareto frontier, or the current
//! best), runs it on a training minibatch with traces, and — unless every
//! score is perfect — builds the reflective dataset of the predictor(s) to
//! change (inputs, outputs and the metric's feedback) and asks the
//! reflection LM for a new instruction with DSPy's prompt. The child is run
//! on the same minibatch; only if its score sum is strictly higher is it
//! scored on the whole validation set and added. After an accepted
//! candidate a merge of two frontier candidates sharing an ancestor may be
//! tried. The run stops when the metric-call budget is spent; the candidate
//! with the best validation average wins.
//!
//! Files: `config.rs` (budgets and `auto`, selection strategies),
//! `state.rs` (candidates, frontier), `pareto.rs` (dominance and the
//! frontier draw), `sampler.rs` (minibatches), `rollout.rs` (concurrent
//! runs), `reflective.rs` (reflective dataset and proposal prompt),
//! `merge.rs`, `pipeline.rs` (iterations in flight), `engine.rs` (the
//! loop), `report.rs` (`GepaReport`).
//!
//! Every draw uses `PyRandom` seeded with `seed`, in DSPy's order, so the
//! accepted candidates are a function of the seed (and the LM's replies),
//! whatever the concurrency. Several reflective iterations run at once
//! ([`Gepa::speculate`]) with the same result as one at a time.

mod config;
mod engine;
mod merge;
mod pareto;
mod permits;
mod pipeline;
mod reflective;
mod report;
mod rollout;
mod sampler;
mod state;

use std::num::NonZeroUsize;
use std::sync::Arc;

use kestrel_core::Example;
use kestrel_eval::Metric;
use kestrel_lm::SharedLm;
use kestrel_modules::Module;

pub use config::{CandidateSelection, ComponentSelection, GepaBudget, auto_budget};
pub use report::{GepaCandidate, GepaOrigin, GepaRejected, GepaReport};

use crate::bootstrap::non_zero;
use crate::cost_estimate::{ProgramRuns, n};
use crate::error::OptimizerError;
use crate::mipro::AutoMode;
use crate::optimizer::{Compiled, Optimizer, measured};

/// DSPy's default `reflection_minibatch_size`.
pub const DEFAULT_REFLECTION_MINIBATCH_SIZE: NonZeroUsize = NonZeroUsize::MIN.saturating_add(2);
/// DSPy's default `max_merge_invocations`.
pub const DEFAULT_MAX_MERGE_INVOCATIONS: usize = 5;
/// DSPy's default `seed`.
pub const DEFAULT_GEPA_SEED: i64 = 0;
/// Program runs in flight by default (DSPy's `num_threads` is unset).
pub const DEFAULT_GEPA_CONCURRENCY: NonZeroUsize = NonZeroUsize::MIN.saturating_add(15);

/// GEPA: reflective instruction evolution over a Pareto frontier.
#[derive(Clone)]
pub struct Gepa {
    metric: Arc<dyn Metric>,
    auto: Option<AutoMode>,
    max_full_evals: Option<usize>,
    max_metric_calls: Option<usize>,
    reflection_minibatch_size: NonZeroUsize,
    candidate_selection_strategy: CandidateSelection,
    reflection_lm: Option<SharedLm>,
    skip_perfect_score: bool,
    component_selector: ComponentSelection,
    use_merge: bool,
    max_merge_invocations: usize,
    concurrency: NonZeroUsize,
    failure_score: f64,
    perfect_score: f64,
    track_stats: bool,
    seed: i64,
    speculate: bool,
    display_progress: bool,
}

impl std::fmt::Debug for Gepa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gepa")
            .field("auto", &self.auto)
            .field("max_full_evals", &self.max_full_evals)
            .field("max_metric_calls", &self.max_metric_calls)
            .field("reflection_lm", &self.reflection_lm.as_ref().map(SharedLm::model))
            .field("reflection_minibatch_size", &self.reflection_minibatch_size)
            .field("candidate_selection_strategy", &self.candidate_selection_strategy)
            .field("component_selector", &self.component_selector)
            .field("use_merge", &self.use_merge)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Gepa {
    /// DSPy's defaults: minibatches of 3, Pareto selection, round-robin
    /// components, skip perfect minibatches, merge on (at most 5), seed 0,
    /// failure score 0 and perfect score 1. A budget must still be set —
    /// exactly one of [`auto`](Self::auto), [`max_full_evals`](Self::max_full_evals)
    /// and [`max_metric_calls`](Self::max_metric_calls), as DSPy asserts;
    /// `compile` reports [`OptimizerError::Config`] otherwise.
    ///
    /// Any [`Metric`] works; one that overrides
    /// [`Metric::score_with_feedback`] gives the reflection LM real feedback
    /// (see `kestrel_eval::feedback_metric_fn`).
    pub fn new(metric: impl Metric + 'static) -> Self {
        Self::with_shared_metric(Arc::new(metric))
    }

    /// The same, with a metric already shared.
    pub fn with_shared_metric(metric: Arc<dyn Metric>) -> Self {
        Self {
            metric,
            auto: None,
            max_full_evals: None,
            max_metric_calls: None,
            reflection_minibatch_size: DEFAULT_REFLECTION_MINIBATCH_SIZE,
            candidate_selection_strategy: CandidateSelection::Pareto,
            reflection_lm: None,
            skip_perfect_score: true,
            component_selector: ComponentSelection::RoundRobin,
            use_merge: true,
            max_merge_invocations: DEFAULT_MAX_MERGE_INVOCATIONS,
            concurrency: DEFAULT_GEPA_CONCURRENCY,
            failure_score: 0.0,
            perfect_score: 1.0,
            track_stats: false,
            seed: DEFAULT_GEPA_SEED,
            speculate: true,
            display_progress: true,
        }
    }

    /// Builder: budget by DSPy's `auto` (light, medium, heavy; see
    /// [`auto_budget`]).
    pub fn auto(mut self, mode: AutoMode) -> Self {
        self.auto = Some(mode);
        self
    }

    /// Builder: budget of this many full evaluations of the train (+ val)
    /// set, in metric calls.
    pub fn max_full_evals(mut self, n: usize) -> Self {
        self.max_full_evals = Some(n);
        self
    }

    /// Builder: budget in metric calls (one program run scored).
    pub fn max_metric_calls(mut self, n: usize) -> Self {
        self.max_metric_calls = Some(n);
        self
    }

    /// Builder: training examples per reflective step (default 3); zero is
    /// an [`OptimizerError::InvalidArgument`].
    pub fn reflection_minibatch_size(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.reflection_minibatch_size = non_zero("reflection_minibatch_size", n)?;
        Ok(self)
    }

    /// Builder: how the parent of each step is chosen.
    pub fn candidate_selection_strategy(mut self, strategy: CandidateSelection) -> Self {
        self.candidate_selection_strategy = strategy;
        self
    }

    /// Builder: the LM that writes new instructions (DSPy's
    /// `reflection_lm`); by default the LM in scope.
    pub fn reflection_lm(mut self, lm: impl Into<SharedLm>) -> Self {
        self.reflection_lm = Some(lm.into());
        self
    }

    /// Builder: skip reflection when the parent's minibatch scores are all
    /// at least `perfect_score` (default on).
    pub fn skip_perfect_score(mut self, on: bool) -> Self {
        self.skip_perfect_score = on;
        self
    }

    /// Builder: which predictors one step rewrites.
    pub fn component_selector(mut self, selector: ComponentSelection) -> Self {
        self.component_selector = selector;
        self
    }

    /// Builder: try merges of frontier candidates (default on).
    pub fn use_merge(mut self, on: bool) -> Self {
        self.use_merge = on;
        self
    }

    /// Builder: most merges accepted (default 5).
    pub fn max_merge_invocations(mut self, n: usize) -> Self {
        self.max_merge_invocations = n;
        self
    }

    /// Builder: program runs in flight at once (DSPy's `num_threads`); 1
    /// reproduces DSPy's request order. Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn concurrency(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.concurrency = non_zero("concurrency", n)?;
        Ok(self)
    }

    /// Builder: the score of a run whose program or metric failed.
    pub fn failure_score(mut self, score: f64) -> Self {
        self.failure_score = score;
        self
    }

    /// Builder: the best score an example can get.
    pub fn perfect_score(mut self, score: f64) -> Self {
        self.perfect_score = score;
        self
    }

    /// Builder: keep per-example validation scores of every candidate in the
    /// report (DSPy's `track_stats`; the candidate tree is always kept).
    pub fn track_stats(mut self, on: bool) -> Self {
        self.track_stats = on;
        self
    }

    /// Builder: the seed of every draw (default 0).
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = seed;
        self
    }

    /// Builder: run several reflective iterations at once (default on),
    /// each computed as if the ones before it add no candidate; when one
    /// does, the later ones are dropped (their LM calls are spent) and
    /// redone on the new state. The window starts at one iteration (and
    /// again after each accepted candidate) and grows by two per iteration
    /// that adds none, up to `concurrency`; all of them share the
    /// compile's `concurrency` permits. The accepted candidates are those
    /// of the one-at-a-time loop (for the same LM replies); off, iterations
    /// run one at a time, as in DSPy. With `concurrency(1)` it is always
    /// off.
    pub fn speculate(mut self, on: bool) -> Self {
        self.speculate = on;
        self
    }

    /// Builder: show a progress bar on a terminal (default on).
    pub fn display_progress(mut self, on: bool) -> Self {
        self.display_progress = on;
        self
    }

    /// The budget set, or why it is not exactly one.
    pub fn get_budget(&self) -> Result<GepaBudget, OptimizerError> {
        match (self.auto, self.max_full_evals, self.max_metric_calls) {
            (Some(mode), None, None) => Ok(GepaBudget::Auto(mode)),
            (None, Some(n), None) => Ok(GepaBudget::MaxFullEvals(n)),
            (None, None, Some(n)) => Ok(GepaBudget::MaxMetricCalls(n)),
            (auto, full, calls) => Err(OptimizerError::Config(format!(
                "exactly one of max_metric_calls, max_full_evals, auto must be set; you set \
                 max_metric_calls={calls:?}, max_full_evals={full:?}, auto={auto:?}"
            ))),
        }
    }

    /// Training examples per reflective step.
    pub fn get_reflection_minibatch_size(&self) -> NonZeroUsize {
        self.reflection_minibatch_size
    }

    /// Program runs in flight at once.
    pub fn get_concurrency(&self) -> NonZeroUsize {
        self.concurrency
    }

    /// The seed.
    pub fn get_seed(&self) -> i64 {
        self.seed
    }
}

impl Optimizer for Gepa {
    fn name(&self) -> &'static str {
        "GEPA"
    }

    /// Its metric-call budget (one program run each), overshot by at most
    /// one iteration (two minibatches and a full validation), and at most
    /// one reflection call per iteration.
    fn program_runs_bound(&self, trainset: usize, valset: usize, predictors: usize) -> Option<ProgramRuns> {
        let budget = self.get_budget().ok()?;
        let calls = n(budget.metric_calls(predictors.max(1), trainset, Some(valset)));
        let m = n(self.reflection_minibatch_size.get());
        let runs = calls.saturating_add(2 * m).saturating_add(n(valset));
        Some(ProgramRuns { runs, extra_lm_calls: calls / m + 1 })
    }

    /// GEPA reflects on the trainset and tracks the Pareto frontier on the
    /// valset; without one (or with an empty one) the trainset is both, as
    /// in DSPy.
    async fn compile_with_valset<'a, M>(
        &'a self,
        student: &'a M,
        trainset: &'a [Example],
        valset: Option<&'a [Example]>,
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        measured(self.name(), student, engine::run(self, student, trainset, valset)).await
    }
}
