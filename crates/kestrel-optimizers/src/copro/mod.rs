//! [`Copro`]: DSPy's COPRO — coordinate ascent over each predictor's
//! instruction and output-field prefix.
//!
//! For every predictor, a prompt model proposes `breadth - 1` (instruction,
//! prefix) pairs in one `n`-choice call (`BasicGenerateInstruction` at
//! `init_temperature`); the original pair is added as a candidate. Each of
//! `depth` rounds scores every candidate of every predictor by evaluating the
//! whole program on the trainset with that candidate in place, sets the
//! predictor to its best candidate so far (the next predictor is scored with
//! it), and — except in the last round — shows the prompt model the attempts
//! so far, worst to best with their scores (`GenerateInstructionGivenAttempts`),
//! for `breadth` new candidates. The best program over all candidates wins;
//! candidates with the same score and the same instructions and last fields
//! are dropped as duplicates, as DSPy does.
//!
//! DSPy scores candidates one at a time. Here the candidates of one
//! predictor in one round are scored concurrently (they are independent:
//! each is a clone of the program with one predictor changed), under one
//! limit on program calls in flight, and their results are taken in
//! candidate order — the choices are the sequential run's. With
//! `concurrency(1)` the requests are made in exactly DSPy's order.

mod prompts;
mod search;

use std::num::NonZeroUsize;
use std::sync::Arc;

use kestrel_core::Example;
use kestrel_eval::Metric;
use kestrel_lm::SharedLm;
use kestrel_modules::Module;

use crate::bootstrap::{DEFAULT_MAX_ERRORS, non_zero};
use crate::cost_estimate::{ProgramRuns, n};
use crate::error::OptimizerError;
use crate::optimizer::{Compiled, Optimizer, measured};

/// DSPy's default `breadth`.
pub const DEFAULT_BREADTH: usize = 10;
/// DSPy's default `depth`.
pub const DEFAULT_DEPTH: NonZeroUsize = NonZeroUsize::MIN.saturating_add(2);
/// DSPy's default `init_temperature`.
pub const DEFAULT_INIT_TEMPERATURE: f32 = 1.4;
/// Program calls in flight by default, shared by every candidate evaluation.
pub const DEFAULT_COPRO_CONCURRENCY: NonZeroUsize = NonZeroUsize::MIN.saturating_add(15);

/// COPRO: instruction and prefix search by coordinate ascent.
#[derive(Clone)]
pub struct Copro {
    metric: Arc<dyn Metric>,
    prompt_model: Option<SharedLm>,
    breadth: usize,
    depth: NonZeroUsize,
    init_temperature: f32,
    track_stats: bool,
    concurrency: NonZeroUsize,
    max_errors: Option<NonZeroUsize>,
    display_progress: bool,
}

impl std::fmt::Debug for Copro {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Copro")
            .field("prompt_model", &self.prompt_model.as_ref().map(SharedLm::model))
            .field("breadth", &self.breadth)
            .field("depth", &self.depth)
            .field("init_temperature", &self.init_temperature)
            .field("track_stats", &self.track_stats)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Copro {
    /// DSPy's defaults: breadth 10, depth 3, initial temperature 1.4, the LM
    /// in scope as the prompt model, no statistics.
    pub fn new(metric: impl Metric + 'static) -> Self {
        Self::with_shared_metric(Arc::new(metric))
    }

    /// The same, with a metric already shared.
    pub fn with_shared_metric(metric: Arc<dyn Metric>) -> Self {
        Self {
            metric,
            prompt_model: None,
            breadth: DEFAULT_BREADTH,
            depth: DEFAULT_DEPTH,
            init_temperature: DEFAULT_INIT_TEMPERATURE,
            track_stats: false,
            concurrency: DEFAULT_COPRO_CONCURRENCY,
            max_errors: Some(DEFAULT_MAX_ERRORS),
            display_progress: true,
        }
    }

    /// Builder: the LM that proposes instructions (DSPy's `prompt_model`);
    /// by default the LM in scope, as the program's.
    pub fn prompt_model(mut self, lm: impl Into<SharedLm>) -> Self {
        self.prompt_model = Some(lm.into());
        self
    }

    /// Builder: candidates proposed per predictor and round; it must be
    /// more than 1 (DSPy raises the same `ValueError` in its constructor),
    /// else [`OptimizerError::InvalidArgument`].
    pub fn breadth(mut self, breadth: usize) -> Result<Self, OptimizerError> {
        if breadth <= 1 {
            return Err(OptimizerError::InvalidArgument { name: "breadth", message: "must be greater than 1".into() });
        }
        self.breadth = breadth;
        Ok(self)
    }

    /// Builder: rounds of scoring and proposing; zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn depth(mut self, depth: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.depth = non_zero("depth", depth)?;
        Ok(self)
    }

    /// Builder: sampling temperature of the proposal calls.
    pub fn init_temperature(mut self, temperature: f32) -> Self {
        self.init_temperature = temperature;
        self
    }

    /// Builder: record per-depth score statistics in the report
    /// (`CompileReport::depth_stats`).
    pub fn track_stats(mut self, on: bool) -> Self {
        self.track_stats = on;
        self
    }

    /// Builder: program calls in flight at once across every candidate
    /// evaluation (DSPy's `num_threads`); 1 reproduces DSPy's request order.
    /// Zero is an [`OptimizerError::InvalidArgument`].
    pub fn concurrency(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.concurrency = non_zero("concurrency", n)?;
        Ok(self)
    }

    /// Builder: stop an evaluation when this many examples have failed
    /// (failures score 0; default 10). Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn max_errors(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.max_errors = Some(non_zero("max_errors", n)?);
        Ok(self)
    }

    /// Builder: never stop an evaluation on errors.
    pub fn unlimited_errors(mut self) -> Self {
        self.max_errors = None;
        self
    }

    /// Builder: show a progress bar on a terminal (default on).
    pub fn display_progress(mut self, on: bool) -> Self {
        self.display_progress = on;
        self
    }

    /// Candidates proposed per predictor and round.
    pub fn get_breadth(&self) -> usize {
        self.breadth
    }

    /// Rounds of scoring and proposing.
    pub fn get_depth(&self) -> NonZeroUsize {
        self.depth
    }

    /// Program calls in flight at once.
    pub fn get_concurrency(&self) -> NonZeroUsize {
        self.concurrency
    }
}

impl Optimizer for Copro {
    fn name(&self) -> &'static str {
        "COPRO"
    }

    /// Candidate evaluations on the valset (the trainset when none is
    /// given) — `breadth` per round with one
    /// predictor; with several, every candidate so far is re-scored each
    /// round (`breadth · depth · (depth + 1) / 2` per predictor) — and one
    /// proposal call per predictor and round.
    fn program_runs_bound(&self, _trainset: usize, valset: usize, predictors: usize) -> Option<ProgramRuns> {
        let (breadth, depth, p) = (n(self.breadth), n(self.depth.get()), n(predictors.max(1)));
        let evaluations = if p == 1 { breadth * depth } else { p * breadth * depth * (depth + 1) / 2 };
        Some(ProgramRuns { runs: evaluations.saturating_mul(n(valset)), extra_lm_calls: p * depth })
    }

    /// COPRO scores candidates on the trainset (DSPy's `compile` takes no
    /// valset); a `valset` given here is used instead when not empty.
    async fn compile_with_valset<'a, M>(
        &'a self,
        student: &'a M,
        trainset: &'a [Example],
        valset: Option<&'a [Example]>,
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        let devset = valset.filter(|v| !v.is_empty()).unwrap_or(trainset);
        measured(self.name(), student, search::run(self, student, devset)).await
    }
}
