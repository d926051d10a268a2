//! [`MiproV2`]: DSPy 3.4.1's MIPROv2 optimizer — its parameters, defaults
//! and checks. The compile itself (three steps and the budget) is in
//! `compile.rs`.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;

use kestrel_core::Example;
use kestrel_eval::Metric;
use kestrel_lm::{CallConfig, SharedLm, UsageMeter, track_usage_live};
use kestrel_modules::Module;

use super::auto::{AutoMode, MIN_MINIBATCH_SIZE, auto_settings};
use super::compile;
use super::proposer::DEFAULT_VIEW_DATA_BATCH_SIZE;
use super::search::{DEFAULT_MINIBATCH_FULL_EVAL_STEPS, DEFAULT_MINIBATCH_SIZE, DEFAULT_MIPRO_SEED};
use crate::bootstrap::{DEFAULT_MAX_ERRORS, non_zero};
use crate::cost_estimate::{ProgramRuns, n};
use crate::error::OptimizerError;
use crate::optimizer::{Compiled, Optimizer, budget_fallback};

/// Program calls in flight by default, shared by every bootstrap and trial.
pub const DEFAULT_MIPRO_CONCURRENCY: NonZeroUsize = NonZeroUsize::MIN.saturating_add(15);
/// DSPy's default `max_bootstrapped_demos` and `max_labeled_demos`.
pub const DEFAULT_MIPRO_MAX_DEMOS: usize = 4;

/// MIPROv2: instructions proposed from the data and the program, searched
/// jointly with demo sets by a seeded TPE.
///
/// Defaults are DSPy 3.4.1's: `auto = light`, 4 bootstrapped and 4 labeled
/// demos, seed 9, proposal temperature 1.0, minibatches of 35 with a full
/// evaluation every 5 trials, every proposer aid on. Program calls in flight
/// default to 16 (DSPy's `num_threads`, here `concurrency`); minibatch
/// trials run one at a time (`trial_concurrency`), as DSPy's loop does.
#[derive(Clone)]
pub struct MiproV2 {
    pub(super) metric: Arc<dyn Metric>,
    pub(super) prompt_model: Option<SharedLm>,
    pub(super) task_model: Option<SharedLm>,
    pub(super) teacher_lm: Option<SharedLm>,
    pub(super) teacher_config: Option<CallConfig>,
    pub(super) max_bootstrapped_demos: usize,
    pub(super) max_labeled_demos: usize,
    pub(super) auto: Option<AutoMode>,
    pub(super) num_candidates: Option<NonZeroUsize>,
    pub(super) num_trials: Option<NonZeroUsize>,
    pub(super) concurrency: NonZeroUsize,
    pub(super) trial_concurrency: NonZeroUsize,
    pub(super) max_errors: NonZeroUsize,
    pub(super) seed: i64,
    pub(super) init_temperature: f32,
    pub(super) metric_threshold: Option<f64>,
    pub(super) minibatch: bool,
    pub(super) minibatch_size: NonZeroUsize,
    pub(super) minibatch_full_eval_steps: NonZeroUsize,
    pub(super) program_aware_proposer: bool,
    pub(super) data_aware_proposer: bool,
    pub(super) view_data_batch_size: NonZeroUsize,
    pub(super) tip_aware_proposer: bool,
    pub(super) fewshot_aware_proposer: bool,
    pub(super) program_code: Option<String>,
    pub(super) max_lm_calls: Option<u64>,
    pub(super) max_cost_usd: Option<f64>,
    pub(super) max_tokens: Option<u64>,
    pub(super) display_progress: bool,
}

impl std::fmt::Debug for MiproV2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiproV2")
            .field("prompt_model", &self.prompt_model.as_ref().map(SharedLm::model))
            .field("task_model", &self.task_model.as_ref().map(SharedLm::model))
            .field("auto", &self.auto)
            .field("num_candidates", &self.num_candidates)
            .field("num_trials", &self.num_trials)
            .field("max_bootstrapped_demos", &self.max_bootstrapped_demos)
            .field("max_labeled_demos", &self.max_labeled_demos)
            .field("seed", &self.seed)
            .field("concurrency", &self.concurrency)
            .field("trial_concurrency", &self.trial_concurrency)
            .field("max_lm_calls", &self.max_lm_calls)
            .field("max_cost_usd", &self.max_cost_usd)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

const fn nz(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    }
}

impl MiproV2 {
    /// DSPy's defaults (see the type docs); the LM in scope is the prompt
    /// and the task model.
    pub fn new(metric: impl Metric + 'static) -> Self {
        Self::with_shared_metric(Arc::new(metric))
    }

