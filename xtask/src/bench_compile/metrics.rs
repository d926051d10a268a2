//! The benchmark's metrics: numeric answer match (generated problems,
//! GSM8K), DSPy's `answer_exact_match` (HotPotQA), label exact match (HoVer,
//! banking77), normalized exact match with numbers compared as numbers (a
//! user's `PATH.jsonl`), and `--metric strict`, which makes bootstrapping
//! search long. Every metric gives feedback on generated problems
//! ([`WithFeedback`]: the operations the problem needs, which GEPA's
//! reflection reads), and [`CountingMetric`] counts a compile's metric calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use kestrel_eval::Score;
use kestrel_testkit::simulated::{Problem, skill};

use kestrel_core::{Example, Prediction};
use kestrel_eval::metrics::{AnswerExactMatch, normalize_text};
use kestrel_eval::{EvalError, Metric, metric_fn};
use kestrel_modules::Trace;
use serde_json::Value;
use sha2::{Digest, Sha256};

use kestrel_testkit::simulated::text::last_number;

/// `--metric strict` accepts a bootstrapping run for one correct prediction
/// in this many (chosen by a hash of the example's inputs and the
/// prediction).
pub const STRICT_ONE_IN: u64 = 16;

/// A dataset's own metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseMetric {
    /// The last number of the predicted `answer` equals the gold number
    /// (the text after `####` when present, else its last number).
    Numeric,
    /// DSPy's `answer_exact_match` on `answer` (normalized text).
    AnswerExact,
    /// DSPy's normalized exact match on `label`.
    LabelExact,
    /// Normalized exact match on `answer`; when both sides are numbers they
    /// are compared as numbers (`42` = `42.0`).
    Normalized,
}

impl BaseMetric {
    /// The name reports show.
    pub fn name(self) -> &'static str {
        match self {
            BaseMetric::Numeric => "numeric_match",
            BaseMetric::AnswerExact => "answer_exact_match",
            BaseMetric::LabelExact => "label_exact_match",
            BaseMetric::Normalized => "normalized_match",
        }
    }

    /// Score one prediction.
    pub fn check(self, example: &Example, prediction: &Prediction) -> Result<bool, EvalError> {
        match self {
            BaseMetric::Numeric => numeric_match(example, prediction, "answer"),
            BaseMetric::AnswerExact => AnswerExactMatch::new().matches(example, prediction),
            BaseMetric::LabelExact => AnswerExactMatch::new().field("label").matches(example, prediction),
            BaseMetric::Normalized => normalized_match(example, prediction, "answer"),
        }
    }

    /// The metric, plain or strict, as the optimizers and `Evaluate` take
    /// it, with feedback on generated problems ([`WithFeedback`]).
    pub fn build(self, strict: bool) -> Arc<dyn Metric> {
        Arc::new(WithFeedback { inner: self.build_plain(strict) })
    }

    fn build_plain(self, strict: bool) -> Arc<dyn Metric> {
        if strict {
            let name = format!("strict_{}", self.name());
            Arc::new(metric_fn(name, move |example: &Example, prediction: &Prediction, trace: Option<&Trace>| {
                let ok = self.check(example, prediction)?;
                Ok::<bool, EvalError>(ok && (trace.is_none() || strict_pick(example, prediction)))
            }))
        } else {
            Arc::new(metric_fn(self.name(), move |example: &Example, prediction: &Prediction, _: Option<&Trace>| {
                self.check(example, prediction)
            }))
        }
    }
}

/// A metric that also explains itself on generated word problems: asked
/// for feedback (`score_with_feedback`, as GEPA asks), it returns the
/// inner score with [`skill::feedback`] — whether the answer is right, and
/// the operations and steps the problem takes. On other data the inner
/// metric answers alone (DSPy's default feedback text then applies).
pub struct WithFeedback {
    inner: Arc<dyn Metric>,
}

#[async_trait]
impl Metric for WithFeedback {
    async fn score(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        self.inner.score(example, prediction, trace).await
    }

