//! DSPy's answer metrics on examples and predictions:
//! [`answer_exact_match`] (gold `answer` a string or a list of strings;
//! `frac < 1` means token F1 ≥ `frac`) and [`answer_passage_match`], plus
//! the [`AnswerExactMatch`] / [`AnswerPassageMatch`] metric values with
//! configurable field names.

use std::borrow::Cow;

use async_trait::async_trait;
use kestrel_core::{Example, Fields, Prediction};
use kestrel_modules::Trace;
use serde_json::Value;

use crate::error::EvalError;
use crate::metric::Metric;
use crate::metrics::text::{exact_match_any, f1_any, passage_match};
use crate::score::Score;

/// DSPy's `answer_exact_match(example, pred, frac=frac)` on the `answer`
/// fields: with `frac >= 1.0` the normalized prediction must equal a gold
/// answer; otherwise its best token F1 against the gold answers must be at
/// least `frac`.
///
/// The gold answer may be a string or a list of strings. Numbers and
/// booleans are read as their text (DSPy would fail on them). A missing
/// field, an empty gold list or any other type is an error, as in DSPy.
pub fn answer_exact_match(example: &Example, prediction: &Prediction, frac: f64) -> Result<bool, EvalError> {
    AnswerExactMatch::new().frac(frac).matches(example, prediction)
}

/// DSPy's `answer_passage_match(example, pred)`: some passage of the
/// prediction's `context` contains some gold `answer` (see
/// [`passage_match`]). `context` is a list of strings (a single string is
/// one passage).
pub fn answer_passage_match(example: &Example, prediction: &Prediction) -> Result<bool, EvalError> {
    AnswerPassageMatch::new().matches(example, prediction)
}

/// [`answer_exact_match`] as a [`Metric`] (name `answer_exact_match`).
pub fn answer_exact_match_metric() -> AnswerExactMatch {
    AnswerExactMatch::new()
}

/// [`answer_passage_match`] as a [`Metric`] (name `answer_passage_match`).
pub fn answer_passage_match_metric() -> AnswerPassageMatch {
    AnswerPassageMatch::new()
}

/// Exact match (or F1 ≥ `frac`) of a prediction field against the gold
/// answer(s) of an example field; both fields are `answer` by default.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerExactMatch {
    gold_field: String,
    pred_field: String,
    frac: f64,
}

impl Default for AnswerExactMatch {
    fn default() -> Self {
        Self::new()
    }
}

impl AnswerExactMatch {
    /// Exact match on the `answer` fields (`frac = 1.0`).
    pub fn new() -> Self {
        Self { gold_field: "answer".into(), pred_field: "answer".into(), frac: 1.0 }
    }

    /// Builder: accept a token F1 of at least `frac` (`1.0` or more means
    /// exact match).
    pub fn frac(mut self, frac: f64) -> Self {
        self.frac = frac;
        self
    }

    /// Builder: read this field on both the example and the prediction.
    pub fn field(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.fields(name.clone(), name)
    }

    /// Builder: read the gold answer from `gold` on the example and the
    /// predicted answer from `pred` on the prediction.
    pub fn fields(mut self, gold: impl Into<String>, pred: impl Into<String>) -> Self {
        self.gold_field = gold.into();
        self.pred_field = pred.into();
        self
    }

    /// Whether the prediction matches.
    pub fn matches(&self, example: &Example, prediction: &Prediction) -> Result<bool, EvalError> {
        let gold = gold_answers(example.fields(), &self.gold_field)?;
        let pred = text_field(prediction.fields(), &self.pred_field, "prediction")?;
        Ok(if self.frac >= 1.0 { exact_match_any(&pred, &gold) } else { f1_any(&pred, &gold) >= self.frac })
    }
}

#[async_trait]
impl Metric for AnswerExactMatch {
    async fn score(&self, example: &Example, prediction: &Prediction, _: Option<&Trace>) -> Result<Score, EvalError> {
        self.matches(example, prediction).map(Score::from)
    }