    /// The same, with a metric already shared.
    pub fn with_shared_metric(metric: Arc<dyn Metric>) -> Self {
        Self {
            metric,
            prompt_model: None,
            task_model: None,
            teacher_lm: None,
            teacher_config: None,
            max_bootstrapped_demos: DEFAULT_MIPRO_MAX_DEMOS,
            max_labeled_demos: DEFAULT_MIPRO_MAX_DEMOS,
            auto: Some(AutoMode::Light),
            num_candidates: None,
            num_trials: None,
            concurrency: DEFAULT_MIPRO_CONCURRENCY,
            trial_concurrency: NonZeroUsize::MIN,
            max_errors: DEFAULT_MAX_ERRORS,
            seed: DEFAULT_MIPRO_SEED,
            init_temperature: 1.0,
            metric_threshold: None,
            minibatch: true,
            minibatch_size: nz(DEFAULT_MINIBATCH_SIZE),
            minibatch_full_eval_steps: nz(DEFAULT_MINIBATCH_FULL_EVAL_STEPS),
            program_aware_proposer: true,
            data_aware_proposer: true,
            view_data_batch_size: nz(DEFAULT_VIEW_DATA_BATCH_SIZE),
            tip_aware_proposer: true,
            fewshot_aware_proposer: true,
            program_code: None,
            max_lm_calls: None,
            max_cost_usd: None,
            max_tokens: None,
            display_progress: true,
        }
    }

    /// Builder: the LM that writes the dataset summary, descriptions and
    /// instructions (DSPy's `prompt_model`); by default the LM in scope.
    pub fn prompt_model(mut self, lm: impl Into<SharedLm>) -> Self {
        self.prompt_model = Some(lm.into());
        self
    }

    /// Builder: the LM bootstraps and trials run with (DSPy's `task_model`);
    /// by default the LM in scope.
    pub fn task_model(mut self, lm: impl Into<SharedLm>) -> Self {
        self.task_model = Some(lm.into());
        self
    }

    /// Builder: the LM the bootstraps' teacher runs with (DSPy's
    /// `teacher_settings=dict(lm=..)`).
    pub fn teacher_lm(mut self, lm: impl Into<SharedLm>) -> Self {
        self.teacher_lm = Some(lm.into());
        self
    }

    /// Builder: call options of every teacher call (DSPy's other
    /// `teacher_settings`).
    pub fn teacher_config(mut self, config: CallConfig) -> Self {
        self.teacher_config = Some(config);
        self
    }

    /// Builder: bootstrapped demos per predictor and set (at most; shuffled
    /// sets draw between 1 and this). 0 with `max_labeled_demos(0)` is
    /// zero-shot mode: only instructions are searched.
    pub fn max_bootstrapped_demos(mut self, n: usize) -> Self {
        self.max_bootstrapped_demos = n;
        self
    }

    /// Builder: labeled demos per predictor and set.
    pub fn max_labeled_demos(mut self, n: usize) -> Self {
        self.max_labeled_demos = n;
        self
    }

    /// Builder: DSPy's `auto` — `Some(light | medium | heavy)` sets the
    /// candidate counts, the validation-set size and the trials; `None`
    /// needs [`Self::num_candidates`] and [`Self::num_trials`].
    pub fn auto(mut self, mode: Option<AutoMode>) -> Self {
        self.auto = mode;
        self
    }