    async fn score_with_feedback(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
        pred_name: Option<&str>,
        pred_trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        let score = self.inner.score_with_feedback(example, prediction, trace, pred_name, pred_trace).await?;
        let problem = example.inputs().fields().values().find_map(|v| v.as_str().and_then(Problem::parse));
        Ok(match problem {
            Some(problem) => {
                let predicted = prediction.get("answer").map(text_of);
                Score::with_feedback(score.score, skill::feedback(&problem, predicted.as_deref()))
            }
            None => score,
        })
    }

    fn name(&self) -> &str {
        self.inner.name()
    }
}

/// A metric that counts its `score` calls (a row's `metric_calls`).
pub struct CountingMetric {
    inner: Arc<dyn Metric>,
    calls: AtomicU64,
}

impl CountingMetric {
    /// Count the calls of `inner`.
    pub fn new(inner: Arc<dyn Metric>) -> Self {
        Self { inner, calls: AtomicU64::new(0) }
    }

    /// `score` calls so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Metric for CountingMetric {
    async fn score(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.score(example, prediction, trace).await
    }

    async fn score_with_feedback(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
        pred_name: Option<&str>,
        pred_trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        self.inner.score_with_feedback(example, prediction, trace, pred_name, pred_trace).await
    }

    fn name(&self) -> &str {
        self.inner.name()
    }
}

/// Whether `--metric strict` lets this (correct) bootstrapping run through.
pub fn strict_pick(example: &Example, prediction: &Prediction) -> bool {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(example.inputs().fields()).unwrap_or_default());
    hasher.update(serde_json::to_vec(prediction.fields()).unwrap_or_default());
    let digest = hasher.finalize();
    let mut word = [0u8; 8];
    word.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(word) % STRICT_ONE_IN == 0
}

fn field<'a>(
    fields: Option<&'a Value>,
    name: &str,
    on: &'static str,
    keys: Vec<String>,
) -> Result<&'a Value, EvalError> {
    fields.ok_or_else(|| EvalError::MissingField { field: name.to_string(), on, available: keys })
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Gold number: the text after `####` if present, else the last number.
pub fn gold_number(text: &str) -> Option<f64> {
    let tail = text.rsplit_once("####").map_or(text, |(_, after)| after);
    last_number(tail)?.parse().ok()
}

