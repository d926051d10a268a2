//! kestrel-core's integration tests (one binary; one module per area).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod custom_types;
mod example_prediction;
mod fixture_support;
mod fixtures_all;
mod fixtures_format;
mod fixtures_parse;
mod signatures;
mod xml_adapter;
