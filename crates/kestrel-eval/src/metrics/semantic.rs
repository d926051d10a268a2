//! [`SemanticF1`]: DSPy's LM-judged metric (`dspy.evaluate.SemanticF1`). A
//! `ChainOfThought` judge reads the question, the gold response and the
//! system's response, reports recall and precision, and the metric is their
//! F1. The judge's signatures are built at run time with DSPy's exact
//! instructions and field descriptions, so the prompts match DSPy's.

use async_trait::async_trait;
use kestrel_core::{Example, FieldSpec, FieldType, Prediction, SignatureSpec};
use kestrel_lm::SharedLm;
use kestrel_modules::trace::is_tracing;
use kestrel_modules::{ChainOfThought, ModuleError, Trace, with_trace};
use serde_json::Value;

use crate::error::EvalError;
use crate::metric::Metric;
use crate::metrics::answer::{field, type_error};
use crate::score::Score;

/// Instructions of DSPy's `SemanticRecallPrecision` (prompt text).
const RECALL_PRECISION_INSTRUCTIONS: &str = "Compare a system's response to the ground truth to compute its recall and precision.\nIf asked to reason, enumerate key ideas in each response, and whether they are present in the other response.";

/// Instructions of DSPy's `DecompositionalSemanticRecallPrecision` (prompt text).
const DECOMPOSITIONAL_INSTRUCTIONS: &str = "Compare a system's response to the ground truth to compute recall and precision of key ideas.\nYou will first enumerate key ideas in each response, discuss their overlap, and then report recall and precision.";

const RECALL_DESC: &str = "fraction (out of 1.0) of ground truth covered by the system response";
const PRECISION_DESC: &str = "fraction (out of 1.0) of system response covered by the ground truth";

/// DSPy's default acceptance threshold for bootstrapping.
pub const DEFAULT_SEMANTIC_THRESHOLD: f64 = 0.66;

/// The judge's signature: DSPy's `SemanticRecallPrecision`, or with
/// `decompositional` its `DecompositionalSemanticRecallPrecision`.
pub fn semantic_recall_precision_signature(decompositional: bool) -> Result<SignatureSpec, EvalError> {
    let mut fields = vec![
        FieldSpec::input("question", FieldType::Str),
        FieldSpec::input("ground_truth", FieldType::Str),
        FieldSpec::input("system_response", FieldType::Str),
    ];
    if decompositional {
        fields.extend([
            FieldSpec::output("ground_truth_key_ideas", FieldType::Str)
                .with_desc("enumeration of key ideas in the ground truth"),
            FieldSpec::output("system_response_key_ideas", FieldType::Str)
                .with_desc("enumeration of key ideas in the system response"),
            FieldSpec::output("discussion", FieldType::Str)
                .with_desc("discussion of the overlap between ground truth and system response"),
        ]);
    }
    fields.extend([
        FieldSpec::output("recall", FieldType::Float).with_desc(RECALL_DESC),
        FieldSpec::output("precision", FieldType::Float).with_desc(PRECISION_DESC),
    ]);
    let instructions = if decompositional { DECOMPOSITIONAL_INSTRUCTIONS } else { RECALL_PRECISION_INSTRUCTIONS };
    SignatureSpec::new(fields, Some(instructions.to_string())).map_err(|e| EvalError::Module(ModuleError::Core(e)))
}

/// F1 of precision and recall, each clamped to `[0, 1]` first; `0.0` when
/// both are zero (DSPy's `auto_evaluation.f1_score`).
pub fn clamped_f1(precision: f64, recall: f64) -> f64 {
    let (p, r) = (precision.clamp(0.0, 1.0), recall.clamp(0.0, 1.0));
    if p + r == 0.0 { 0.0 } else { 2.0 * (p * r) / (p + r) }
}

