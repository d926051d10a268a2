//! [`MultiChainComparison`]: compare `M` earlier reasoning attempts and
//! produce a corrected `rationale` and the outputs (DSPy's
//! `dspy.MultiChainComparison`).

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use kestrel_core::{
    Dynamic, Example, FieldSpec, FieldType, Fields, Prediction, Signature, SignatureSpec, SignatureTypes,
};
use kestrel_lm::{CallConfig, SharedLm};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ModuleError;
use crate::module::Module;
use crate::predict::{Predict, output_from_prediction};
use crate::predictor::{Predictor, Predictors, join_path};

/// DSPy's default temperature for the comparison.
pub const DEFAULT_TEMPERATURE: f32 = 0.7;

/// The input of a [`MultiChainComparison`]: the earlier attempts (each
/// with `reasoning` or `rationale` and the last output field, e.g. the
/// completions of a `ChainOfThought` called with `n = M`) and the
/// signature's inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonInput<I> {
    /// The attempts to compare.
    pub completions: Vec<Fields>,
    /// The signature's inputs.
    #[serde(flatten)]
    pub inputs: I,
}

/// The output of a [`MultiChainComparison`]: the corrected rationale plus
/// the signature's outputs (reachable through `Deref`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithRationale<O> {
    /// The holistic, corrected reasoning.
    pub rationale: String,
    /// The signature's outputs.
    #[serde(flatten)]
    pub output: O,
}

impl<O> Deref for WithRationale<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.output
    }
}

impl<O> DerefMut for WithRationale<O> {
    fn deref_mut(&mut self) -> &mut O {
        &mut self.output
    }
}

/// Multi-chain comparison: the signature gains inputs
/// `reasoning_attempt_1..=M` (each shown as `«I'm trying to {reasoning}
/// I'm not sure but my prediction is {answer}»`, first lines only) and a
/// `rationale` output before the others. Its one predictor is `predict`,
/// called at temperature 0.7 by default.
pub struct MultiChainComparison<S: SignatureTypes = Dynamic> {
    /// The comparing predictor.
    pub predict: Predict,
    m: usize,
    last_key: String,
    _types: PhantomData<fn() -> S>,
}

impl<S: SignatureTypes> Clone for MultiChainComparison<S> {
    fn clone(&self) -> Self {
        Self { predict: self.predict.clone(), m: self.m, last_key: self.last_key.clone(), _types: PhantomData }
    }
}

impl<S: SignatureTypes> fmt::Debug for MultiChainComparison<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiChainComparison")
            .field("predict", &self.predict)
            .field("m", &self.m)
            .field("last_key", &self.last_key)
            .finish()
    }
}

impl<S: Signature> MultiChainComparison<S> {
    /// Compare `m` attempts (DSPy's `M`, 3 by default there) for the typed
    /// signature `S`.
    pub fn new(m: usize) -> Result<Self, ModuleError> {
        Self::build(S::spec(), m)
    }
}

impl MultiChainComparison<Dynamic> {
    /// From DSPy's string syntax, comparing `m` attempts.
    pub fn from_signature(text: &str, m: usize) -> Result<Self, ModuleError> {
        Self::build(SignatureSpec::parse(text)?, m)
    }

    /// Over a runtime signature, comparing `m` attempts.
    pub fn with_spec(signature: SignatureSpec, m: usize) -> Result<Self, ModuleError> {
        Self::build(signature, m)
    }
}

impl<S: SignatureTypes> MultiChainComparison<S> {
    fn build(signature: SignatureSpec, m: usize) -> Result<Self, ModuleError> {
        let last_key = signature.output_fields().last().map(|f| f.name.clone()).ok_or_else(|| ModuleError::Module {
            module: "MultiChainComparison".into(),
            message: "the signature has no output field".into(),
        })?;
        let mut spec = signature;
        for i in 1..=m {
            spec = spec.append(
                FieldSpec::input(format!("reasoning_attempt_{i}"), FieldType::Str)
                    .with_desc("${reasoning attempt}")
                    .with_prefix(format!("Student Attempt #{i}:")),
            )?;
        }
        spec = spec.prepend(
            FieldSpec::output("rationale", FieldType::Str)
                .with_desc("${corrected reasoning}")
                .with_prefix("Accurate Reasoning: Thank you everyone. Let's now holistically"),
        )?;
        let predict = Predict::from_spec(spec).temperature(DEFAULT_TEMPERATURE);
        Ok(Self { predict, m, last_key, _types: PhantomData })
    }

