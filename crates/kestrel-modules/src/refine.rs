//! [`Refine`]: BestOfN with feedback (DSPy's `dspy.Refine`). After each
//! attempt that misses the threshold, an `OfferFeedback` call assigns blame
//! and writes advice per predictor; the next attempt gives every predictor
//! its advice as an extra `hint_` input.

use std::fmt;
use std::sync::Arc;

use kestrel_core::Example;
use kestrel_lm::{SharedLm, current_lm};

use crate::attempt::{Attempt, FailBudget, attempt_rollout_id, beats, finish, first_rollout_id, run_attempt};
use crate::error::ModuleError;
use crate::hint_scope::Hints;
use crate::module::Module;
use crate::predict::Predict;
use crate::predictor::{Predictor, Predictors, join_path};
use crate::refine_feedback::{FeedbackCase, advice_of, feedback_inputs, offer_feedback_signature};
use crate::reward::Reward;
use crate::trace::with_trace;

/// Refine a module over up to `N` attempts (DSPy's `dspy.Refine`).
///
/// Attempts run as in [`BestOfN`](crate::BestOfN) (rollout id `start + i`,
/// temperature 1.0, first reward `>= threshold` wins, else the best), one
/// after another: each depends on the advice from the one before. After an
/// attempt that misses the threshold (and is not the last), the feedback
/// predictor (DSPy's `OfferFeedback` signature and instructions) gets the
/// program's description, the call's inputs, every predictor call of the
/// attempt, the outputs, the reward code, threshold and reward, and the
/// predictor paths; its `advice` (path → text) is then given to each
/// predictor of the next attempt as a `hint_` input (`N/A` for a predictor
/// it does not name). A failing feedback call counts as a failed attempt,
/// as in DSPy.
///
/// Rust has no source text at run time, so `program_code` and `reward_code`
/// default to the module's and the reward's type names; set them with
/// [`Refine::program_code`] / [`Refine::reward_code`] to give the feedback
/// step more to go on.
///
/// The feedback call runs outside the attempts' rollout scope with the
/// feedback LM ([`Refine::feedback_lm`]), else the LM in scope, else the
/// wrapped module's first predictor's own LM. Its predictor is not part of
/// the program (not visited, not traced), as in DSPy. Predictor paths are
/// the wrapped module's under `module`.
pub struct Refine<M> {
    /// The wrapped module.
    pub module: M,
    n: usize,
    reward: Arc<dyn Reward>,
    threshold: f64,
    fail_count: Option<usize>,
    program_code: Arc<str>,
    reward_code: Arc<str>,
    feedback: Predict,
}

impl<M: Clone> Clone for Refine<M> {
    fn clone(&self) -> Self {
        Self {
            module: self.module.clone(),
            n: self.n,
            reward: Arc::clone(&self.reward),
            threshold: self.threshold,
            fail_count: self.fail_count,
            program_code: Arc::clone(&self.program_code),
            reward_code: Arc::clone(&self.reward_code),
            feedback: self.feedback.clone(),
        }
    }
}

impl<M: fmt::Debug> fmt::Debug for Refine<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refine")
            .field("module", &self.module)
            .field("n", &self.n)
            .field("threshold", &self.threshold)
            .field("fail_count", &self.fail_count)
            .field("program_code", &self.program_code)
            .field("reward_code", &self.reward_code)
            .field("feedback", &self.feedback)
            .finish_non_exhaustive()
    }
}

