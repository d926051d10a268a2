//! The [`Metric`] trait — DSPy's `metric(example, prediction, trace=None)` —
//! and the ways to make one from a closure: any sync
//! `Fn(&Example, &Prediction, Option<&Trace>)` is a metric as is;
//! [`metric_fn`] helps closure type inference, [`metric_fn_async`] wraps an
//! async closure, and [`feedback_metric_fn`] makes a feedback metric (DSPy's
//! GEPA form `metric(gold, pred, trace, pred_name, pred_trace)`).

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
///
/// # Feedback metrics
///
/// Reflective optimizers (GEPA) also ask *why*: they call
/// [`score_with_feedback`](Metric::score_with_feedback) with the name of the
/// predictor they are improving and that predictor's calls (DSPy's
/// `metric(gold, pred, trace, pred_name, pred_trace)`), and read the
/// [`Score`]'s `feedback` text (DSPy's `dspy.Prediction(score=..,
/// feedback=..)`). Every metric is a feedback metric: by default
/// `score_with_feedback` is `score`, and a score without feedback reads as
/// DSPy's default text, `This trajectory got a score of {score}.`
/// ([`Score::feedback_text`]). Override it, or build a metric with
/// [`feedback_metric_fn`], to say what went wrong:
///
/// ```
/// use kestrel_core::{Example, Prediction};
/// use kestrel_eval::{Metric, Score, Trace, feedback_metric_fn};
///
/// let metric = feedback_metric_fn(
///     "exact_with_feedback",
///     |gold: &Example, pred: &Prediction, _trace: Option<&Trace>, pred_name: Option<&str>, _pred_trace: Option<&Trace>| {
///         let (want, got) = (gold.get_str("answer"), pred.get_str("answer"));
///         if want == got {
///             Score::with_feedback(1.0, "Correct.")
///         } else {
///             let who = pred_name.unwrap_or("the program");
///             Score::with_feedback(0.0, format!("{who} answered {got:?}; expected {want:?}."))
///         }
///     },
/// );
/// # let gold = Example::new().with("question", "2+2?").with("answer", "4").with_inputs(["question"]);
/// # let pred = Prediction::new(Example::from_pairs([("answer", "5")]).into_fields());
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// // Plain evaluation sees only the score; GEPA also gets the feedback.
/// let plain = rt.block_on(metric.score(&gold, &pred, None)).unwrap();
/// assert_eq!(plain.score, 0.0);
/// let told = rt.block_on(metric.score_with_feedback(&gold, &pred, None, Some("respond"), None)).unwrap();
/// assert_eq!(told.feedback_text(), "respond answered Some(\"5\"); expected Some(\"4\").");
/// ```
#[async_trait]
pub trait Metric: Send + Sync {
    /// Score `prediction` for `example`.
    async fn score(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
    ) -> Result<Score, EvalError>;

    /// Score `prediction` for `example` when an optimizer wants feedback
    /// about one predictor: `pred_name` is its path in the program
    /// (`respond`, `generate.predict`) and `pred_trace` holds that
    /// predictor's calls (DSPy's `pred_name` / `pred_trace`). Both are `None`
    /// when the whole program is judged.
    ///
    /// Defaults to [`score`](Metric::score), so every metric works where a
    /// feedback metric is expected; a score without feedback reads as
    /// DSPy's default text ([`Score::feedback_text`]).
    async fn score_with_feedback(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
        pred_name: Option<&str>,
        pred_trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        let _ = (pred_name, pred_trace);
        self.score(example, prediction, trace).await
    }

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

    async fn score_with_feedback(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
        pred_name: Option<&str>,
        pred_trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        (**self).score_with_feedback(example, prediction, trace, pred_name, pred_trace).await
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

/// A sync feedback-metric closure with a name (from [`feedback_metric_fn`]).
pub struct FeedbackMetricFn<F> {
    name: String,
    f: F,
}

impl<F> fmt::Debug for FeedbackMetricFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedbackMetricFn").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Make a feedback metric from a sync closure of DSPy's five arguments
/// `(gold, pred, trace, pred_name, pred_trace)`; it usually returns a
/// [`Score`] with feedback. Called as a plain metric
/// ([`Metric::score`]), it gets `None` for `pred_name` and `pred_trace`.
/// See [`Metric`] for an example.
pub fn feedback_metric_fn<F, R>(name: impl Into<String>, f: F) -> FeedbackMetricFn<F>
where
    F: Fn(&Example, &Prediction, Option<&Trace>, Option<&str>, Option<&Trace>) -> R + Send + Sync,
    R: MetricOutput,
{
    FeedbackMetricFn { name: name.into(), f }
}

#[async_trait]
impl<F, R> Metric for FeedbackMetricFn<F>
where
    F: Fn(&Example, &Prediction, Option<&Trace>, Option<&str>, Option<&Trace>) -> R + Send + Sync,
    R: MetricOutput,
{
    async fn score(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        (self.f)(example, prediction, trace, None, None).into_score()
    }

    async fn score_with_feedback(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
        pred_name: Option<&str>,
        pred_trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        (self.f)(example, prediction, trace, pred_name, pred_trace).into_score()
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gold() -> Example {
        Example::new().with("question", "q").with("answer", "Rome").with_inputs(["question"])
    }

    #[tokio::test]
    async fn a_plain_metric_answers_the_feedback_call_with_its_score() {
        let exact = metric_fn("exact", |e: &Example, p: &Prediction, _| e.get("answer") == p.get("answer"));
        let pred = Prediction::new(Example::from_pairs([("answer", "Rome, Italy")]).into_fields());
        let score = exact.score_with_feedback(&gold(), &pred, None, Some("respond"), None).await.unwrap();
        assert_eq!(score.score, 0.0);
        assert_eq!(score.feedback, None);
        assert_eq!(score.feedback_text(), "This trajectory got a score of 0.0.");
    }

    #[tokio::test]
    async fn a_feedback_metric_is_told_the_predictor_and_its_trace() {
        let metric = feedback_metric_fn(
            "fb",
            |_: &Example, _: &Prediction, _: Option<&Trace>, name: Option<&str>, pred_trace: Option<&Trace>| {
                Score::with_feedback(0.5, format!("{name:?} {}", pred_trace.map_or(0, Vec::len)))
            },
        );
        let pred = Prediction::new(Example::from_pairs([("answer", "Rome")]).into_fields());
        let shared: SharedMetric = Arc::new(metric);
        let told = shared.score_with_feedback(&gold(), &pred, None, Some("respond"), Some(&Vec::new())).await.unwrap();
        assert_eq!(told.feedback.as_deref(), Some("Some(\"respond\") 0"));
        let plain = shared.score(&gold(), &pred, None).await.unwrap();
        assert_eq!(plain.feedback.as_deref(), Some("None 0"));
    }
}
