//! [`serve_http`]: the test MCP server over streamable HTTP on loopback.

use std::net::SocketAddr;
use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::TestMcpServer;

/// A running streamable-HTTP test server; stopped by [`McpHttpServer::shutdown`]
/// or when dropped.
#[derive(Debug)]
pub struct McpHttpServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// Start [`TestMcpServer`] on `http://127.0.0.1:<free port>/mcp`.
pub async fn serve_http() -> std::io::Result<McpHttpServer> {
    let stop = CancellationToken::new();
    let service: StreamableHttpService<TestMcpServer, LocalSessionManager> = StreamableHttpService::new(
        || Ok(TestMcpServer::new()),
        Arc::default(),
        StreamableHttpServerConfig::default().with_sse_keep_alive(None).with_cancellation_token(stop.child_token()),
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stopped = stop.clone();
    let task = tokio::spawn(async move {
        // A serve error ends the server; clients then see it gone.
        let _ = axum::serve(listener, router).with_graceful_shutdown(stopped.cancelled_owned()).await;
    });
    Ok(McpHttpServer { addr, stop, task: Some(task) })
}

impl McpHttpServer {
    /// The MCP endpoint's URL.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Stop serving and wait until the listener is closed.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for McpHttpServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
