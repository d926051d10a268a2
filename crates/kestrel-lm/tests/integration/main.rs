//! kestrel-lm's integration tests, one binary: each module covers one part
//! of the crate.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod basics;
mod budget;
mod cache;
mod client;
mod finetune;
mod http;
mod journal;
#[cfg(feature = "retrieval")]
mod retrieval;
mod retrieval_scope;
mod streaming;
mod two_step;
mod xml_choice;
