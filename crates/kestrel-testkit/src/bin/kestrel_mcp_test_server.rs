//! `kestrel-mcp-test-server`: the testkit's MCP server on stdin/stdout, for
//! the stdio transport's tests (feature `mcp`).

fn main() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(kestrel_testkit::mcp::serve_stdio())
}
