//! A small MCP server (feature `mcp`) for the MCP client's tests and the
//! `mcp_tools` example, built with the official Rust MCP SDK's server side.
//!
//! [`TestMcpServer`] serves five tools, listed over two pages of
//! `tools/list` (so clients must follow the cursor):
//!
//! - `add(a: integer, b: integer)` → the sum, as text;
//! - `get_weather(city: string, units?: Units)` → `"Sunny in <city>, 21 °C."`
//!   (`Units` is a `$ref` into `$defs`: `"C"` or `"F"`);
//! - `echo_parts(parts: array of strings)` → one text content per part;
//! - `fail(reason: string)` → an error result (`isError`) with the reason;
//! - `exit()` (stdio only) → the server process ends without answering.
//!
//! An unknown tool is a JSON-RPC error. [`serve_http`] runs it over
//! streamable HTTP on `127.0.0.1:<free port>/mcp`; [`serve_stdio`] over the
//! process's stdin and stdout (the `kestrel-mcp-test-server` binary).

mod http;
mod tools;

pub use http::{McpHttpServer, serve_http};
pub use tools::TestMcpServer;

use rmcp::ServiceExt;

/// Serve [`TestMcpServer`] (with its `exit` tool) on this process's stdin
/// and stdout until the client closes them.
pub async fn serve_stdio() -> std::io::Result<()> {
    let running = TestMcpServer::new()
        .with_exit_tool()
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    running.waiting().await.map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(())
}
