//! [`Simba`]: DSPy 3.4.1's SIMBA (Stochastic Introspective Mini-Batch
//! Ascent). Each step samples a minibatch, runs programs from the pool
//! (softmax-sampled by average score) under `num_candidates` sampling
//! settings (rollout ids `0..`, temperature 1.0; the teacher first when
//! given), sorts the examples by how much their runs disagree (max−min,
//! max, max−average), and builds up to `num_candidates + 1` candidates from
//! the most telling ones with a random strategy: append a demo from the
//! best run, or append a rule the prompt model writes by contrasting the
//! best and the worst run (DSPy's `OfferFeedback` prompt, byte for byte).
//! Candidates are scored on the minibatch and join the pool; the best of
//! each step is a winner. At the end, evenly spaced winners (the student
//! first) are scored on the full trainset and the best is returned.
//!
//! Every random choice DSPy makes with `random.Random(seed)` is made here
//! with [`kestrel_core::PyRandom`] in the same order, and the number of
//! demos to drop, which DSPy draws from `np.random.default_rng(seed)`, with
//! the same numpy generator (`numpy_random`), so for the same seed and LM
//! replies the candidates are DSPy's. Rollouts and candidate
//! evaluations run concurrently (`concurrency` program calls in flight);
//! the rule prompts of one step run concurrently too, in bucket order, with
//! the random draws made first — the choices equal a sequential run's.
//!
//! SIMBA has no validation set (DSPy's `compile` takes none): a valset
//! given to [`Optimizer::compile_with_valset`] is ignored.

mod compile;
mod numpy_random;
mod offer_feedback;
mod report;
mod rollout;
mod sampling;
mod strategies;

use std::num::NonZeroUsize;
use std::sync::Arc;

use kestrel_core::Example;
use kestrel_eval::Metric;
use kestrel_lm::SharedLm;
use kestrel_modules::Module;

pub use report::{SimbaCandidate, SimbaFailure, SimbaFinalCandidate, SimbaReport, SimbaStep, SimbaStrategy};

use crate::bootstrap::non_zero;
use crate::cost_estimate::{ProgramRuns, n};
use crate::error::OptimizerError;
use crate::optimizer::{Compiled, Optimizer, measured};

/// Program calls in flight by default (DSPy's `num_threads=None` runs
/// `dspy.settings.num_threads`, 8 by default; the simulated-LM benchmarks
/// set it explicitly).
pub const DEFAULT_SIMBA_CONCURRENCY: NonZeroUsize = NonZeroUsize::MIN.saturating_add(7);

/// DSPy's SIMBA optimizer.
#[derive(Clone)]
pub struct Simba {
    metric: Arc<dyn Metric>,
    bsize: NonZeroUsize,
    num_candidates: NonZeroUsize,
    max_steps: usize,
    max_demos: usize,
    prompt_model: Option<SharedLm>,
    teacher_settings: Option<SharedLm>,
    demo_input_field_maxlen: usize,
    concurrency: NonZeroUsize,
    temperature_for_sampling: f64,
    temperature_for_candidates: f64,
    seed: i64,
    program_code: Option<String>,
}

impl std::fmt::Debug for Simba {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simba")
            .field("bsize", &self.bsize)
            .field("num_candidates", &self.num_candidates)
            .field("max_steps", &self.max_steps)
            .field("max_demos", &self.max_demos)
            .field("prompt_model", &self.prompt_model.as_ref().map(SharedLm::model))
            .field("teacher_settings", &self.teacher_settings.as_ref().map(SharedLm::model))
            .field("demo_input_field_maxlen", &self.demo_input_field_maxlen)
            .field("concurrency", &self.concurrency)
            .field("temperature_for_sampling", &self.temperature_for_sampling)
            .field("temperature_for_candidates", &self.temperature_for_candidates)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Simba {
    /// DSPy's defaults: `bsize` 32, 6 candidates, 8 steps, 4 demos, demo
    /// inputs kept up to 100,000 characters, both temperatures 0.2, seed 0;
    /// rules written by the LM in scope, trajectories sampled without a
    /// teacher; [`DEFAULT_SIMBA_CONCURRENCY`] program calls in flight.
    pub fn new(metric: impl Metric + 'static) -> Self {
        Self {
            metric: Arc::new(metric),
            bsize: NonZeroUsize::MIN.saturating_add(31),
            num_candidates: NonZeroUsize::MIN.saturating_add(5),
            max_steps: 8,
            max_demos: 4,
            prompt_model: None,
            teacher_settings: None,
            demo_input_field_maxlen: 100_000,
            concurrency: DEFAULT_SIMBA_CONCURRENCY,
            temperature_for_sampling: 0.2,
            temperature_for_candidates: 0.2,
            seed: 0,
            program_code: None,
        }
    }

    /// Builder: minibatch size; the trainset must hold at least this many
    /// examples. Zero is an [`OptimizerError::InvalidArgument`].
    pub fn bsize(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.bsize = non_zero("bsize", n)?;
        Ok(self)
    }

    /// Builder: sampling settings per step (trajectories per example) and
    /// new candidates per step (at most this plus one). Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn num_candidates(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.num_candidates = non_zero("num_candidates", n)?;
        Ok(self)
    }

    /// Builder: optimization steps (0 scores the student alone).
    pub fn max_steps(mut self, n: usize) -> Self {
        self.max_steps = n;
        self
    }

