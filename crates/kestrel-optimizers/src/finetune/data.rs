//! BootstrapFinetune's training data, as DSPy 3.4.1 builds it
//! (`bootstrap_trace_data`, `_prepare_finetune_data`,
//! `build_call_data_from_trace`): the teacher runs every training example
//! in a trace scope, the metric scores each prediction (without the trace,
//! as `Evaluate` calls it), and every call of each kept trace becomes one
//! chat record — the messages the adapter sends for the call's inputs (with
//! the predictor's demos unless `exclude_demos`) and the assistant reply it
//! would expect for the call's outputs. The records are shuffled with
//! Python's `random.Random(0)`.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use kestrel_core::{Adapter, Example, PredictorId, PyRandom, SignatureSpec};
use kestrel_eval::{ExampleError, Metric};
use kestrel_lm::SharedLm;
use kestrel_modules::{Module, ModuleExt, Predictor, Predictors, Trace, with_trace};
use serde_json::{Value, json};

use crate::error::OptimizerError;

/// One training example's teacher run (DSPy's `TraceData`).
#[derive(Debug, Clone)]
pub struct TraceData {
    /// Position in the training set.
    pub example_index: usize,
    /// Every predictor call of the run, in call order.
    pub trace: Trace,
    /// The metric's score (`None` without a metric).
    pub score: Option<f64>,
}

/// What the data builder needs of one predictor.
#[derive(Debug, Clone)]
pub(crate) struct PredictorInfo {
    pub(crate) path: String,
    pub(crate) id: PredictorId,
    pub(crate) signature: SignatureSpec,
    pub(crate) demos: Vec<Example>,
    pub(crate) lm: Option<SharedLm>,
}

/// The predictors of `program`, in DSPy's `predictors()` order.
pub(crate) fn predictors_of<M: Predictors + ?Sized>(program: &M) -> Vec<PredictorInfo> {
    let mut out = Vec::new();
    program.visit_predictors("", &mut |path, p: &dyn Predictor| {
        out.push(PredictorInfo {
            path: path.to_string(),
            id: p.id(),
            signature: p.signature().clone(),
            demos: p.demos().to_vec(),
            lm: p.lm().cloned(),
        });
    });
    out
}

/// DSPy's `bootstrap_trace_data`: run `program` on every example (up to
/// `concurrency` at once, results in training-set order) and score each
/// prediction with `metric`. Examples whose run or metric failed are
/// returned apart (DSPy's `Evaluate` counts them as failures).
pub async fn bootstrap_trace_data<M>(
    program: &M,
    dataset: &[Example],
    metric: Option<&Arc<dyn Metric>>,
    concurrency: usize,
) -> (Vec<TraceData>, Vec<(usize, ExampleError)>)
where
    M: Module + Clone + 'static,
{
    let runs: Vec<_> = dataset.iter().enumerate().map(|(i, example)| trace_one(program, i, example, metric)).collect();
    let runs = futures::stream::iter(runs).buffered(concurrency.max(1)).collect::<Vec<_>>().await;
    let mut data = Vec::new();
    let mut failed = Vec::new();
    for (i, run) in runs.into_iter().enumerate() {
        match run {
            Ok(d) => data.push(d),
            Err(e) => failed.push((i, e)),
        }
    }
    (data, failed)
}

/// One teacher run in a trace scope, scored without the trace.
async fn trace_one<M: Module>(
    program: &M,
    example_index: usize,
    example: &Example,
    metric: Option<&Arc<dyn Metric>>,
) -> Result<TraceData, ExampleError> {
    let (outcome, trace) = with_trace(program.call_example(example)).await;
    let prediction = outcome.map_err(ExampleError::Program)?;
    let score = match metric {
        Some(metric) => Some(metric.score(example, &prediction, None).await.map_err(ExampleError::Metric)?.score),
        None => None,
    };
    Ok(TraceData { example_index, trace, score })
}

/// DSPy's `_prepare_finetune_data` for one training key: with a metric,
/// only runs with a truthy score; every trace call (or only the call at
/// `pred_ind` of each trace, without `multitask`) formatted by `adapter` as
/// one `{"messages": [...]}` record; then `random.Random(0).shuffle`.
/// `predictors` maps a trace's predictor ids to their signature and demos.
pub fn finetune_records(
    trace_data: &[TraceData],
    predictors: &HashMap<PredictorId, (SignatureSpec, Vec<Example>)>,
    adapter: &dyn Adapter,
    pred_ind: Option<usize>,
    exclude_demos: bool,
    filter_by_score: bool,
) -> Result<Vec<Value>, OptimizerError> {
    let mut data = Vec::new();
    for item in trace_data {
        if filter_by_score && item.score.is_some_and(|s| s == 0.0) {
            continue;
        }
        for (index, entry) in item.trace.iter().enumerate() {
            if pred_ind.is_some_and(|p| p != index) {
                continue;
            }
            let (signature, demos) = predictors.get(&entry.predictor).ok_or_else(|| {
                OptimizerError::Structure(format!(
                    "the trace names a predictor the teacher does not have: {}",
                    entry.name
                ))
            })?;
            let demos: &[Example] = if exclude_demos { &[] } else { demos };
            let outputs = Example::from_fields(entry.outputs.fields().clone());
            let messages = adapter
                .format_finetune_data(signature, demos, &entry.inputs, &outputs)
                .ok_or_else(|| {
                    OptimizerError::Config(format!("Could not infer the data format for: {}", adapter.name()))
                })?
                .map_err(|e| OptimizerError::Config(format!("formatting fine-tuning data: {e}")))?;
            let messages: Vec<Value> =
                messages.iter().map(|m| json!({"role": m.role.as_str(), "content": m.content})).collect();
            data.push(json!({"messages": messages}));
        }
    }
    PyRandom::new(0).shuffle(&mut data);
    Ok(data)
}