    /// Builder: instruction candidates and demo sets (DSPy's
    /// `num_candidates`; only with `auto(None)`). Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn num_candidates(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.num_candidates = Some(non_zero("num_candidates", n)?);
        Ok(self)
    }

    /// Builder: TPE trials (DSPy's `compile(num_trials=..)`; only with
    /// `auto(None)`). Zero is an [`OptimizerError::InvalidArgument`].
    pub fn num_trials(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.num_trials = Some(non_zero("num_trials", n)?);
        Ok(self)
    }

    /// Builder: program calls in flight at once, across every bootstrap and
    /// trial (DSPy's `num_threads`). It never changes the result. Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn concurrency(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.concurrency = non_zero("concurrency", n)?;
        Ok(self)
    }

    /// Builder: minibatch trials in flight at once (default 1, DSPy's
    /// sequential loop). More trials at once finish sooner; the TPE then
    /// proposes with fewer results (constant liar), so the trials — though
    /// still a function of the seed and this setting — differ from the
    /// sequential ones. Zero is an [`OptimizerError::InvalidArgument`].
    pub fn trial_concurrency(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.trial_concurrency = non_zero("trial_concurrency", n)?;
        Ok(self)
    }

    /// Builder: failed examples that stop a bootstrap or an evaluation
    /// (DSPy's `max_errors`, default 10). Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn max_errors(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.max_errors = non_zero("max_errors", n)?;
        Ok(self)
    }

    /// Builder: the seed of every random choice (DSPy's `seed`, default 9).
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = seed;
        self
    }

    /// Builder: temperature of the proposal calls (DSPy's
    /// `init_temperature`, default 1.0).
    pub fn init_temperature(mut self, temperature: f32) -> Self {
        self.init_temperature = temperature;
        self
    }

    /// Builder: the bootstraps' metric threshold (DSPy's `metric_threshold`).
    pub fn metric_threshold(mut self, threshold: f64) -> Self {
        self.metric_threshold = Some(threshold);
        self
    }

    /// Builder: score trials on minibatches (DSPy's `minibatch`, default
    /// on; `auto` decides it from the validation set's size).
    pub fn minibatch(mut self, on: bool) -> Self {
        self.minibatch = on;
        self
    }

    /// Builder: examples per minibatch (default 35). Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn minibatch_size(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.minibatch_size = non_zero("minibatch_size", n)?;
        Ok(self)
    }

    /// Builder: minibatch trials between full evaluations (default 5). Zero
    /// is an [`OptimizerError::InvalidArgument`].
    pub fn minibatch_full_eval_steps(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.minibatch_full_eval_steps = non_zero("minibatch_full_eval_steps", n)?;
        Ok(self)
    }

    /// Builder: describe the program and each module to the proposals
    /// (DSPy's `program_aware_proposer`, default on).
    pub fn program_aware_proposer(mut self, on: bool) -> Self {
        self.program_aware_proposer = on;
        self
    }

    /// Builder: summarize the trainset for the proposals (DSPy's
    /// `data_aware_proposer`, default on).
    pub fn data_aware_proposer(mut self, on: bool) -> Self {
        self.data_aware_proposer = on;
        self
    }

    /// Builder: examples per dataset-summary call (DSPy's
    /// `view_data_batch_size`, default 10). Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn view_data_batch_size(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.view_data_batch_size = non_zero("view_data_batch_size", n)?;
        Ok(self)
    }

    /// Builder: a random prompting tip per proposal (DSPy's
    /// `tip_aware_proposer`, default on).
    pub fn tip_aware_proposer(mut self, on: bool) -> Self {
        self.tip_aware_proposer = on;
        self
    }

    /// Builder: show bootstrapped demos to the proposals (DSPy's
    /// `fewshot_aware_proposer`, default on).
    pub fn fewshot_aware_proposer(mut self, on: bool) -> Self {
        self.fewshot_aware_proposer = on;
        self
    }

    /// Builder: the text sent as `program_code` (DSPy sends the program's
    /// Python source; by default the program's structure, see
    /// [`super::default_program_code`]).
    pub fn program_code(mut self, code: impl Into<String>) -> Self {
        self.program_code = Some(code.into());
        self
    }

    /// Builder: stop once this many LM calls have been answered (through LM
    /// clients; cache hits count), returning the best program so far.
    /// Checked between phases and between trials. Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn max_lm_calls(mut self, n: u64) -> Result<Self, OptimizerError> {
        if n == 0 {
            return Err(OptimizerError::InvalidArgument { name: "max_lm_calls", message: "must be at least 1".into() });
        }
        self.max_lm_calls = Some(n);
        Ok(self)
    }

    /// Builder: stop once this many US dollars have been spent (prices of
    /// the LM clients; unknown prices count as zero), returning the best
    /// program so far. It must be a positive number, else
    /// [`OptimizerError::InvalidArgument`].
    pub fn max_cost_usd(mut self, usd: f64) -> Result<Self, OptimizerError> {
        if !(usd.is_finite() && usd > 0.0) {
            return Err(OptimizerError::InvalidArgument {
                name: "max_cost_usd",
                message: format!("must be a positive number, got {usd}"),
            });
        }
        self.max_cost_usd = Some(usd);
        Ok(self)
    }

    /// Builder: stop once this many tokens (prompt + completion, through LM
    /// clients; cache hits are free) have been spent, returning the best
    /// program so far. Checked between phases and between trials. Zero is
    /// an [`OptimizerError::InvalidArgument`]. (For a hard limit that also
    /// refuses calls mid-trial, run the compile inside
    /// `kestrel_lm::with_budget`.)
    pub fn max_tokens(mut self, n: u64) -> Result<Self, OptimizerError> {
        if n == 0 {
            return Err(OptimizerError::InvalidArgument { name: "max_tokens", message: "must be at least 1".into() });
        }
        self.max_tokens = Some(n);
        Ok(self)
    }

    /// Builder: show progress and print the cost estimate on stderr
    /// (default on).
    pub fn display_progress(mut self, on: bool) -> Self {
        self.display_progress = on;
        self
    }

    /// The `auto` mode.
    pub fn get_auto(&self) -> Option<AutoMode> {
        self.auto
    }

    /// `num_candidates`, if set.
    pub fn get_num_candidates(&self) -> Option<NonZeroUsize> {
        self.num_candidates
    }

    /// `num_trials`, if set.
    pub fn get_num_trials(&self) -> Option<NonZeroUsize> {
        self.num_trials
    }

    /// Program calls in flight at once.
    pub fn get_concurrency(&self) -> NonZeroUsize {
        self.concurrency
    }

    /// Minibatch trials in flight at once.
    pub fn get_trial_concurrency(&self) -> NonZeroUsize {
        self.trial_concurrency
    }

    /// The seed.
    pub fn get_seed(&self) -> i64 {
        self.seed
    }

    /// The LM-call budget, if set.
    pub fn get_max_lm_calls(&self) -> Option<u64> {
        self.max_lm_calls
    }

    /// The token budget, if set.
    pub fn get_max_tokens(&self) -> Option<u64> {
        self.max_tokens
    }

    /// The cost budget, if set.
    pub fn get_max_cost_usd(&self) -> Option<f64> {
        self.max_cost_usd
    }

    /// Compile with an explicit teacher program for the bootstraps (DSPy's
    /// `compile(teacher=..)`); it must have the student's structure.
    pub async fn compile_with_teacher<M>(
        &self,
        student: &M,
        teacher: &M,
        trainset: &[Example],
        valset: Option<&[Example]>,
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        self.compile_inner(student, Some(teacher), trainset, valset).await
    }

    async fn compile_inner<M>(
        &self,
        student: &M,
        teacher: Option<&M>,
        trainset: &[Example],
        valset: Option<&[Example]>,
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        let started = Instant::now();
        let refused_before = kestrel_lm::exhausted_in_scope().is_some();
        let meter = UsageMeter::new();
        // Boxed: the whole compile's state machine is large (every step's
        // futures), and a caller's stack (a test thread's 2 MiB) must not
        // hold it.
        let body = Box::pin(compile::run(self, student, teacher, trainset, valset, &meter));
        let result = track_usage_live(&meter, body).await;
        let (program, mut report) = budget_fallback("MIPROv2", student, result, refused_before)?;
        report.usage = meter.snapshot();
        report.elapsed = started.elapsed();
        Ok(Compiled { program, report })
    }
}

