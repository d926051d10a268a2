//! kestrel-modules' integration tests (one binary; one module per area).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[path = "../../../kestrel-core/tests/integration/fixture_support.rs"]
#[allow(dead_code)]
mod fixture_support;

mod lm_selection;
mod module_fixtures;
mod predict;
mod predictors;
mod traces;