fn numbers_equal(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn numeric_match(example: &Example, prediction: &Prediction, name: &str) -> Result<bool, EvalError> {
    let gold = field(example.get(name), name, "example", example.fields().keys().cloned().collect())?;
    let pred = field(prediction.get(name), name, "prediction", prediction.fields().keys().cloned().collect())?;
    let Some(gold) = gold_number(&text_of(gold)) else {
        return Err(EvalError::FieldType {
            field: name.to_string(),
            on: "example",
            expected: "a number",
            got: text_of(gold).chars().take(60).collect(),
        });
    };
    let pred = last_number(&text_of(pred)).and_then(|n| n.parse::<f64>().ok());
    Ok(pred.is_some_and(|p| numbers_equal(gold, p)))
}

/// A whole value read as a number (`42`, `-3.5`, `1,000`, `$12`).
fn as_number(text: &str) -> Option<f64> {
    let t = text.trim().trim_start_matches('$').trim_end_matches('.').replace(',', "");
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn normalized_match(example: &Example, prediction: &Prediction, name: &str) -> Result<bool, EvalError> {
    let gold = field(example.get(name), name, "example", example.fields().keys().cloned().collect())?;
    let pred = text_of(field(prediction.get(name), name, "prediction", prediction.fields().keys().cloned().collect())?);
    let golds: Vec<String> = match gold {
        Value::Array(items) => items.iter().map(text_of).collect(),
        other => vec![text_of(other)],
    };
    let pred_number = as_number(&pred);
    let pred_norm = normalize_text(&pred);
    Ok(golds.iter().any(|g| match (as_number(g), pred_number) {
        (Some(a), Some(b)) => numbers_equal(a, b),
        _ => normalize_text(g) == pred_norm,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ex(answer: Value) -> Example {
        Example::from_pairs([("question", json!("q")), ("answer", answer)]).with_inputs(["question"])
    }

    fn pred(answer: &str) -> Prediction {
        let mut p = Prediction::default();
        p.insert("answer", answer);
        p
    }

    #[test]
    fn numeric_reads_gsm8k_gold_and_the_last_predicted_number() {
        let m = BaseMetric::Numeric;
        assert!(m.check(&ex(json!("She pays 3 + 4 = 7.\n#### 1,250")), &pred("so 1250")).unwrap());
        assert!(m.check(&ex(json!("72")), &pred("The answer is 72.")).unwrap());
        assert!(m.check(&ex(json!(72)), &pred("72.0")).unwrap());
        assert!(!m.check(&ex(json!("72")), &pred("70 or 71")).unwrap());
        assert!(!m.check(&ex(json!("72")), &pred("no idea")).unwrap());
        assert!(m.check(&ex(json!("n/a")), &pred("1")).is_err());
        assert!(m.check(&ex(json!("1")), &Prediction::default()).is_err());
    }

    #[test]
    fn normalized_compares_numbers_as_numbers_and_text_normalized() {
        let m = BaseMetric::Normalized;
        assert!(m.check(&ex(json!(42)), &pred("42.0")).unwrap());
        assert!(m.check(&ex(json!("1,000")), &pred("1000")).unwrap());
        assert!(m.check(&ex(json!("The Eiffel Tower")), &pred("eiffel tower!")).unwrap());
        assert!(m.check(&ex(json!(["Paris", "paris, france"])), &pred("Paris, France")).unwrap());
        assert!(!m.check(&ex(json!("42")), &pred("the answer is 42")).unwrap());
        assert!(!m.check(&ex(json!("Paris")), &pred("Lyon")).unwrap());
    }

    #[test]
    fn label_and_answer_exact_match() {
        let label = Example::from_pairs([("claim", "c"), ("label", "SUPPORTED")]).with_inputs(["claim"]);
        let mut p = Prediction::default();
        p.insert("label", "SUPPORTED");
        assert!(BaseMetric::LabelExact.check(&label, &p).unwrap());
        p.insert("label", "NOT_SUPPORTED");
        assert!(!BaseMetric::LabelExact.check(&label, &p).unwrap());
        assert!(BaseMetric::AnswerExact.check(&ex(json!("the Beatles")), &pred("Beatles")).unwrap());
    }

    #[tokio::test]
    async fn generated_problems_get_feedback_naming_their_operations() {
        let problem = kestrel_testkit::simulated::generate(3, 7).remove(0);
        let example = Example::from_pairs([("question", json!(problem.render())), ("answer", json!("1"))])
            .with_inputs(["question"]);
        let metric = BaseMetric::Numeric.build(false);
        let plain = metric.score(&example, &pred("2"), None).await.unwrap();
        assert_eq!(plain.feedback, None);
        let told = metric.score_with_feedback(&example, &pred("2"), None, Some("self"), None).await.unwrap();
        assert_eq!(told.score, plain.score);
        assert_eq!(told.feedback.as_deref(), Some(skill::feedback(&problem, Some("2")).as_str()));
        let counting = CountingMetric::new(metric);
        counting.score(&example, &pred("2"), None).await.unwrap();
        counting.score_with_feedback(&example, &pred("2"), None, None, None).await.unwrap();
        assert_eq!(counting.calls(), 1);
    }

    #[tokio::test]
    async fn strict_only_gates_bootstrapping() {
        let strict = BaseMetric::Normalized.build(true);
        let trace = Trace::default();
        let (mut picked, mut total) = (0, 0);
        for i in 0..800 {
            let example = Example::from_pairs([("question", json!(format!("q{i}"))), ("answer", json!("7"))])
                .with_inputs(["question"]);
            let ok = strict.score(&example, &pred("7"), None).await.unwrap().score;
            assert_eq!(ok, 1.0, "evaluation is not gated");
            let wrong = strict.score(&example, &pred("8"), Some(&trace)).await.unwrap().score;
            assert_eq!(wrong, 0.0);
            total += 1;
            picked += usize::from(strict.score(&example, &pred("7"), Some(&trace)).await.unwrap().score == 1.0);
        }
        let rate = picked as f64 / total as f64;
        assert!((rate - 1.0 / STRICT_ONE_IN as f64).abs() < 0.03, "{rate}");
    }
}
