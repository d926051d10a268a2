//! [`KnnFewShot`]: DSPy's `KNNFewShot`. Compiling returns a program that,
//! on every call, finds the `k` training examples nearest to the call's
//! inputs ([`Knn`], by an [`Embedder`]) and runs BootstrapFewShot on them
//! (with the student as its own teacher, or the teacher given), then
//! answers with the bootstrapped program — demos chosen per input.
//!
//! As in DSPy, each call therefore costs the bootstrap's teacher runs (up
//! to `k` LM calls for a one-predictor program) plus the call itself. The
//! bootstrap is DSPy's default (`metric=None`: every teacher run is
//! accepted) unless [`KnnFewShot::few_shot_bootstrap_args`] gives another.

mod ann;
mod knn;

use std::sync::Arc;

use kestrel_core::Example;
use kestrel_lm::Embedder;
use kestrel_modules::{Module, ModuleError, Predictor, Predictors};

pub use knn::{ANN_MIN_TRAINSET, Knn, example_text, query_text};

use crate::bootstrap::BootstrapFewShot;
use crate::error::OptimizerError;

/// DSPy's `KNNFewShot(k, trainset, vectorizer, **few_shot_bootstrap_args)`.
#[derive(Clone)]
pub struct KnnFewShot {
    k: usize,
    trainset: Vec<Example>,
    vectorizer: Arc<dyn Embedder>,
    bootstrap: BootstrapFewShot,
    ann_min_trainset: usize,
}

impl std::fmt::Debug for KnnFewShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnnFewShot")
            .field("k", &self.k)
            .field("trainset", &self.trainset.len())
            .field("vectorizer", &self.vectorizer.model())
            .field("bootstrap", &self.bootstrap)
            .field("ann_min_trainset", &self.ann_min_trainset)
            .finish()
    }
}

/// DSPy's BootstrapFewShot without a metric: every teacher run is accepted.
fn accept_all(_: &Example, _: &kestrel_core::Prediction, _: Option<&kestrel_modules::Trace>) -> bool {
    true
}

impl KnnFewShot {
    /// `k` neighbours from `trainset` by `vectorizer`; the bootstrap is
    /// DSPy's default (no metric, 4 bootstrapped and 16 labeled demos, one
    /// round), without a progress bar.
    pub fn new(k: usize, trainset: Vec<Example>, vectorizer: Arc<dyn Embedder>) -> Self {
        Self {
            k,
            trainset,
            vectorizer,
            bootstrap: BootstrapFewShot::new(accept_all).display_progress(false),
            ann_min_trainset: ANN_MIN_TRAINSET,
        }
    }

    /// Builder: search an HNSW graph from this trainset size on (default
    /// [`ANN_MIN_TRAINSET`]; below it every example is scored). Kestrel's
    /// own setting: DSPy always scores every example.
    pub fn ann_min_trainset(mut self, n: usize) -> Self {
        self.ann_min_trainset = n;
        self
    }

    /// Builder: the BootstrapFewShot run on each call's neighbours (DSPy's
    /// `**few_shot_bootstrap_args`: its metric, threshold, demo counts,
    /// rounds, teacher LM, concurrency).
    pub fn few_shot_bootstrap_args(mut self, bootstrap: BootstrapFewShot) -> Self {
        self.bootstrap = bootstrap;
        self
    }

    /// Neighbours per call.
    pub fn get_k(&self) -> usize {
        self.k
    }

    /// The trainset size from which searches are approximate.
    pub fn get_ann_min_trainset(&self) -> usize {
        self.ann_min_trainset
    }

    /// The BootstrapFewShot run per call.
    pub fn get_few_shot_bootstrap_args(&self) -> &BootstrapFewShot {
        &self.bootstrap
    }

    /// Embed the trainset and return the per-call program (DSPy's
    /// `compile(student)`). A `k` of 0 is an
    /// [`OptimizerError::InvalidArgument`]; an embedder failure is an
    /// [`OptimizerError::Module`] holding the LM error.
    pub async fn compile<M: Module + Clone + 'static>(&self, student: &M) -> Result<KnnProgram<M>, OptimizerError> {
        self.compile_with_teacher(student, None).await
    }

    /// The same, with a teacher of the student's structure for the
    /// bootstraps (DSPy's `compile(student, teacher=teacher)`).
    pub async fn compile_with_teacher<M: Module + Clone + 'static>(
        &self,
        student: &M,
        teacher: Option<&M>,
    ) -> Result<KnnProgram<M>, OptimizerError> {
        let knn = Knn::with_ann_min_trainset(
            self.k,
            self.trainset.clone(),
            Arc::clone(&self.vectorizer),
            self.ann_min_trainset,
        )
        .await?;
        Ok(KnnProgram { student: student.clone(), teacher: teacher.cloned(), knn, bootstrap: self.bootstrap.clone() })
    }
}

/// The program [`KnnFewShot`] compiles: the student's inputs and outputs;
/// each call bootstraps demos from the call's nearest training examples.
/// Its predictors are the student's (what it saves and loads; a loaded
/// instruction reaches every call); the demos of a call are never stored.
/// DSPy saves its `reset_copy` of the student: the same, for the usual
/// student without demos.
#[derive(Clone)]
pub struct KnnProgram<M> {
    student: M,
    teacher: Option<M>,
    knn: Knn,
    bootstrap: BootstrapFewShot,
}

impl<M> std::fmt::Debug for KnnProgram<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnnProgram").field("knn", &self.knn).finish_non_exhaustive()
    }
}

impl<M: Module + Clone + 'static> KnnProgram<M> {
    /// The neighbour index.
    pub fn knn(&self) -> &Knn {
        &self.knn
    }

    /// The program a call with `inputs` runs: the student bootstrapped on
    /// the inputs' neighbours (DSPy's per-call `compiled_program`).
    pub async fn program_for(&self, inputs: &Example) -> Result<M, OptimizerError> {
        let neighbours = self.knn.neighbours(inputs).await?;
        let teacher = self.teacher.as_ref().unwrap_or(&self.student);
        let compiled = self.bootstrap.compile_with_teacher(&self.student, teacher, &neighbours).await?;
        Ok(compiled.program)
    }
}

fn module_error(e: OptimizerError) -> ModuleError {
    match e {
        OptimizerError::Module(inner) => inner,
        other => ModuleError::Module { module: "KNNFewShot".into(), message: other.to_string() },
    }
}

impl<M: Module + Clone + 'static> Predictors for KnnProgram<M> {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        self.student.visit_predictors(path, visit);
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        self.student.visit_predictors_mut(path, visit);
    }
}

impl<M: Module + Clone + 'static> Module for KnnProgram<M> {
    type Input = M::Input;
    type Output = M::Output;

    async fn forward(&self, input: M::Input) -> Result<M::Output, ModuleError> {
        let inputs = Example::from_serialize(&input)?;
        let program = self.program_for(&inputs).await.map_err(module_error)?;
        program.forward(input).await
    }
}