/// LM-judged semantic F1 of a long-form response against a gold response.
///
/// Reads `question` and the gold `response` from the example and `response`
/// from the prediction (configurable with [`SemanticF1::fields`]). Returns
/// the F1 of the judge's recall and precision; when called with a trace
/// (bootstrapping) it returns pass/fail: `1.0` if the F1 reaches the
/// threshold (default 0.66), else `0.0` — as DSPy does.
///
/// The judge uses the LM in scope (the program's, through `with_lm`) unless
/// one is set with [`SemanticF1::lm`]. Its own predictor call is kept out of
/// any trace the caller is recording.
#[derive(Debug, Clone)]
pub struct SemanticF1 {
    judge: ChainOfThought,
    threshold: f64,
    decompositional: bool,
    question_field: String,
    gold_field: String,
    pred_field: String,
}

impl SemanticF1 {
    /// DSPy's `SemanticF1()`: threshold 0.66, not decompositional.
    pub fn new() -> Result<Self, EvalError> {
        Self::build(false)
    }

    /// DSPy's `SemanticF1(decompositional=True)`: the judge first lists the
    /// key ideas of each response and discusses their overlap.
    pub fn decompositional() -> Result<Self, EvalError> {
        Self::build(true)
    }

    fn build(decompositional: bool) -> Result<Self, EvalError> {
        let judge = ChainOfThought::with_spec(semantic_recall_precision_signature(decompositional)?)?;
        Ok(Self {
            judge,
            threshold: DEFAULT_SEMANTIC_THRESHOLD,
            decompositional,
            question_field: "question".into(),
            gold_field: "response".into(),
            pred_field: "response".into(),
        })
    }

    /// Builder: the pass mark used when a trace is given.
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Builder: the judge's own LM (instead of the one in scope).
    pub fn lm(mut self, lm: impl Into<SharedLm>) -> Self {
        self.judge = self.judge.lm(lm);
        self
    }

    /// Builder: the example's question field, the example's gold response
    /// field and the prediction's response field.
    pub fn fields(
        mut self,
        question: impl Into<String>,
        gold_response: impl Into<String>,
        response: impl Into<String>,
    ) -> Self {
        self.question_field = question.into();
        self.gold_field = gold_response.into();
        self.pred_field = response.into();
        self
    }

    /// The judge program (its predictor is `predict`).
    pub fn judge(&self) -> &ChainOfThought {
        &self.judge
    }

    /// The judge program, mutably (to give it demos or new instructions).
    pub fn judge_mut(&mut self) -> &mut ChainOfThought {
        &mut self.judge
    }

    /// True for the decompositional variant.
    pub fn get_decompositional(&self) -> bool {
        self.decompositional
    }

    /// The judge's F1 for one example, whatever the trace.
    pub async fn f1(&self, example: &Example, prediction: &Prediction) -> Result<f64, EvalError> {
        let inputs = Example::from_pairs([
            ("question", field(example.fields(), &self.question_field, "example")?.clone()),
            ("ground_truth", field(example.fields(), &self.gold_field, "example")?.clone()),
            ("system_response", field(prediction.fields(), &self.pred_field, "prediction")?.clone()),
        ]);
        let call = self.judge.forward_example(&inputs, None);
        let judged = if is_tracing() { with_trace(call).await.0 } else { call.await }?;
        let number = |name: &str| -> Result<f64, EvalError> {
            match field(judged.fields(), name, "prediction")? {
                Value::Number(n) => n.as_f64().ok_or_else(|| type_error(name, "prediction", "a number", &Value::Null)),
                other => Err(type_error(name, "prediction", "a number", other)),
            }
        };
        Ok(clamped_f1(number("precision")?, number("recall")?))
    }
}

#[async_trait]
impl Metric for SemanticF1 {
    async fn score(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        let f1 = self.f1(example, prediction).await?;
        Ok(match trace {
            None => Score::new(f1),
            Some(_) => Score::from(f1 >= self.threshold),
        })
    }

    fn name(&self) -> &str {
        "semantic_f1"
    }
}
