//! SIMBA's rollouts: one program on one example inside a trace scope,
//! scored by the metric — DSPy's `wrap_program` — and many of them run
//! concurrently with their results kept in submission order (DSPy's
//! `dspy.Parallel`).

use std::future::Future;

use futures::StreamExt;
use kestrel_core::{Example, Prediction};
use kestrel_eval::Metric;
use kestrel_lm::{CallConfig, SharedLm};
use kestrel_modules::{Module, ModuleExt, PredictorsExt, Trace, with_call_config, with_trace};
use serde_json::{Map, Value};

/// How a trajectory is sampled: DSPy's LM copies with their own rollout id
/// and temperature (`prepare_models_for_resampling`), or the teacher.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sampling {
    /// Set on every predictor of the program (DSPy's `set_lm`): the teacher.
    pub lm: Option<SharedLm>,
    /// Call options of the run (`rollout_id`, `temperature`).
    pub config: CallConfig,
}

/// What one run gave: DSPy's `{"prediction", "trace", "score",
/// "example", "output_metadata"}`.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// Index of the example in the batch (or the trainset).
    pub example: usize,
    /// The prediction; `None` when the program failed.
    pub prediction: Option<Prediction>,
    /// Every predictor call of the run.
    pub trace: Trace,
    /// The metric's score (0 when the program or the metric failed).
    pub score: f64,
    /// What the metric said besides its score (`{"feedback": ..}` when it
    /// gave feedback: DSPy's fields of a metric's `Prediction` other than
    /// `score`).
    pub metadata: Map<String, Value>,
    /// Why the run scored 0 by failing, if it did.
    pub error: Option<String>,
}

/// Run `program` on `example` (index `index`) with `sampling`, traced, and
/// score it. Failures are not errors: as DSPy, they score 0.
pub(crate) async fn rollout<M>(
    program: &M,
    example: &Example,
    index: usize,
    sampling: &Sampling,
    metric: &dyn Metric,
) -> Outcome
where
    M: Module + Clone + 'static,
{
    let mut program = program.clone();
    if let Some(lm) = &sampling.lm {
        program.set_lm_everywhere(Some(lm.clone()));
    }
    let (result, trace) = with_call_config(sampling.config.clone(), with_trace(program.call_example(example))).await;
    let mut outcome =
        Outcome { example: index, prediction: None, trace, score: 0.0, metadata: Map::new(), error: None };
    let prediction = match result {
        Ok(prediction) => prediction,
        Err(e) => {
            outcome.error = Some(e.to_string());
            // DSPy calls the metric with `None`, which fails for any metric
            // reading the prediction: the run scores 0.
            return outcome;
        }
    };
    match metric.score(example, &prediction, None).await {
        Ok(score) => {
            outcome.score = score.score;
            if let Some(feedback) = score.feedback {
                outcome.metadata.insert("feedback".into(), Value::String(feedback));
            }
        }
        Err(e) => outcome.error = Some(e.to_string()),
    }
    outcome.prediction = Some(prediction);
    outcome
}

/// Run `n` jobs with at most `concurrency` in flight, started in order (a
/// job starts as soon as any running one finishes: no head-of-line
/// blocking); the results come back in job order.
pub(crate) async fn run_ordered<T, F, Fut>(n: usize, concurrency: usize, mut job: F) -> Vec<T>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = T>,
{
    let mut done: Vec<(usize, T)> = futures::stream::iter(0..n)
        .map(|i| {
            let run = job(i);
            async move { (i, run.await) }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, out)| out).collect()
}
