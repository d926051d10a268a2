//! The rows of optimizers that do not fit [`kestrel_optimizers::DynOptimizer`]
//! (their compiled program is not the student's type): `knn`
//! (KNNFewShot: compiling embeds the trainset; every dev call then finds
//! its neighbours and bootstraps on them, so its LM calls are in the eval
//! phase) and `ensemble` (three BootstrapFewShot programs, one per third of
//! the trainset, behind one program reduced by majority).
//!
//! KNNFewShot's embedder is [`HashedWordsEmbedder`] (256 dimensions): a
//! deterministic, offline bag of hashed words, so the row needs no
//! embedding model — neighbours share words with the question.

use std::sync::Arc;

use anyhow::{Context, Result};
use kestrel_modules::DynModule;
use kestrel_optimizers::{BootstrapFewShot, Ensemble, KnnFewShot, Optimizer, majority_of};
use kestrel_testkit::HashedWordsEmbedder;

use super::cli::{OptimizerKind, ProgramKind};
use super::matrix::{Runner, outcomes, parse_failures};
use super::report::{Baseline, Row};

/// Dimensions of the offline embedder of the `knn` row.
pub const KNN_EMBEDDING_DIMENSIONS: usize = 256;

/// Programs of the `ensemble` row.
pub const ENSEMBLE_PROGRAMS: usize = 3;

impl Runner<'_> {
    /// The row of `optimizer` when it is `knn` or `ensemble`, else `None`.
    pub(super) async fn per_call_row(
        &self,
        kind: ProgramKind,
        optimizer: OptimizerKind,
        program: &dyn DynModule,
        baseline: &Baseline,
    ) -> Result<Option<Row>> {
        let (compiled, compile_phase) = match optimizer {
            OptimizerKind::Knn => self.measure(self.knn(program)).await,
            OptimizerKind::Ensemble => self.measure(self.ensemble(program)).await,
            _ => return Ok(None),
        };
        let compiled = compiled.with_context(|| format!("compiling {} with {}", kind.name(), optimizer.name()))?;
        let name = format!("{}-{}", kind.name(), optimizer.name());
        let (after, eval_phase) = self.evaluate(&compiled, &name).await?;
        let mut row = self.row(kind, optimizer, &compiled, baseline, compile_phase, eval_phase);
        row.score_after = after.score;
        row.eval_errors = after.errors;
        row.parse_failures = parse_failures(&after);
        row.outcomes = outcomes(&after);
        Ok(Some(row))
    }

    async fn knn(&self, program: &dyn DynModule) -> Result<Box<dyn DynModule>> {
        let a = self.args;
        let bootstrap = BootstrapFewShot::with_shared_metric(Arc::clone(&self.metric))
            .max_bootstrapped_demos(a.max_bootstrapped_demos)
            .max_labeled_demos(a.max_labeled_demos)
            .concurrency(a.concurrency)?
            .display_progress(false);
        let embedder = Arc::new(HashedWordsEmbedder::new(KNN_EMBEDDING_DIMENSIONS));
        let knn = KnnFewShot::new(a.max_bootstrapped_demos.max(1), self.data.train.clone(), embedder)
            .few_shot_bootstrap_args(bootstrap);
        Ok(Box::new(knn.compile(&program.clone_box()).await?))
    }

    async fn ensemble(&self, program: &dyn DynModule) -> Result<Box<dyn DynModule>> {
        let a = self.args;
        let bootstrap = BootstrapFewShot::with_shared_metric(Arc::clone(&self.metric))
            .max_bootstrapped_demos(a.max_bootstrapped_demos)
            .max_labeled_demos(a.max_labeled_demos)
            .concurrency(a.concurrency)?
            .display_progress(false);
        let train = &self.data.train;
        let third = train.len().div_ceil(ENSEMBLE_PROGRAMS).max(1);
        let mut programs = Vec::with_capacity(ENSEMBLE_PROGRAMS);
        let student = program.clone_box();
        for part in train.chunks(third) {
            programs.push(bootstrap.compile(&student, part).await?.program);
        }
        Ok(Box::new(Ensemble::new().reduce_fn(majority_of).compile(programs)?))
    }
}
