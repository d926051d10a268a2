//! [`Evaluate`]: run a program over a devset with bounded async concurrency
//! and score every prediction with a metric (DSPy's `dspy.Evaluate`).
//!
//! The pieces: the builder and `run` (here), the driver loop (`run.rs`),
//! resumable rows (`journal_rows.rs`), the
//! result types (`result.rs`), the progress bar (`progress.rs`), the text
//! table (`table.rs`) and the JSON / CSV exports (`export.rs`).

mod example_error;
mod example_ref;
mod export;
mod journal_rows;
mod progress;
mod result;
mod run;
mod table;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;

use kestrel_core::Example;
use kestrel_lm::callback::{CallKind, observer};
use kestrel_lm::{Budget, Journal, track_usage, with_budget, with_journal};
use kestrel_modules::Module;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::error::EvalError;
use crate::metric::Metric;

pub use example_error::ExampleError;
pub use example_ref::ExampleRef;
pub(crate) use result::python_float;
pub use result::{EvalRow, EvaluationResult, StopReason};

/// Runs a program over a devset and scores it (DSPy's `Evaluate`).
///
/// ```no_run
/// # async fn demo() -> Result<(), kestrel_eval::EvalError> {
/// use kestrel_core::Example;
/// use kestrel_eval::{Evaluate, metrics::AnswerExactMatch};
/// use kestrel_modules::Predict;
///
/// let devset = vec![Example::from_pairs([("question", "2+2?"), ("answer", "4")]).with_inputs(["question"])];
/// let program = Predict::from_signature("question -> answer")?;
/// let result = Evaluate::new(devset)
///     .concurrency(32)?
///     .display_progress(true)
///     .run(&program, &AnswerExactMatch::new())
///     .await?;
/// println!("{result}"); // Average Metric: 1.0 / 1 (100.0%)
/// # Ok(()) }
/// ```
///
/// # Semantics
///
/// - At most `concurrency` examples (program call, then metric) are in
///   flight at once, all inside the caller's task, so the caller's
///   `with_lm`, `track_usage` and other task-local scopes apply.
/// - A program or metric error scores `failure_score` and counts against
///   `max_errors`. When the errors reach `max_errors` (DSPy's
///   `error_count >= max_errors`) the run stops: no new calls start, calls
///   in flight are dropped, and the result keeps what finished, with
///   [`EvaluationResult::stop`] saying why.
/// - Counts (`concurrency`, `max_errors`) are at least 1: their builders
///   take anything that converts into a [`NonZeroUsize`] (`16`, a `usize`,
///   a `NonZeroUsize`) and return [`EvalError::InvalidArgument`] at once
///   for a zero, never a silent clamp.
/// - A budget in scope (`kestrel_lm::with_budget` or [`Evaluate::budget`])
///   that refuses an LM call stops the run, marked
///   [`StopReason::BudgetReached`]: no example starts any more, those in
///   flight finish (their calls are paid for) and are kept, and an example
///   whose call was refused is not scored (nor counted as an error).
/// - Cancellation (the token, or Ctrl-C when enabled) stops the same way and
///   returns what finished, marked [`StopReason::Cancelled`]. Dropping the
///   future returned by [`Evaluate::run`] stops everything at once and
///   returns nothing; responses that already arrived stay in the LM's cache,
///   so a rerun does not pay for them again.
#[derive(Debug, Clone)]
pub struct Evaluate {
    devset: Arc<[Example]>,
    concurrency: NonZeroUsize,
    max_errors: Option<NonZeroUsize>,
    failure_score: f64,
    display_progress: bool,
    display_table: usize,
    cancel: Option<CancellationToken>,
    ctrl_c: bool,
    limiter: Option<Arc<Semaphore>>,
    budget: Option<Budget>,
    journal: Option<Journal>,
}

impl Evaluate {
    /// Default number of examples in flight.
    pub const DEFAULT_CONCURRENCY: NonZeroUsize = NonZeroUsize::MIN.saturating_add(15);
    /// Default error budget (DSPy's `settings.max_errors`).
    pub const DEFAULT_MAX_ERRORS: NonZeroUsize = NonZeroUsize::MIN.saturating_add(9);

    /// Evaluate on `devset` (a `Vec<Example>`, a [`crate::Dataset`] or an
    /// already shared `Arc<[Example]>`, which is reused without copying).
    pub fn new(devset: impl Into<Arc<[Example]>>) -> Self {
        Self {
            devset: devset.into(),
            concurrency: Self::DEFAULT_CONCURRENCY,
            max_errors: Some(Self::DEFAULT_MAX_ERRORS),
            failure_score: 0.0,
            display_progress: false,
            display_table: 0,
            cancel: None,
            ctrl_c: false,
            limiter: None,
            budget: None,
            journal: None,
        }
    }

