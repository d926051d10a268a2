//! The kestrel-testkit integration tests, one binary: the scripted LM and
//! the mock HTTP server (routes, recording, latency, lifecycle; faults);
//! with feature `mcp`, the MCP server through kestrel-modules' MCP client.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[cfg(feature = "mcp")]
mod mcp;
mod mock_faults;
mod mock_server;
mod mock_stream;
mod mock_tool_calls;
mod rules;
mod scripted;
