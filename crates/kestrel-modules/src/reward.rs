//! [`Reward`]: how [`BestOfN`](crate::BestOfN) and [`Refine`](crate::Refine)
//! score an attempt — DSPy's `reward_fn(inputs, prediction) -> float`.
//!
//! A plain closure `Fn(&Example, &Prediction) -> f64` is a reward; an async
//! one (an LM judge, say) is wrapped in [`AsyncReward`].

use std::fmt;
use std::future::Future;

use futures::FutureExt;
use futures::future::{BoxFuture, ready};
use kestrel_core::{Example, Prediction};

use crate::error::ModuleError;

/// Scores one attempt: `inputs` are the call's inputs, `prediction` the
/// module's output. Higher is better; an error counts as a failed attempt.
pub trait Reward: Send + Sync {
    /// The score.
    fn score<'a>(&'a self, inputs: &'a Example, prediction: &'a Prediction) -> BoxFuture<'a, Result<f64, ModuleError>>;
}

impl<F> Reward for F
where
    F: Fn(&Example, &Prediction) -> f64 + Send + Sync,
{
    fn score<'a>(&'a self, inputs: &'a Example, prediction: &'a Prediction) -> BoxFuture<'a, Result<f64, ModuleError>> {
        ready(Ok(self(inputs, prediction))).boxed()
    }
}

/// An async reward: `f(inputs, prediction)` gets its own copies of both and
/// returns a future of the score.
///
/// ```
/// use kestrel_core::{Example, Prediction};
/// use kestrel_modules::{AsyncReward, ModuleError};
///
/// let reward = AsyncReward::new(|_inputs: Example, pred: Prediction| async move {
///     Ok::<_, ModuleError>(if pred.get_str("answer") == Some("Brussels") { 1.0 } else { 0.0 })
/// });
/// # let _ = reward;
/// ```
pub struct AsyncReward<F> {
    f: F,
}

impl<F> AsyncReward<F> {
    /// Wrap an async scoring function.
    pub fn new<Fut>(f: F) -> Self
    where
        F: Fn(Example, Prediction) -> Fut + Send + Sync,
        Fut: Future<Output = Result<f64, ModuleError>> + Send,
    {
        Self { f }
    }
}

impl<F> fmt::Debug for AsyncReward<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncReward").finish_non_exhaustive()
    }
}

impl<F, Fut> Reward for AsyncReward<F>
where
    F: Fn(Example, Prediction) -> Fut + Send + Sync,
    Fut: Future<Output = Result<f64, ModuleError>> + Send + 'static,
{
    fn score<'a>(&'a self, inputs: &'a Example, prediction: &'a Prediction) -> BoxFuture<'a, Result<f64, ModuleError>> {
        (self.f)(inputs.clone(), prediction.clone()).boxed()
    }
}
