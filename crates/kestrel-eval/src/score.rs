//! [`Score`]: what a metric returns for one example — a number and,
//! optionally, textual feedback (GEPA reads it) — and [`MetricOutput`], the
//! values a metric closure may return.

use serde::{Deserialize, Serialize};

use crate::error::EvalError;

/// One metric result: a score (usually in `[0, 1]`) and optional feedback.
///
/// `bool` converts to `1.0` / `0.0`, as Python sums `True` / `False`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Score {
    /// The value; summed over the devset by `Evaluate`.
    pub score: f64,
    /// Why the score is what it is, for optimizers that read feedback (GEPA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
}

impl Score {
    /// A score without feedback.
    pub fn new(score: f64) -> Self {
        Self { score, feedback: None }
    }

    /// A score with textual feedback.
    pub fn with_feedback(score: impl Into<Score>, feedback: impl Into<String>) -> Self {
        Self { score: score.into().score, feedback: Some(feedback.into()) }
    }

    /// The feedback text an optimizer shows the reflection LM: this score's
    /// feedback, or DSPy's default when the metric gave none —
    /// `This trajectory got a score of {score}.` with the score as Python
    /// writes a float (`1.0`, `0.5`). (A Python metric returning `True` or
    /// an `int` reads `True` / `1` there; here every score is a float.)
    pub fn feedback_text(&self) -> String {
        match &self.feedback {
            Some(text) => text.clone(),
            None => format!("This trajectory got a score of {}.", crate::evaluate::python_float(self.score)),
        }
    }

    /// DSPy's bootstrap acceptance rule (`if self.metric_threshold:`): with
    /// a non-zero threshold, `score >= threshold`; without one, or with a
    /// threshold of `0.0` (falsy in Python, so "unset"), Python truthiness
    /// (`score != 0.0`, so NaN counts as a success, as `bool(float("nan"))`
    /// is `True` in Python).
    pub fn is_success(&self, threshold: Option<f64>) -> bool {
        match threshold {
            Some(t) if t != 0.0 => self.score >= t,
            _ => self.score != 0.0,
        }
    }
}

impl From<bool> for Score {
    fn from(ok: bool) -> Self {
        Score::new(if ok { 1.0 } else { 0.0 })
    }
}

impl From<f64> for Score {
    fn from(score: f64) -> Self {
        Score::new(score)
    }
}

impl From<f32> for Score {
    fn from(score: f32) -> Self {
        Score::new(f64::from(score))
    }
}

/// What a metric closure may return: anything that converts into a
/// [`Score`] (`bool`, `f64`, `f32`, `Score`), or a `Result` of one with an
/// [`EvalError`] for metrics that can fail.
pub trait MetricOutput {
    /// The score, or the metric's error.
    fn into_score(self) -> Result<Score, EvalError>;
}

impl<T: Into<Score>> MetricOutput for T {
    fn into_score(self) -> Result<Score, EvalError> {
        Ok(self.into())
    }
}

impl<T: Into<Score>> MetricOutput for Result<T, EvalError> {
    fn into_score(self) -> Result<Score, EvalError> {
        self.map(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::Score;

    #[test]
    fn missing_feedback_reads_as_dspy_default_text() {
        assert_eq!(Score::new(1.0).feedback_text(), "This trajectory got a score of 1.0.");
        assert_eq!(Score::new(0.25).feedback_text(), "This trajectory got a score of 0.25.");
        assert_eq!(Score::with_feedback(0.0, "Wrong.").feedback_text(), "Wrong.");
    }

    #[test]
    fn a_zero_threshold_is_unset_as_in_python() {
        // DSPy: `if self.metric_threshold:` — 0 is falsy, so truthiness decides.
        assert!(!Score::new(0.0).is_success(Some(0.0)));
        assert!(Score::new(0.5).is_success(Some(0.0)));
        assert!(!Score::new(0.0).is_success(Some(-0.0)));
        assert!(!Score::new(0.0).is_success(None));
        assert!(Score::new(0.5).is_success(Some(0.5)));
        assert!(!Score::new(0.4).is_success(Some(0.5)));
        assert!(Score::new(-1.0).is_success(Some(-2.0)));
    }
}