impl<M: Module> Refine<M> {
    /// Up to `n` attempts of `module` scored by `reward`, stopping at the
    /// first reward `>= threshold`, with feedback between attempts.
    pub fn new<R: Reward + 'static>(module: M, n: usize, reward: R, threshold: f64) -> Result<Self, ModuleError> {
        Ok(Self {
            module,
            n,
            reward: Arc::new(reward),
            threshold,
            fail_count: None,
            program_code: std::any::type_name::<M>().into(),
            reward_code: std::any::type_name::<R>().into(),
            feedback: Predict::with_spec(offer_feedback_signature()?),
        })
    }

    /// Builder: DSPy's `fail_count` (default `N`), as in
    /// [`BestOfN::fail_count`](crate::BestOfN::fail_count).
    pub fn fail_count(mut self, fail_count: usize) -> Self {
        self.fail_count = Some(fail_count);
        self
    }

    /// Builder: the text shown as `program_code` (DSPy shows the module
    /// class's source).
    pub fn program_code(mut self, code: impl Into<String>) -> Self {
        self.program_code = code.into().into();
        self
    }

    /// Builder: the text shown as `reward_code` (DSPy shows the reward
    /// function's source).
    pub fn reward_code(mut self, code: impl Into<String>) -> Self {
        self.reward_code = code.into().into();
        self
    }

    /// Builder: the LM of the feedback step.
    pub fn feedback_lm(mut self, lm: impl Into<SharedLm>) -> Self {
        self.feedback = self.feedback.lm(lm);
        self
    }

    /// The number of attempts.
    pub fn attempts(&self) -> usize {
        self.n
    }

    /// The feedback predictor for this call: its own LM, else the scope's,
    /// else the wrapped module's first predictor's.
    fn feedback_predictor(&self) -> Predict {
        if Predictor::lm(&self.feedback).is_some() || current_lm().is_some() {
            return self.feedback.clone();
        }
        let mut module_lm = None;
        self.module.visit_predictors("", &mut |_, p| {
            if module_lm.is_none() {
                module_lm = p.lm().cloned();
            }
        });
        match module_lm {
            Some(lm) => self.feedback.clone().lm(lm),
            None => self.feedback.clone(),
        }
    }

    /// Advice per predictor id for the next attempt (none when empty, as
    /// DSPy skips hints for empty advice).
    fn hints(&self, advice: &[(String, String)]) -> Option<Arc<Hints>> {
        if advice.is_empty() {
            return None;
        }
        let mut pairs = Vec::new();
        self.module.visit_predictors("", &mut |path, p| {
            if let Some((_, text)) = advice.iter().find(|(name, _)| name == path) {
                pairs.push((p.id(), text.clone()));
            }
        });
        Some(Arc::new(Hints::new(pairs)))
    }

    async fn feedback(
        &self,
        inputs: &Example,
        attempt: &Attempt<M::Output>,
    ) -> Result<Vec<(String, String)>, ModuleError> {
        let case = FeedbackCase {
            program_code: &self.program_code,
            reward_code: &self.reward_code,
            inputs,
            outputs: &attempt.prediction,
            trace: &attempt.trace,
            reward: attempt.reward,
            threshold: self.threshold,
        };
        let kwargs = feedback_inputs(&self.module, &case);
        let predictor = self.feedback_predictor();
        let (prediction, _not_part_of_the_program) = with_trace(predictor.forward_example(&kwargs, None)).await;
        Ok(advice_of(&prediction?))
    }
}

impl<M> Predictors for Refine<M>
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

impl<M> Module for Refine<M>
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
        let mut advice: Vec<(String, String)> = Vec::new();
        let mut made = 0;
        for index in 0..self.n {
            made += 1;
            let rollout_id = attempt_rollout_id(start, index);
            let hints = self.hints(&advice);
            let attempt =
                match run_attempt(&self.module, input.clone(), &inputs, rollout_id, &*self.reward, hints).await {
                    Ok(attempt) => attempt,
                    Err(e) => {
                        tracing::warn!("Refine: Attempt failed with rollout id {rollout_id}: {e}");
                        last_error = Some(budget.absorb(index, e)?);
                        continue;
                    }
                };
            let reached = attempt.reward >= self.threshold;
            let feedback =
                if reached || index + 1 == self.n { None } else { Some(self.feedback(&inputs, &attempt).await) };
            if beats(attempt.reward, best.as_ref()) {
                best = Some(attempt);
            }
            match feedback {
                None => break,
                Some(Ok(new_advice)) => advice = new_advice,
                Some(Err(e)) => {
                    tracing::warn!("Refine: Attempt failed with rollout id {rollout_id}: {e}");
                    last_error = Some(budget.absorb(index, e)?);
                }
            }
        }
        finish("Refine", best, made, last_error)
    }
}
