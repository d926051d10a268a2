//! kestrel-optimizers' integration tests, one binary: each module covers
//! one optimizer; `support` holds the deterministic test LM.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod bootstrap;
mod bootstrap_fill;
mod copro;
mod labeled;
mod mipro;
mod mipro_proposer;
mod mipro_search;
mod mipro_steps;
mod optimizer_fixtures;
mod random_search;
mod support;
