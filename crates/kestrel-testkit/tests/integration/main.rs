//! The kestrel-testkit integration tests, one binary: the scripted LM and
//! the mock HTTP server.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

// mod mock_server; — the mock server is still being written (issue 3)
mod scripted;