impl Optimizer for MiproV2 {
    fn name(&self) -> &'static str {
        "MIPROv2"
    }

    /// DSPy's `_estimate_lm_calls` made an upper bound: every demo set
    /// bootstrapped on the whole trainset, the trials (plus one more full
    /// evaluation, the default program's), and the prompt model's allowance
    /// (10 summary calls, one proposal per instruction candidate and
    /// predictor, `predictors + 1` program-aware calls). `valset` is the
    /// validation set actually used (MIPROv2 splits a trainset given alone).
    fn program_runs_bound(&self, trainset: usize, valset: usize, predictors: usize) -> Option<ProgramRuns> {
        let zero_shot = self.max_bootstrapped_demos == 0 && self.max_labeled_demos == 0;
        let (num_instruct, num_fewshot, trials, minibatch, val) = match self.auto {
            Some(mode) => {
                let (instruct, fewshot, trials) = auto_settings(mode, predictors.max(1), zero_shot);
                let val = mode.val_size().min(valset);
                (instruct, fewshot, trials, val > MIN_MINIBATCH_SIZE, val)
            }
            None => {
                let n = self.num_candidates.map_or(0, NonZeroUsize::get);
                (n, n, self.num_trials.map_or(0, NonZeroUsize::get), self.minibatch, valset)
            }
        };
        let (trials, val, steps) = (n(trials), n(val), n(self.minibatch_full_eval_steps.get()));
        let evaluations = if minibatch {
            n(self.minibatch_size.get()).saturating_mul(trials).saturating_add(val.saturating_mul(trials / steps + 2))
        } else {
            val.saturating_mul(trials + 1)
        };
        let bootstraps = n(num_fewshot).saturating_mul(n(trainset));
        let program_aware = if self.program_aware_proposer { n(predictors) + 1 } else { 0 };
        let proposals = 10 + n(num_instruct).saturating_mul(n(predictors.max(1))) + program_aware;
        Some(ProgramRuns { runs: bootstraps.saturating_add(evaluations), extra_lm_calls: proposals })
    }

    /// Without a valset, DSPy's split: the last 80% of the trainset (at most
    /// 1000) validates, the rest trains.
    async fn compile_with_valset<'a, M>(
        &'a self,
        student: &'a M,
        trainset: &'a [Example],
        valset: Option<&'a [Example]>,
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        self.compile_inner(student, None, trainset, valset).await
    }
}
