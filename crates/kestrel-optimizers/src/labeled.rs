//! [`LabeledFewShot`]: demos sampled from the labeled training set, as
//! DSPy's `LabeledFewShot` — `k` (default 16) examples per predictor drawn
//! with Python's `random.Random(0).sample`, one generator shared by the
//! predictors in order, so the same trainset gives the same demos as DSPy.

use std::time::Instant;

use kestrel_core::{Example, PyRandom};
use kestrel_modules::{Module, Predictor};

use crate::cost_estimate::ProgramRuns;
use crate::error::OptimizerError;
use crate::optimizer::{Compiled, Optimizer, reset_copy};
use crate::report::CompileReport;

/// DSPy's default number of labeled demos.
pub const DEFAULT_K: usize = 16;

/// Labeled few-shot: every predictor gets up to `k` training examples as
/// demos. No LM calls.
#[derive(Debug, Clone)]
pub struct LabeledFewShot {
    k: usize,
    sample: bool,
}

impl Default for LabeledFewShot {
    fn default() -> Self {
        Self::new(DEFAULT_K)
    }
}

impl LabeledFewShot {
    /// Up to `k` demos per predictor, sampled.
    pub fn new(k: usize) -> Self {
        Self { k, sample: true }
    }

    /// Builder: `false` takes the first `k` examples instead of sampling
    /// (DSPy's `sample=False`).
    pub fn sample(mut self, sample: bool) -> Self {
        self.sample = sample;
        self
    }

    /// The demos assignment as a plain function: a reset copy of `student`
    /// with every predictor's demos drawn from `trainset`.
    pub fn apply<M: Module + Clone>(&self, student: &M, trainset: &[Example]) -> M {
        let mut program = reset_copy(student);
        if trainset.is_empty() {
            return program;
        }
        let mut rng = PyRandom::new(0);
        let k = self.k.min(trainset.len());
        let sample = self.sample;
        program.visit_predictors_mut("", &mut |_, p: &mut dyn Predictor| {
            let demos = if sample { rng.sample(trainset, k) } else { trainset[..k].to_vec() };
            p.set_demos(demos);
        });
        program
    }
}

impl Optimizer for LabeledFewShot {
    fn name(&self) -> &'static str {
        "LabeledFewShot"
    }

    /// No LM call at all.
    fn program_runs_bound(&self, _trainset: usize, _valset: usize, _predictors: usize) -> Option<ProgramRuns> {
        Some(ProgramRuns::default())
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
        let started = Instant::now();
        let program = self.apply(student, trainset);
        let mut report = CompileReport::new(self.name());
        report.elapsed = started.elapsed();
        Ok(Compiled { program, report })
    }
}