    /// Builder: the comparison's temperature (default 0.7).
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.predict = self.predict.temperature(temperature);
        self
    }

    /// Builder: call options of the predictor (DSPy's `**config`); an unset
    /// temperature keeps the current one.
    pub fn config(mut self, config: CallConfig) -> Self {
        let merged = config.or(Predictor::config(&self.predict));
        self.predict = self.predict.config(merged);
        self
    }

    /// Builder: use this LM rather than the one in scope.
    pub fn lm(mut self, lm: impl Into<SharedLm>) -> Self {
        self.predict = self.predict.lm(lm);
        self
    }

    /// The number of attempts compared.
    pub fn attempts(&self) -> usize {
        self.m
    }

    /// Call with an [`Example`] holding the signature's inputs and the
    /// attempts under `completions` (a list of objects), the same shape as
    /// the typed [`ComparisonInput`]; `overrides` as
    /// [`Predict::forward_example`](crate::Predict::forward_example)'s.
    pub async fn forward_example(
        &self,
        inputs: &Example,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        let mut inputs = inputs.clone();
        let completions = match inputs.remove("completions") {
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(fields) => Ok(fields.into_iter().collect::<Fields>()),
                    _ => Err(self.error(format!("attempt {} in `completions` is not an object", i + 1))),
                })
                .collect::<Result<Vec<Fields>, _>>()?,
            Some(_) => return Err(self.error("`completions` must be a list of attempts".into())),
            None => return Err(self.error("the inputs have no `completions`".into())),
        };
        self.compare(&completions, &inputs, overrides).await
    }

    /// Compare `completions` for `inputs`. There must be exactly `M`, each
    /// with `rationale` or `reasoning` and the signature's last output.
    pub async fn compare(
        &self,
        completions: &[Fields],
        inputs: &Example,
        overrides: Option<&CallConfig>,
    ) -> Result<Prediction, ModuleError> {
        if completions.len() != self.m {
            return Err(self.error(format!(
                "The number of attempts ({}) doesn't match the expected number M ({}). Please set the correct value \
                 for M when initializing MultiChainComparison.",
                completions.len(),
                self.m
            )));
        }
        let mut call_inputs = Example::new();
        for (i, c) in completions.iter().enumerate() {
            let rationale = c
                .get("rationale")
                .or_else(|| c.get("reasoning"))
                .ok_or_else(|| self.error(format!("attempt {} has neither `rationale` nor `reasoning`", i + 1)))?;
            let answer = c
                .get(&self.last_key)
                .ok_or_else(|| self.error(format!("attempt {} has no `{}`", i + 1, self.last_key)))?;
            call_inputs.insert(
                format!("reasoning_attempt_{}", i + 1),
                Value::String(format!(
                    "«I'm trying to {} I'm not sure but my prediction is {}»",
                    first_line(rationale),
                    first_line(answer)
                )),
            );
        }
        for (k, v) in inputs.iter() {
            call_inputs.insert(k.clone(), v.clone());
        }
        self.predict.forward_example(&call_inputs, overrides).await
    }

    fn error(&self, message: String) -> ModuleError {
        ModuleError::Module { module: "MultiChainComparison".into(), message }
    }
}

/// Python's `str(v).strip().split("\n")[0].strip()`.
fn first_line(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => kestrel_core::types::python_literal_repr(other),
    };
    let stripped = py_strip(&text);
    py_strip(stripped.split('\n').next().unwrap_or("")).to_string()
}

/// Python's `str.strip()`.
fn py_strip(s: &str) -> &str {
    s.trim_matches(kestrel_core::text::is_python_space)
}

impl<S: SignatureTypes> Predictors for MultiChainComparison<S> {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        self.predict.visit_predictors(&join_path(path, "predict"), visit);
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        self.predict.visit_predictors_mut(&join_path(path, "predict"), visit);
    }
}

impl<S: SignatureTypes> Module for MultiChainComparison<S> {
    type Input = ComparisonInput<S::Input>;
    type Output = WithRationale<S::Output>;

    async fn forward(&self, input: Self::Input) -> Result<Self::Output, ModuleError> {
        let inputs = Example::from_serialize(&input.inputs)?;
        let prediction = self.compare(&input.completions, &inputs, None).await?;
        output_from_prediction::<Self::Output>(prediction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_line_is_python_str_strip_split() {
        assert_eq!(first_line(&json!("  It depends\nbut 100. ")), "It depends");
        assert_eq!(first_line(&json!(12.0)), "12.0");
        assert_eq!(first_line(&json!(true)), "True");
    }
}