    /// Builder: demos a predictor holds before SIMBA starts dropping some;
    /// 0 disables the demo strategy (rules only).
    pub fn max_demos(mut self, n: usize) -> Self {
        self.max_demos = n;
        self
    }

    /// Builder: the LM that writes rules (DSPy's `prompt_model`; default:
    /// the LM in scope).
    pub fn prompt_model(mut self, lm: impl Into<SharedLm>) -> Self {
        self.prompt_model = Some(lm.into());
        self
    }

    /// Builder: the teacher LM (DSPy's `teacher_settings=dict(lm=..)`, the
    /// one setting SIMBA reads): the first of each step's sampling settings
    /// runs every predictor on it with rollout id 0 and its own temperature.
    pub fn teacher_settings(mut self, lm: impl Into<SharedLm>) -> Self {
        self.teacher_settings = Some(lm.into());
        self
    }

    /// Builder: input values of a new demo longer than this many characters
    /// are cut, with DSPy's `... <TRUNCATED FOR BREVITY>` marker (0: never).
    pub fn demo_input_field_maxlen(mut self, n: usize) -> Self {
        self.demo_input_field_maxlen = n;
        self
    }

    /// Builder: program calls in flight at once (DSPy's `num_threads`).
    /// Zero is an [`OptimizerError::InvalidArgument`].
    pub fn concurrency(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.concurrency = non_zero("concurrency", n)?;
        Ok(self)
    }

    /// Builder: softmax temperature picking the program that runs each
    /// trajectory. Not positive (or not finite) is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn temperature_for_sampling(mut self, t: f64) -> Result<Self, OptimizerError> {
        self.temperature_for_sampling = positive("temperature_for_sampling", t)?;
        Ok(self)
    }

    /// Builder: softmax temperature picking each candidate's source
    /// program. Not positive (or not finite) is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn temperature_for_candidates(mut self, t: f64) -> Result<Self, OptimizerError> {
        self.temperature_for_candidates = positive("temperature_for_candidates", t)?;
        Ok(self)
    }

    /// Builder: the seed (DSPy's `compile(..., seed=0)`).
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = seed;
        self
    }

    /// Builder: the `program_code` the rule prompt shows (DSPy sends the
    /// program class's Python source, which Rust cannot read); by default
    /// the text MIPROv2's proposer generates from the program's structure
    /// ([`crate::mipro::default_program_code`]).
    pub fn program_code(mut self, code: impl Into<String>) -> Self {
        self.program_code = Some(code.into());
        self
    }

    /// The metric.
    pub fn metric(&self) -> &dyn Metric {
        self.metric.as_ref()
    }

    /// Minibatch size.
    pub fn get_bsize(&self) -> NonZeroUsize {
        self.bsize
    }

    /// Sampling settings and new candidates per step.
    pub fn get_num_candidates(&self) -> NonZeroUsize {
        self.num_candidates
    }

    /// Optimization steps.
    pub fn get_max_steps(&self) -> usize {
        self.max_steps
    }

    /// Demos a predictor holds before some are dropped.
    pub fn get_max_demos(&self) -> usize {
        self.max_demos
    }

    /// Longest demo input kept whole.
    pub fn get_demo_input_field_maxlen(&self) -> usize {
        self.demo_input_field_maxlen
    }

    /// Program calls in flight.
    pub fn get_concurrency(&self) -> NonZeroUsize {
        self.concurrency
    }

    /// Softmax temperature for trajectories.
    pub fn get_temperature_for_sampling(&self) -> f64 {
        self.temperature_for_sampling
    }

    /// Softmax temperature for candidate sources.
    pub fn get_temperature_for_candidates(&self) -> f64 {
        self.temperature_for_candidates
    }

    /// The seed.
    pub fn get_seed(&self) -> i64 {
        self.seed
    }
}

fn positive(name: &'static str, t: f64) -> Result<f64, OptimizerError> {
    if t > 0.0 && t.is_finite() {
        Ok(t)
    } else {
        Err(OptimizerError::InvalidArgument { name, message: format!("must be a positive number, got {t}") })
    }
}

impl Optimizer for Simba {
    fn name(&self) -> &'static str {
        "SIMBA"
    }

    /// Per step `num_candidates` sampled runs and `num_candidates + 1`
    /// candidate runs per minibatch example, then at most
    /// `num_candidates + 1` winners on the trainset; one rule proposal per
    /// candidate and step.
    fn program_runs_bound(&self, trainset: usize, _valset: usize, _predictors: usize) -> Option<ProgramRuns> {
        let (k, bsize, steps) = (n(self.num_candidates.get()), n(self.bsize.get()), n(self.max_steps));
        let runs =
            steps.saturating_mul((2 * k + 1).saturating_mul(bsize)).saturating_add((k + 1).saturating_mul(n(trainset)));
        Some(ProgramRuns { runs, extra_lm_calls: steps.saturating_mul(k + 1) })
    }

    async fn compile_with_valset<'a, M>(
        &'a self,
        student: &'a M,
        trainset: &'a [Example],
        _valset: Option<&'a [Example]>,
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        if trainset.len() < self.bsize.get() {
            // DSPy asserts the same before any work.
            return Err(OptimizerError::InvalidArgument {
                name: "bsize",
                message: format!("the trainset has {} examples, fewer than bsize = {}", trainset.len(), self.bsize),
            });
        }
        measured(self.name(), student, compile::run(self, student, trainset)).await
    }
}
