//! [`Ensemble`]: DSPy's `Ensemble` teleprompter — several programs behind
//! one, each call running all of them (or a random `size` of them) and
//! combining their outputs with a reduce function such as
//! [`majority_of`] (DSPy's `dspy.majority` over a list of predictions).
//!
//! DSPy draws the `size` subset with Python's global `random` on every
//! call. Here the subset comes from a generator seeded by `seed`
//! ([`PyRandom`], so with the same seed and call order the subsets are
//! those `random.seed(seed)` gives DSPy), held by the ensembled program:
//! the same sequence of calls draws the same subsets. DSPy 3.4.1 rejects
//! `deterministic=True` (an assertion: "TODO: Implement example hashing
//! for deterministic ensemble"); here it does what that TODO describes —
//! the subset is drawn from `seed` and a hash of the call's inputs, so the
//! same input always meets the same programs, whatever the call order or
//! concurrency.

use std::sync::{Arc, Mutex, PoisonError};

use kestrel_core::{Example, Prediction, PyRandom};
use kestrel_modules::{Module, ModuleError, ModuleExt, Predictor, Predictors, join_path, majority};
use sha2::{Digest, Sha256};

use crate::error::OptimizerError;

/// A reduce function: the outputs of the programs that ran, in program
/// order, to one prediction.
pub type ReduceFn = dyn Fn(&[Prediction]) -> Result<Prediction, ModuleError> + Send + Sync;

/// DSPy's `dspy.majority(outputs)` on a list of predictions: each output's
/// main completion votes on the last field, normalized as DSPy does.
pub fn majority_of(outputs: &[Prediction]) -> Result<Prediction, ModuleError> {
    majority(&Prediction::from_completions(outputs.iter().map(|p| p.fields().clone()).collect()))
}

/// Combines programs into one ([`Ensemble::compile`]).
#[derive(Clone, Default)]
pub struct Ensemble {
    reduce_fn: Option<Arc<ReduceFn>>,
    size: Option<usize>,
    deterministic: bool,
    seed: i64,
}

impl std::fmt::Debug for Ensemble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ensemble")
            .field("reduce_fn", &self.reduce_fn.as_ref().map(|_| "..."))
            .field("size", &self.size)
            .field("deterministic", &self.deterministic)
            .field("seed", &self.seed)
            .finish()
    }
}

impl Ensemble {
    /// DSPy's defaults: no reduce function, every program runs, not
    /// deterministic; seed 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: combine the outputs with `f` (DSPy's `reduce_fn`; a common
    /// one is [`majority_of`]). Without one, the output is one prediction
    /// holding every output's main completion, in program order (DSPy
    /// returns the list), so [`majority`] can be applied later.
    pub fn reduce_fn(
        mut self,
        f: impl Fn(&[Prediction]) -> Result<Prediction, ModuleError> + Send + Sync + 'static,
    ) -> Self {
        self.reduce_fn = Some(Arc::new(f));
        self
    }

    /// Builder: run a random subset of this many programs per call (DSPy's
    /// `size`). Zero, or more than the programs given, is an
    /// [`OptimizerError::InvalidArgument`] at compile time (DSPy's
    /// `random.sample` raises on a call).
    pub fn size(mut self, n: usize) -> Self {
        self.size = Some(n);
        self
    }

    /// Builder: draw the subset from the seed and the call's inputs, so an
    /// input always meets the same programs (see the module docs).
    pub fn deterministic(mut self, on: bool) -> Self {
        self.deterministic = on;
        self
    }

