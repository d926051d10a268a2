//! The [`Metric`] trait — DSPy's `metric(example, prediction, trace=None)` —
//! and the ways to make one from a closure: any sync
//! `Fn(&Example, &Prediction, Option<&Trace>)` is a metric as is;
//! [`metric_fn`] helps closure type inference, [`metric_fn_async`] wraps an
//! async closure.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use kestrel_core::{Example, Prediction};
use kestrel_modules::Trace;

use crate::error::EvalError;
use crate::score::{MetricOutput, Score};

/// Scores one prediction against its example.
///
/// `trace` is `Some` while an optimizer bootstraps demos (it holds the
/// predictor calls the program made) and `None` during evaluation, exactly as
/// DSPy passes `trace`. Metrics such as [`crate::metrics::SemanticF1`] return
/// a pass/fail score when a trace is given.
///
/// Implemented for every `Fn(&Example, &Prediction, Option<&Trace>) -> R`
/// where `R` is a `bool`, `f64`, `f32`, [`Score`] or a `Result` of one (see
/// [`MetricOutput`]). An error from a metric counts against `Evaluate`'s
/// error budget like a program error.
#[async_trait]
pub trait Metric: Send + Sync {
    /// Score `prediction` for `example`.
    async fn score(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
    ) -> Result<Score, EvalError>;

    /// The name shown as the score column of tables and CSV exports (DSPy
    /// uses the metric function's name).
    fn name(&self) -> &str {
        "metric"
    }
}

/// A shared, type-erased metric.
pub type SharedMetric = Arc<dyn Metric>;

#[async_trait]
impl<F, R> Metric for F
where
    F: Fn(&Example, &Prediction, Option<&Trace>) -> R + Send + Sync,
    R: MetricOutput,
{
    async fn score(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        self(example, prediction, trace).into_score()
    }
}

#[async_trait]
impl<M: Metric + ?Sized> Metric for Arc<M> {
    async fn score(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        (**self).score(example, prediction, trace).await
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

/// A sync closure metric with a name (from [`metric_fn`]).
pub struct MetricFn<F> {
    name: String,
    f: F,
}

impl<F> fmt::Debug for MetricFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricFn").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Make a metric from a sync closure; the closure's argument types are
/// inferred, and `name` labels the score column.
///
/// ```
/// use kestrel_eval::{Metric, metric_fn};
///
/// let exact = metric_fn("exact", |example, prediction, _trace| {
///     example.get("answer") == prediction.get("answer")
/// });
/// assert_eq!(exact.name(), "exact");
/// ```
pub fn metric_fn<F, R>(name: impl Into<String>, f: F) -> MetricFn<F>
where
    F: Fn(&Example, &Prediction, Option<&Trace>) -> R + Send + Sync,
    R: MetricOutput,
{
    MetricFn { name: name.into(), f }
}

#[async_trait]
impl<F, R> Metric for MetricFn<F>
where
    F: Fn(&Example, &Prediction, Option<&Trace>) -> R + Send + Sync,
    R: MetricOutput,
{
    async fn score(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        (self.f)(example, prediction, trace).into_score()
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// An async closure metric (from [`metric_fn_async`]).
pub struct AsyncMetricFn<F> {
    name: String,
    f: F,
}

impl<F> fmt::Debug for AsyncMetricFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncMetricFn").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Make a metric from an async closure (one that calls an LM judge, say).
///
/// The closure gets its own copies of the example, prediction and trace, so
/// the future it returns may hold them across awaits; implement [`Metric`]
/// on a struct to avoid those copies.
///
/// ```
/// use kestrel_eval::{EvalError, Score, metric_fn_async};
///
/// let judged = metric_fn_async("judged", |example, prediction, _trace| async move {
///     // ... ask a judge program here ...
///     Ok::<_, EvalError>(Score::from(example.get("answer") == prediction.get("answer")))
/// });
/// # let _ = judged;
/// ```
pub fn metric_fn_async<F, Fut, R>(name: impl Into<String>, f: F) -> AsyncMetricFn<F>
where
    F: Fn(Example, Prediction, Option<Trace>) -> Fut + Send + Sync,
    Fut: Future<Output = R> + Send,
    R: MetricOutput,
{
    AsyncMetricFn { name: name.into(), f }
}

#[async_trait]
impl<F, Fut, R> Metric for AsyncMetricFn<F>
where
    F: Fn(Example, Prediction, Option<Trace>) -> Fut + Send + Sync,
    Fut: Future<Output = R> + Send,
    R: MetricOutput,
{
    async fn score(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        (self.f)(example.clone(), prediction.clone(), trace.cloned()).await.into_score()
    }

    fn name(&self) -> &str {
        &self.name
    }
}
