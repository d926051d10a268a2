//! The driver loop of one `Evaluate` run: keeps at most `concurrency`
//! examples in flight in a `FuturesUnordered` (inside the caller's task, so
//! its task-local scopes apply), keeps each finished row (sorted into devset
//! order at the end, in place), counts errors against the budget and
//! watches for cancellation and budget refusals (`kestrel_lm::with_budget`).
//! With a journal in scope, rows already recorded are taken back instead of
//! run (`journal_rows.rs`).

use std::future::pending;
use std::num::NonZeroUsize;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kestrel_lm::{BudgetExceeded, LmError, UsageReport, exhausted_in_scope};
use kestrel_modules::{Module, ModuleExt};

use crate::evaluate::Evaluate;
use crate::evaluate::example_error::ExampleError;
use crate::evaluate::example_ref::ExampleRef;
use crate::evaluate::journal_rows::RowJournal;
use crate::evaluate::progress::Progress;
use crate::evaluate::result::{EvalRow, EvaluationResult, StopReason, round_to};
use crate::metric::Metric;

/// What the loop produced, before usage and timing are attached.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Finished rows in completion order.
    rows: Vec<EvalRow>,
    total: usize,
    errors: usize,
    stop: Option<StopReason>,
}

impl Outcome {
    pub(crate) fn into_result(
        self,
        eval: &Evaluate,
        metric_name: &str,
        elapsed: Duration,
        usage: UsageReport,
    ) -> EvaluationResult {
        let total = self.total;
        let mut results = self.rows;
        // Devset order, sorted in place (no second buffer).
        results.sort_unstable_by_key(|r| r.index);
        let missing = total - results.len();
        let sum = results.iter().map(|r| r.score.score).sum::<f64>() + missing as f64 * eval.failure_score;
        EvaluationResult {
            score: round_to(100.0 * sum / total as f64, 2),
            total,
            errors: self.errors,
            stop: self.stop,
            metric_name: metric_name.to_string(),
            failure_score: eval.failure_score,
            elapsed,
            usage,
            results,
        }
    }
}

/// Run the program and the metric on one example (holding a permit of the
/// shared limiter, if any, meanwhile).
async fn evaluate_one<M, F>(
    example: ExampleRef,
    program: &M,
    metric: &F,
    eval: &Evaluate,
    journal: Option<&RowJournal>,
) -> EvalRow
where
    M: Module + ?Sized,
    F: Metric + ?Sized,
{
    let index = example.index();
    if let Some((prediction, score)) = journal.and_then(|j| j.replay(&example)) {
        return EvalRow { index, example, prediction: Some(prediction), score, error: None };
    }
    let _permit = match &eval.limiter {
        Some(limiter) => limiter.acquire().await.ok(),
        None => None,
    };
    let failure = eval.failure_score;
    let (prediction, score, error) = match program.call_example(&example).await {
        Err(e) => (None, failure.into(), Some(ExampleError::Program(e))),
        Ok(prediction) => match metric.score(&example, &prediction, None).await {
            Ok(score) => (Some(prediction), score, None),
            Err(e) => (Some(prediction), failure.into(), Some(ExampleError::Metric(e))),
        },
    };
    if let Some(message) = &error {
        tracing::warn!(target: "kestrel_eval", index, "example failed: {message}");
    }
    if let (Some(journal), Some(prediction), None) = (journal, &prediction, &error) {
        journal.record(&example, prediction, &score);
    }
    EvalRow { index, example, prediction, score, error }
}

/// The budget refusal behind a failed row: its typed error, else (an error
/// a module wrapped beyond recognition) any budget in scope that refused.
fn refused_by_budget(row: &EvalRow) -> Option<BudgetExceeded> {
    let error = row.error.as_ref()?;
    match error.lm_error() {
        Some(LmError::BudgetExhausted(why)) => Some(*why),
        _ => exhausted_in_scope(),
    }
}

/// Resolves when the run should be cancelled (token or Ctrl-C); never, if
/// neither is configured.
async fn cancelled(eval: &Evaluate) {
    let token = async {
        match &eval.cancel {
            Some(token) => token.cancelled().await,
            None => pending().await,
        }
    };
    let ctrl_c = async {
        if eval.ctrl_c && tokio::signal::ctrl_c().await.is_ok() {
            return;
        }
        pending::<()>().await
    };
    tokio::select! {
        () = token => {}
        () = ctrl_c => {}
    }
}

pub(crate) async fn drive<M, F>(eval: &Evaluate, program: &M, metric: &F) -> Outcome
where
    M: Module + ?Sized,
    F: Metric + ?Sized,
{
    let devset = &eval.devset;
    let mut rows: Vec<EvalRow> = Vec::with_capacity(devset.len());
    let mut errors = 0usize;
    let mut stop = None;
    let mut progress = Progress::new(eval.display_progress, devset.len());
    let mut cancel = pin!(cancelled(eval));
    let journal = RowJournal::in_scope(program, metric.name());
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0usize;

    loop {
        if eval.cancel.as_ref().is_some_and(|t| t.is_cancelled()) {
            stop = Some(StopReason::Cancelled);
            break;
        }
        if stop.is_none() {
            if let Some(why) = exhausted_in_scope() {
                stop = Some(StopReason::budget(why));
            }
        }
        // After a budget stop no example starts; those in flight finish
        // (their calls were paid for).
        while stop.is_none() && in_flight.len() < eval.concurrency.get() {
            let Some(example) = ExampleRef::new(Arc::clone(devset), next) else { break };
            in_flight.push(evaluate_one(example, program, metric, eval, journal.as_ref()));
            next += 1;
        }
        let row = tokio::select! {
            biased;
            () = &mut cancel => {
                stop = Some(StopReason::Cancelled);
                break;
            }
            row = in_flight.next() => row,
        };
        let Some(row) = row else { break };
        if let Some(why) = refused_by_budget(&row) {
            // Not scored: the example did not fail, the budget ran out.
            stop.get_or_insert(StopReason::budget(why));
            continue;
        }
        progress.record(row.error.is_none().then_some(row.score.score));
        if row.error.is_some() {
            errors += 1;
        }
        rows.push(row);
        if let Some(max_errors) = eval.max_errors.map(NonZeroUsize::get).filter(|&max| stop.is_none() && errors >= max)
        {
            stop = Some(StopReason::TooManyErrors { errors, max_errors });
            break;
        }
    }
    // Anything still in flight is dropped here: its calls are abandoned.
    drop(in_flight);
    progress.finish();
    Outcome { rows, total: devset.len(), errors, stop }
}
