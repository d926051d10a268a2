//! Kestrel evaluation: judge a program on a dataset, DSPy style.
//!
//! - [`Evaluate`]: run any [`kestrel_modules::Module`] over a devset with
//!   bounded async concurrency (default 16, thousands are fine), a progress
//!   bar, an error budget (`max_errors`), a failure score, cancellation, and
//!   a result ([`EvaluationResult`]) holding DSPy's percentage score, one row
//!   per example in devset order, the LM usage and cost of the run, a text
//!   table and JSON / CSV exports.
//! - [`Metric`]: DSPy's `metric(example, prediction, trace)`, async; any
//!   closure returning `bool`, `f64` or [`Score`] (a score with textual
//!   feedback) is one.
//! - [`metrics`]: DSPy's metrics with its exact semantics —
//!   `normalize_text`, exact match, token F1, `answer_exact_match`,
//!   `answer_passage_match` and the LM-judged [`metrics::SemanticF1`].
//! - [`Dataset`]: JSONL / JSON / CSV loading, input keys, seeded shuffle and
//!   train/dev/test splits.
//!
//! ```no_run
//! use kestrel_core::Example;
//! use kestrel_eval::{Dataset, Evaluate, metrics::AnswerExactMatch};
//! use kestrel_modules::ChainOfThought;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let lm = kestrel_lm::lm("openai/gpt-4o-mini")?;
//! let devset = Dataset::jsonl("dev.jsonl")?.with_inputs(["question"]);
//! let program = ChainOfThought::from_signature("question -> answer")?;
//!
//! let result = kestrel_lm::with_lm(
//!     lm,
//!     Evaluate::new(devset).concurrency(64)?.display_progress(true).run(&program, &AnswerExactMatch::new()),
//! )
//! .await?;
//! println!("{result}"); // Average Metric: 41.0 / 50 (82.0%)
//! println!("{}", result.table(5));
//! println!("cost: ${:.4}", result.usage.total.cost_usd);
//! result.save_csv("dev_results.csv")?;
//!
//! // A closure metric: annotate the argument types, or use `metric_fn`.
//! let short = |_: &Example, p: &kestrel_core::Prediction, _: Option<&kestrel_modules::Trace>| {
//!     p.get_str("answer").is_some_and(|a| a.split_whitespace().count() <= 5)
//! };
//! let brevity = Evaluate::new(result.results.iter().map(|r| r.example.to_example()).collect::<Vec<_>>())
//!     .run(&program, &short)
//!     .await?;
//! # let _ = brevity;
//! # Ok(()) }
//! ```
//!
//! Invariant: evaluation knows programs only through the `Module` trait and
//! LMs only through `kestrel-lm`'s scopes; it knows no provider, and every
//! program call of a run happens inside the caller's task.

pub mod dataset;
mod error;
pub mod evaluate;
mod metric;
pub mod metrics;
mod score;

pub use dataset::{CsvOptions, Dataset, Splits};
pub use error::EvalError;
pub use evaluate::{EvalRow, Evaluate, EvaluationResult, ExampleError, ExampleRef, StopReason};
pub use metric::{
    AsyncMetricFn, FeedbackMetricFn, Metric, MetricFn, SharedMetric, feedback_metric_fn, metric_fn, metric_fn_async,
};
pub use score::{MetricOutput, Score};

/// The trace type metrics receive (`kestrel_modules::Trace`).
pub use kestrel_modules::Trace;

/// Result alias for this crate.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;