    /// Builder: how many examples may be in flight at once (DSPy's
    /// `num_threads`); thousands are fine. Zero is an
    /// [`EvalError::InvalidArgument`].
    pub fn concurrency(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, EvalError> {
        self.concurrency = non_zero("concurrency", n)?;
        Ok(self)
    }

    /// Builder: stop the run when this many examples have failed (DSPy's
    /// `max_errors`: `error_count >= max_errors`). Default 10. Zero is an
    /// [`EvalError::InvalidArgument`]; [`Evaluate::unlimited_errors`] never
    /// stops.
    pub fn max_errors(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, EvalError> {
        self.max_errors = Some(non_zero("max_errors", n)?);
        Ok(self)
    }

    /// Builder: never stop on errors (every example runs).
    pub fn unlimited_errors(mut self) -> Self {
        self.max_errors = None;
        self
    }

    /// Examples in flight at once.
    pub fn get_concurrency(&self) -> NonZeroUsize {
        self.concurrency
    }

    /// Failed examples that stop the run (`None`: never).
    pub fn get_max_errors(&self) -> Option<NonZeroUsize> {
        self.max_errors
    }

    /// Builder: the score of an example whose program or metric failed
    /// (default `0.0`).
    pub fn failure_score(mut self, score: f64) -> Self {
        self.failure_score = score;
        self
    }

    /// Builder: show a progress bar on stderr (only when it is a terminal).
    pub fn display_progress(mut self, on: bool) -> Self {
        self.display_progress = on;
        self
    }

    /// Builder: print a table of the first `rows` results to stdout at the
    /// end (`0`, the default, prints none).
    pub fn display_table(mut self, rows: usize) -> Self {
        self.display_table = rows;
        self
    }

    /// Builder: a limit shared with other work. Each example holds one
    /// permit of `limiter` while its program and metric run (on top of this
    /// run's own `concurrency`), so several evaluations running at once —
    /// an optimizer scoring candidates concurrently — stay under one bound
    /// on calls in flight. A closed semaphore no longer limits anything.
    pub fn limiter(mut self, limiter: Arc<Semaphore>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Builder: charge every LM call of the run (program and metric) to
    /// `budget` (on top of any budget already in scope, see
    /// `kestrel_lm::with_budget`). When a budget in scope refuses a call the
    /// run stops: finished examples (and those in flight) are kept, the
    /// refused one is not scored, and [`EvaluationResult::stop`] is
    /// [`StopReason::BudgetReached`].
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Builder: record each scored row in `journal` as it finishes, and take
    /// rows it already holds back instead of running them — a rerun after a
    /// crash or Ctrl-C resumes. Open the journal with a
    /// [`kestrel_lm::RunIdentity`] naming what the run depends on (e.g.
    /// beside the LM cache: `<cache dir>/journal`). Inside a compile made
    /// resumable (`kestrel_optimizers::Resumable`) every evaluation already
    /// uses the compile's journal ([`kestrel_lm::with_journal`]).
    pub fn journal(mut self, journal: Journal) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Builder: stop when this token is cancelled.
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Builder: stop when the process receives Ctrl-C (SIGINT).
    ///
    /// While a run listens, Ctrl-C no longer ends the process: the run
    /// returns its partial result instead. (Tokio keeps its signal handler
    /// installed afterwards, so later Ctrl-C presses are also caught; a
    /// program that wants to exit on them should listen for them itself.)
    pub fn cancel_on_ctrl_c(mut self) -> Self {
        self.ctrl_c = true;
        self
    }

    /// The devset.
    pub fn devset(&self) -> &[Example] {
        &self.devset
    }

    /// Run `program` on every example and score it with `metric`.
    ///
    /// Fails only on an empty devset (or on a callback's error under
    /// [`kestrel_lm::CallbackErrorPolicy::Fail`]); program and metric errors
    /// are counted in the result. The callbacks in scope see an `evaluate`
    /// call (inputs: program type, metric name, devset size; outputs: score,
    /// total, errors, metric).
    pub async fn run<M, F>(&self, program: &M, metric: &F) -> Result<EvaluationResult, EvalError>
    where
        M: Module + ?Sized,
        F: Metric + ?Sized,
    {
        if self.devset.is_empty() {
            return Err(EvalError::EmptyDevset);
        }
        let Some(mut observer) = observer(CallKind::Evaluate) else {
            return self.run_unobserved(program, metric).await;
        };
        observer.start("Evaluate", || {
            serde_json::json!({
                "program": std::any::type_name::<M>(),
                "metric": metric.name(),
                "devset": self.devset.len(),
            })
        })?;
        let result = observer.run(self.run_unobserved(program, metric)).await;
        observer.finish(result, |result| {
            serde_json::json!({
                "score": result.score,
                "total": result.total,
                "errors": result.errors,
                "metric": result.metric_name,
            })
        })
    }

    async fn run_unobserved<M, F>(&self, program: &M, metric: &F) -> Result<EvaluationResult, EvalError>
    where
        M: Module + ?Sized,
        F: Metric + ?Sized,
    {
        let started = Instant::now();
        let drive = run::drive(self, program, metric);
        let drive = async {
            match &self.journal {
                Some(journal) => with_journal(journal.clone(), drive).await,
                None => drive.await,
            }
        };
        let (outcome, usage) = match &self.budget {
            Some(budget) => track_usage(with_budget(budget, drive)).await,
            None => track_usage(drive).await,
        };
        let result = outcome.into_result(self, metric.name(), started.elapsed(), usage);
        tracing::info!(target: "kestrel_eval", "{}", result.summary());
        if self.display_table > 0 {
            println!("{}", result.table(self.display_table));
        }
        Ok(result)
    }
}

/// A count that must be at least 1, or [`EvalError::InvalidArgument`].
pub(crate) fn non_zero(name: &'static str, n: impl TryInto<NonZeroUsize>) -> Result<NonZeroUsize, EvalError> {
    n.try_into().map_err(|_| EvalError::invalid(name, "must be at least 1"))
}
