//! GEPA's rollouts: a candidate program run on a batch of examples and
//! scored, concurrently (each run holds one of the compile's permits, at a
//! priority, while its program and metric run, so all the batches and
//! reflections of one compile have at most `concurrency` calls in flight;
//! inside the caller's task so LM scopes apply), results in batch order. With
//! traces on (DSPy's `capture_traces=True`, the `bootstrap_trace_data`
//! flow), each run keeps its predictor calls for the reflective dataset.
//!
//! A run whose program or metric fails scores `failure_score` and has no
//! trace (DSPy drops it from the trajectories too).

use futures::stream::{self, StreamExt};
use kestrel_core::{Example, Prediction};
use kestrel_eval::Metric;
use kestrel_modules::{Module, ModuleExt, Trace, with_trace};

use super::permits::Permits;

/// One example's run.
#[derive(Debug, Clone)]
pub(crate) struct Rollout {
    /// What the program returned (`None` when it failed).
    pub prediction: Option<Prediction>,
    /// The metric's score (`failure_score` on failure).
    pub score: f64,
    /// The predictor calls, when traces were captured and the run succeeded.
    pub trace: Option<Trace>,
    /// The failure, as text.
    pub error: Option<String>,
}

/// Run `program` on `examples` and score each run (DSPy's
/// `metric(example, prediction)`: no trace is passed to the metric).
pub(crate) async fn run_batch<M>(
    program: &M,
    examples: &[&Example],
    metric: &dyn Metric,
    capture_traces: bool,
    permits: &Permits,
    priority: u64,
    failure_score: f64,
) -> Vec<Rollout>
where
    M: Module + Clone + 'static,
{
    stream::iter(0..examples.len())
        .map(|i| {
            let example: &Example = examples[i];
            async move {
                let _permit = permits.acquire(priority).await;
                one(program, example, metric, capture_traces, failure_score).await
            }
        })
        .buffered(examples.len().max(1))
        .collect()
        .await
}

/// Run and score one example.
async fn one<M>(
    program: &M,
    example: &Example,
    metric: &dyn Metric,
    capture_traces: bool,
    failure_score: f64,
) -> Rollout
where
    M: Module + Clone + 'static,
{
    let (output, trace) = if capture_traces {
        let (output, trace) = with_trace(program.call_example(example)).await;
        (output, Some(trace))
    } else {
        (program.call_example(example).await, None)
    };
    let prediction = match output {
        Ok(prediction) => prediction,
        Err(e) => {
            return Rollout { prediction: None, score: failure_score, trace: None, error: Some(e.to_string()) };
        }
    };
    match metric.score(example, &prediction, None).await {
        Ok(score) => Rollout { prediction: Some(prediction), score: score.score, trace, error: None },
        Err(e) => {
            Rollout { prediction: Some(prediction), score: failure_score, trace: None, error: Some(e.to_string()) }
        }
    }
}

/// The scores of a batch, in order.
pub(crate) fn scores(rollouts: &[Rollout]) -> Vec<f64> {
    rollouts.iter().map(|r| r.score).collect()
}
