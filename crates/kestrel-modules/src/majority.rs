//! [`majority`]: the most common answer among a prediction's completions
//! (DSPy's `dspy.majority`), and DSPy's [`normalize_text`] it compares
//! answers with.

use std::fmt;
use std::sync::Arc;

use kestrel_core::{Fields, Prediction};
use serde_json::Value;

use crate::error::ModuleError;

pub use kestrel_core::normalize_text;

/// A custom normalization: the answer's text in, its comparison key out
/// (`None` ignores the answer).
pub type NormalizeFn = dyn Fn(&str) -> Option<String> + Send + Sync;

/// How [`Majority`] compares answers.
#[derive(Clone, Default)]
pub enum Normalize {
    /// DSPy's default: [`normalize_text`]; an answer normalizing to empty
    /// is ignored.
    #[default]
    Text,
    /// Compare values as they are (DSPy's `normalize=None`).
    Exact,
    /// A function of the answer's text; `None` ignores the answer.
    Custom(Arc<NormalizeFn>),
}

impl fmt::Debug for Normalize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Normalize::Text => f.write_str("Text"),
            Normalize::Exact => f.write_str("Exact"),
            Normalize::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Normalize {
    /// A custom normalization from a function.
    pub fn custom(f: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Normalize::Custom(Arc::new(f))
    }

    /// The comparison key of a value, or `None` to ignore it.
    fn key(&self, value: &Value) -> Option<String> {
        match self {
            Normalize::Exact => Some(value.to_string()),
            Normalize::Text => Some(normalize_text(&text_of(value))).filter(|s| !s.is_empty()),
            Normalize::Custom(f) => f(&text_of(value)),
        }
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => kestrel_core::types::python_literal_repr(other),
    }
}

/// Majority voting over completions, configurable as DSPy's
/// `majority(..., normalize=..., field=...)`.
#[derive(Debug, Clone, Default)]
pub struct Majority {
    field: Option<String>,
    normalize: Normalize,
}

impl Majority {
    /// Vote on the last field with [`normalize_text`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: vote on this field rather than the last one.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Builder: how answers are compared.
    pub fn normalize(mut self, normalize: Normalize) -> Self {
        self.normalize = normalize;
        self
    }

    /// The winning completion of `prediction` as a one-completion
    /// prediction (the usage is kept).
    pub fn of_prediction(&self, prediction: &Prediction) -> Result<Prediction, ModuleError> {
        Ok(self.of(prediction.completions())?.with_usage(prediction.usage()))
    }

    /// The winning completion among `completions`: the most common
    /// (normalized) value of the field; on a tie the value seen first wins;
    /// the first completion with that value is returned. Answers the
    /// normalization ignores do not vote, unless all are ignored.
    pub fn of(&self, completions: &[Fields]) -> Result<Prediction, ModuleError> {
        let error = |message: String| ModuleError::Module { module: "majority".into(), message };
        let first = completions.first().ok_or_else(|| error("there are no completions to vote on".into()))?;
        let field = match &self.field {
            Some(f) => f.clone(),
            None => first.keys().last().cloned().ok_or_else(|| error("the completions have no fields".into()))?,
        };
        let mut keys: Vec<Option<String>> = Vec::with_capacity(completions.len());
        for (i, c) in completions.iter().enumerate() {
            let value = c.get(&field).ok_or_else(|| error(format!("completion {i} has no field `{field}`")))?;
            keys.push(self.normalize.key(value));
        }
        let voting: Vec<&Option<String>> = if keys.iter().any(Option::is_some) {
            keys.iter().filter(|k| k.is_some()).collect()
        } else {
            keys.iter().collect()
        };
        let mut counts: Vec<(&Option<String>, usize)> = Vec::new();
        for key in voting {
            match counts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => counts.push((key, 1)),
            }
        }
        let mut winner = counts.first().map(|(k, _)| *k);
        let mut most = 0;
        for (key, n) in &counts {
            if *n > most {
                most = *n;
                winner = Some(*key);
            }
        }
        let index = keys.iter().position(|k| Some(k) == winner).unwrap_or(0);
        Ok(Prediction::from_completions(vec![completions[index].clone()]))
    }
}

/// DSPy's `majority(prediction)`: the completion whose last field's
/// normalized value is most common.
pub fn majority(prediction: &Prediction) -> Result<Prediction, ModuleError> {
    Majority::new().of_prediction(prediction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_text_matches_dspy() {
        assert_eq!(normalize_text("The,  Eiffel  Tower!"), "eiffel tower");
        assert_eq!(normalize_text("An apple a day"), "apple day");
        assert_eq!(normalize_text("theatre_a the-end"), "theatrea theend");
        assert_eq!(normalize_text("Café"), "cafe\u{301}");
        assert_eq!(normalize_text("..."), "");
    }
}
