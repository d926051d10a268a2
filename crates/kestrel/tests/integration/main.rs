//! The facade's integration tests, one binary: the prelude and public
//! types (`facade`), and the whole compile workflow over HTTP against the
//! testkit's mock server (`compile_e2e`). Provider tests over HTTP live in
//! kestrel-lm's own integration tests.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod compile_e2e;
mod facade;
mod native_tools;
