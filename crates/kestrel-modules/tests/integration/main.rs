//! kestrel-modules' integration tests (one binary; one module per area).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[path = "../../../kestrel-core/tests/integration/fixture_support.rs"]
#[allow(dead_code)]
mod fixture_support;

mod best_of_n;
mod call_example;
mod callbacks;
#[cfg(feature = "code")]
mod code;
mod inference_fixtures;
mod lm_selection;
mod majority;
mod module_fixtures;
mod parallel;
mod predict;
mod predictors;
mod react;
mod refine;
mod retrieve;
mod saved_programs;
mod streaming;
mod test_lms;
mod tools;
mod traces;
