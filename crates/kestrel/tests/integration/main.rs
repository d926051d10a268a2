//! The facade's integration tests, one binary: the prelude end to end
//! (`facade`) and the real providers over HTTP against the testkit's mock
//! server (`providers`).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod facade;
// mod providers; — provider tests need the mock server (issue 3, in progress)
