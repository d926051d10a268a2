//! kestrel-eval's integration tests (one binary; one module per area).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod dataset;
mod evaluate_budget;
mod evaluate_callbacks;
mod evaluate_cancel;
mod evaluate_concurrency;
mod evaluate_journal;
mod evaluate_order;
mod evaluate_output;
mod evaluate_spend;
mod metric_closures;
mod metrics_answer;
mod metrics_text;
mod semantic_f1;
mod support;
