//! Tools from MCP servers (feature `mcp`): [`McpClient`] connects to a
//! server over stdio (a child process) or streamable HTTP with the official
//! Rust MCP SDK (`rmcp`), lists its tools and turns each into a [`Tool`]
//! whose calls go to the server — DSPy's `Tool.from_mcp_tool` /
//! `dspy.utils.mcp.convert_mcp_tool`.
//!
//! As in DSPy, a tool's arguments are the properties of its JSON input
//! schema (`$ref`s into `$defs` resolved), extra arguments are passed
//! through, and a result's text contents are the observation (one text: a
//! string; several: a list of strings; none: the other contents as JSON).
//! A result flagged `isError` is [`ModuleError::McpToolError`] ("Failed to
//! call a MCP tool: …", which ReAct shows the LM as an observation); a
//! server that cannot be reached is [`ModuleError::McpConnect`], one that
//! went away [`ModuleError::McpDisconnected`], and any other protocol error
//! [`ModuleError::McpRequest`].

mod convert;

use std::fmt;
use std::sync::Arc;

use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ServiceExt, model};
use serde_json::Value;

use crate::error::ModuleError;
use crate::tool::Tool;

/// A connection to one MCP server. Cheap to clone; the tools made from it
/// keep it alive, and the connection closes (a stdio server's process is
/// ended) when the last clone and tool are dropped.
///
/// ```no_run
/// # async fn demo() -> Result<(), kestrel_modules::ModuleError> {
/// use kestrel_modules::{McpClient, ReAct};
///
/// let mut command = tokio::process::Command::new("my-mcp-server");
/// command.arg("--stdio");
/// let server = McpClient::connect_stdio(command).await?;
/// let agent = ReAct::from_signature("question -> answer", server.tools().await?)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct McpClient {
    inner: Arc<Connection>,
}

struct Connection {
    /// How the server is named in errors: the command or the URL.
    server: String,
    service: RunningService<RoleClient, ClientConfig>,
}

impl McpClient {
    /// Start `command` as a child process and talk MCP over its stdin and
    /// stdout (its stderr is inherited). The process is ended when the
    /// connection closes.
    pub async fn connect_stdio(command: tokio::process::Command) -> Result<Self, ModuleError> {
        let server = command.as_std().get_program().to_string_lossy().into_owned();
        let transport = TokioChildProcess::new(command)
            .map_err(|e| ModuleError::McpConnect { server: server.clone(), message: e.to_string() })?;
        Self::start(server, transport).await
    }

    /// Connect to a streamable-HTTP MCP server at `url` (e.g.
    /// `http://127.0.0.1:8000/mcp`). Plain HTTP only unless the build has
    /// TLS (the facade's `tls` feature).
    pub async fn connect_http(url: &str) -> Result<Self, ModuleError> {
        let transport = StreamableHttpClientTransport::from_uri(url);
        Self::start(url.to_string(), transport).await
    }

    async fn start<T, E, A>(server: String, transport: T) -> Result<Self, ModuleError>
    where
        T: rmcp::transport::IntoTransport<RoleClient, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let service = ClientConfig::default()
            .serve(transport)
            .await
            .map_err(|e| ModuleError::McpConnect { server: server.clone(), message: e.to_string() })?;
        Ok(Self { inner: Arc::new(Connection { server, service }) })
    }

    /// The server's name in errors: the command or the URL.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// The server's tools (every page of `tools/list`) as [`Tool`]s, in the
    /// server's order.
    pub async fn tools(&self) -> Result<Vec<Tool>, ModuleError> {
        let listed = self.inner.service.list_all_tools().await.map_err(|e| self.request_error(e))?;
        Ok(listed.into_iter().map(|tool| self.tool(tool)).collect())
    }

    /// One MCP tool description as a [`Tool`] calling this server.
    fn tool(&self, tool: model::Tool) -> Tool {
        let name = tool.name.to_string();
        let desc = tool.description.as_deref().unwrap_or_default().to_string();
        let args = convert::tool_args(&tool.input_schema);
        let client = self.clone();
        let tool_name = name.clone();
        Tool::dynamic_typed_errors(name, desc, args, move |args: Value| {
            let client = client.clone();
            let tool_name = tool_name.clone();
            async move { client.call(&tool_name, args).await }
        })
        // DSPy's MCP tools take `**kwargs`: arguments outside the schema go
        // to the server, which judges them.
        .accept_extra_args(true)
    }

    /// Call the server's tool `name` with `args` (a JSON object) and turn
    /// the result into an observation.
    pub async fn call(&self, name: &str, args: Value) -> Result<Value, ModuleError> {
        let mut params = CallToolRequestParams::new(name.to_string());
        if let Value::Object(map) = args {
            params = params.with_arguments(map);
        }
        let result = self.inner.service.call_tool(params).await.map_err(|e| self.request_error(e))?;
        convert::observation(name, result)
    }

    /// A failed request as a typed error: the server gone, or any other
    /// protocol failure.
    fn request_error(&self, error: ServiceError) -> ModuleError {
        let server = self.inner.server.clone();
        match error {
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
                ModuleError::McpDisconnected { server, message: error.to_string() }
            }
            other => ModuleError::McpRequest { server, message: other.to_string() },
        }
    }
}

impl fmt::Debug for McpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpClient").field("server", &self.inner.server).finish_non_exhaustive()
    }
}