    fn name(&self) -> &str {
        "answer_exact_match"
    }
}

/// Whether some retrieved passage contains a gold answer; reads the gold
/// `answer` of the example and the `context` passages of the prediction by
/// default.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerPassageMatch {
    gold_field: String,
    context_field: String,
}

impl Default for AnswerPassageMatch {
    fn default() -> Self {
        Self::new()
    }
}

impl AnswerPassageMatch {
    /// Passage match of `answer` in `context`.
    pub fn new() -> Self {
        Self { gold_field: "answer".into(), context_field: "context".into() }
    }

    /// Builder: the example field holding the gold answer(s).
    pub fn gold_field(mut self, name: impl Into<String>) -> Self {
        self.gold_field = name.into();
        self
    }

    /// Builder: the prediction field holding the passages.
    pub fn context_field(mut self, name: impl Into<String>) -> Self {
        self.context_field = name.into();
        self
    }

    /// Whether a passage contains an answer.
    pub fn matches(&self, example: &Example, prediction: &Prediction) -> Result<bool, EvalError> {
        let gold = gold_answers(example.fields(), &self.gold_field)?;
        let passages = match field(prediction.fields(), &self.context_field, "prediction")? {
            Value::Array(items) => items
                .iter()
                .map(|v| text_of(v, &self.context_field, "prediction", "a list of strings"))
                .collect::<Result<Vec<_>, _>>()?,
            other => vec![text_of(other, &self.context_field, "prediction", "a list of strings")?],
        };
        Ok(passage_match(&passages, &gold))
    }
}

#[async_trait]
impl Metric for AnswerPassageMatch {
    async fn score(&self, example: &Example, prediction: &Prediction, _: Option<&Trace>) -> Result<Score, EvalError> {
        self.matches(example, prediction).map(Score::from)
    }

    fn name(&self) -> &str {
        "answer_passage_match"
    }
}

/// The value of `name` in `fields`, or a [`EvalError::MissingField`].
pub(crate) fn field<'a>(fields: &'a Fields, name: &str, on: &'static str) -> Result<&'a Value, EvalError> {
    fields.get(name).ok_or_else(|| EvalError::MissingField {
        field: name.to_string(),
        on,
        available: fields.keys().cloned().collect(),
    })
}

/// A field read as text (strings as is, numbers and booleans as their text).
pub(crate) fn text_field<'a>(fields: &'a Fields, name: &str, on: &'static str) -> Result<Cow<'a, str>, EvalError> {
    text_of(field(fields, name, on)?, name, on, "a string")
}

fn text_of<'a>(
    value: &'a Value,
    name: &str,
    on: &'static str,
    expected: &'static str,
) -> Result<Cow<'a, str>, EvalError> {
    match value {
        Value::String(s) => Ok(Cow::Borrowed(s)),
        Value::Number(n) => Ok(Cow::Owned(n.to_string())),
        Value::Bool(b) => Ok(Cow::Owned(b.to_string())),
        other => Err(type_error(name, on, expected, other)),
    }
}

/// The gold answers: a string, or a non-empty list of strings.
fn gold_answers<'a>(fields: &'a Fields, name: &str) -> Result<Vec<Cow<'a, str>>, EvalError> {
    const EXPECTED: &str = "a string or a non-empty list of strings";
    match field(fields, name, "example")? {
        Value::Array(items) if !items.is_empty() => {
            items.iter().map(|v| text_of(v, name, "example", EXPECTED)).collect()
        }
        other => Ok(vec![text_of(other, name, "example", EXPECTED)?]),
    }
}

pub(crate) fn type_error(name: &str, on: &'static str, expected: &'static str, got: &Value) -> EvalError {
    let mut got = got.to_string();
    if got.chars().count() > 60 {
        got = got.chars().take(57).chain("...".chars()).collect();
    }
    EvalError::FieldType { field: name.to_string(), on, expected, got }
}