    /// Builder: the seed of the subsets.
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = seed;
        self
    }

    /// Programs per call, if a subset is drawn.
    pub fn get_size(&self) -> Option<usize> {
        self.size
    }

    /// Whether subsets depend only on the seed and the inputs.
    pub fn get_deterministic(&self) -> bool {
        self.deterministic
    }

    /// The seed.
    pub fn get_seed(&self) -> i64 {
        self.seed
    }

    /// Combine `programs` into one. No program, or a `size` of zero or
    /// above the count, is an [`OptimizerError::InvalidArgument`].
    pub fn compile<M: Module + Clone>(&self, programs: Vec<M>) -> Result<Ensembled<M>, OptimizerError> {
        if programs.is_empty() {
            return Err(OptimizerError::InvalidArgument {
                name: "programs",
                message: "no programs to ensemble".into(),
            });
        }
        if let Some(size) = self.size {
            if size == 0 || size > programs.len() {
                return Err(OptimizerError::InvalidArgument {
                    name: "size",
                    message: format!("must be between 1 and the {} programs, got {size}", programs.len()),
                });
            }
        }
        Ok(Ensembled { programs, settings: self.clone(), rng: Arc::new(Mutex::new(PyRandom::new(self.seed))) })
    }
}

/// Programs combined by an [`Ensemble`]: a [`Module`] from an
/// [`Example`] of inputs to a [`Prediction`]. Its predictors are the
/// programs', at `programs[i].<path>` (DSPy's attribute names), so it saves
/// and loads as DSPy's `EnsembledProgram` does. Clones share the subset
/// generator.
#[derive(Clone)]
pub struct Ensembled<M> {
    programs: Vec<M>,
    settings: Ensemble,
    rng: Arc<Mutex<PyRandom>>,
}

impl<M> std::fmt::Debug for Ensembled<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ensembled").field("programs", &self.programs.len()).field("settings", &self.settings).finish()
    }
}

impl<M: Module + Clone> Ensembled<M> {
    /// The programs, in order.
    pub fn programs(&self) -> &[M] {
        &self.programs
    }

    /// Indices of the programs that run for `inputs`, in the order they
    /// run (all of them, in order, without a `size`).
    pub fn chosen(&self, inputs: &Example) -> Vec<usize> {
        let n = self.programs.len();
        let Some(size) = self.settings.size else { return (0..n).collect() };
        if self.settings.deterministic {
            let mut hasher = Sha256::new();
            hasher.update(self.settings.seed.to_le_bytes());
            hasher.update(serde_json::to_vec(inputs.fields()).unwrap_or_default());
            let digest = hasher.finalize();
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&digest[..8]);
            PyRandom::new((u64::from_le_bytes(bytes) >> 1) as i64).sample_indices(n, size)
        } else {
            self.rng.lock().unwrap_or_else(PoisonError::into_inner).sample_indices(n, size)
        }
    }

    /// Every chosen program's output, in the order they ran (DSPy's
    /// `outputs`, before the reduce function). The programs run
    /// concurrently.
    pub async fn forward_all(&self, inputs: &Example) -> Result<Vec<Prediction>, ModuleError> {
        let chosen = self.chosen(inputs);
        let runs = chosen.iter().map(|&i| self.programs[i].call_example(inputs));
        futures::future::join_all(runs).await.into_iter().collect()
    }
}

impl<M: Module + Clone> Predictors for Ensembled<M> {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        let base = join_path(path, "programs");
        for (i, program) in self.programs.iter().enumerate() {
            program.visit_predictors(&format!("{base}[{i}]"), visit);
        }
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        let base = join_path(path, "programs");
        for (i, program) in self.programs.iter_mut().enumerate() {
            program.visit_predictors_mut(&format!("{base}[{i}]"), visit);
        }
    }
}

impl<M: Module + Clone> Module for Ensembled<M> {
    type Input = Example;
    type Output = Prediction;

    async fn forward(&self, input: Example) -> Result<Prediction, ModuleError> {
        let outputs = self.forward_all(&input).await?;
        match &self.settings.reduce_fn {
            Some(reduce) => reduce(&outputs),
            None => Ok(Prediction::from_completions(outputs.iter().map(|p| p.fields().clone()).collect())),
        }
    }
}
