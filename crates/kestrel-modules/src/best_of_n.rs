//! [`BestOfN`]: run a module up to `N` times with distinct rollout ids at
//! temperature 1.0 and keep the first attempt whose reward reaches the
//! threshold, else the best one (DSPy's `dspy.BestOfN`).

use std::fmt;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream;
use kestrel_core::Example;

use crate::attempt::{Attempt, FailBudget, attempt_rollout_id, beats, finish, first_rollout_id, run_attempt};
use crate::error::ModuleError;
use crate::module::Module;
use crate::predictor::{Predictor, Predictors, join_path};
use crate::reward::Reward;

/// Best of `N` attempts (DSPy's `dspy.BestOfN`).
///
/// Attempt `i` runs the wrapped module with rollout id `start + i` (`start`
/// is the rollout id already in scope, else 0) and temperature 1.0 for every
/// predictor call that does not set its own, then scores it with the
/// reward. The first attempt whose reward is `>= threshold` is returned at
/// once; otherwise the highest-scoring one. Failed attempts are tolerated as
/// DSPy's `fail_count` says (see [`BestOfN::fail_count`]). The chosen
/// attempt's predictor calls go to the caller's trace scope.
///
/// Attempts run one after another by default, as in DSPy. With
/// [`BestOfN::parallel`] up to `k` run at once (on the calling task, so
/// LM, trace and usage scopes apply); results are still taken in attempt
/// order, so the answer is the one a sequential run gives — only attempts
/// after the winner may have been started (and are then dropped).
///
/// Its predictors are the wrapped module's, under `module` (DSPy's
/// attribute name): `module.predict` for a wrapped `ChainOfThought`.
pub struct BestOfN<M> {
    /// The wrapped module.
    pub module: M,
    n: usize,
    reward: Arc<dyn Reward>,
    threshold: f64,
    fail_count: Option<usize>,
    concurrency: usize,
}

impl<M: Clone> Clone for BestOfN<M> {
    fn clone(&self) -> Self {
        Self {
            module: self.module.clone(),
            n: self.n,
            reward: Arc::clone(&self.reward),
            threshold: self.threshold,
            fail_count: self.fail_count,
            concurrency: self.concurrency,
        }
    }
}

impl<M: fmt::Debug> fmt::Debug for BestOfN<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BestOfN")
            .field("module", &self.module)
            .field("n", &self.n)
            .field("threshold", &self.threshold)
            .field("fail_count", &self.fail_count)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl<M: Module> BestOfN<M> {
    /// Up to `n` attempts of `module`, scored by `reward`, stopping at the
    /// first reward `>= threshold`.
    pub fn new(module: M, n: usize, reward: impl Reward + 'static, threshold: f64) -> Self {
        Self { module, n, reward: Arc::new(reward), threshold, fail_count: None, concurrency: 1 }
    }

    /// Builder: DSPy's `fail_count` (default `N`). Attempt `i` (from 0)
    /// failing is raised when `i` exceeds the count left; each tolerated
    /// failure lowers the count by one.
    pub fn fail_count(mut self, fail_count: usize) -> Self {
        self.fail_count = Some(fail_count);
        self
    }

    /// Builder: run up to `k` attempts at once (1, the default, is
    /// sequential). The result is the same as a sequential run's.
    pub fn parallel(mut self, k: usize) -> Self {
        self.concurrency = k.max(1);
        self
    }

    /// The number of attempts.
    pub fn attempts(&self) -> usize {
        self.n
    }

    /// The reward threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }
}

impl<M> Predictors for BestOfN<M>
where
    M: Predictors,
{
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        self.module.visit_predictors(&join_path(path, "module"), visit);
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        self.module.visit_predictors_mut(&join_path(path, "module"), visit);
    }
    fn visit_state(&self, path: &str, visit: &mut dyn FnMut(&str, crate::predictor::StateRef<'_>)) {
        self.module.visit_state(&join_path(path, "module"), visit);
    }
    fn visit_state_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, crate::predictor::StateMut<'_>)) {
        self.module.visit_state_mut(&join_path(path, "module"), visit);
    }
}

impl<M> Module for BestOfN<M>
where
    M: Module + Clone,
    M::Input: Clone,
{
    type Input = M::Input;
    type Output = M::Output;

    async fn forward(&self, input: M::Input) -> Result<M::Output, ModuleError> {
        let inputs = Example::from_serialize(&input)?;
        let start = first_rollout_id();
        let mut budget = FailBudget::new(self.n, self.fail_count);
        let mut best: Option<Attempt<M::Output>> = None;
        let mut last_error = None;
        let mut made = 0;
        let reward = &*self.reward;
        let mut attempts = stream::iter(0..self.n)
            .map(|i| {
                let rollout_id = attempt_rollout_id(start, i);
                let run = run_attempt(&self.module, input.clone(), &inputs, rollout_id, reward, None);
                async move { (rollout_id, run.await) }
            })
            .buffered(self.concurrency);
        while let Some((rollout_id, result)) = attempts.next().await {
            let index = made;
            made += 1;
            match result {
                Ok(attempt) => {
                    let reached = attempt.reward >= self.threshold;
                    if beats(attempt.reward, best.as_ref()) {
                        best = Some(attempt);
                    }
                    if reached {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!("BestOfN: Attempt {} failed with rollout id {rollout_id}: {e}", index + 1);
                    last_error = Some(budget.absorb(index, e)?);
                }
            }
        }
        finish("BestOfN", best, made, last_error)
    }
}
