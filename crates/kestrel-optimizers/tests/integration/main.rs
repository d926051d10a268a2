//! kestrel-optimizers' integration tests, one binary: each module covers
//! one optimizer; `support` holds the deterministic test LM.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[path = "../../../kestrel-core/tests/integration/fixture_support.rs"]
#[allow(dead_code)]
mod fixture_support;

mod bootstrap;
mod bootstrap_fill;
mod budgets;
mod copro;
mod crash_resume;
mod dyn_optimizer;
mod ensemble;
mod finetune_data;
mod finetune_optimizers;
mod gepa;
mod knn_fewshot;
mod labeled;
mod mipro;
mod mipro_proposer;
mod mipro_search;
mod mipro_steps;
mod optimizer_fixtures;
mod random_search;
mod report_html;
mod resumable;
mod simba;
mod support;
