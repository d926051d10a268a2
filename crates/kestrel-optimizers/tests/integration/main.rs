//! kestrel-optimizers' integration tests, one binary: each module covers
//! one optimizer; `support` holds the deterministic test LM.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod bootstrap;
mod dyn_optimizer;
mod labeled;
mod random_search;
mod support;
