//! [`TestMcpServer`]: the test server's tools, their schemas and answers.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use serde_json::{Map, Value, json};

/// How many tools the first page of `tools/list` holds.
const FIRST_PAGE: usize = 3;

/// The test MCP server (see the [module docs](super)).
#[derive(Debug, Clone, Default)]
pub struct TestMcpServer {
    exit_tool: bool,
}

impl TestMcpServer {
    /// The server without the `exit` tool (safe in-process).
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: add the `exit` tool, which ends the process — for a server
    /// in its own process only.
    pub fn with_exit_tool(mut self) -> Self {
        self.exit_tool = true;
        self
    }

    /// The tools, in listing order.
    pub fn tools(&self) -> Vec<Tool> {
        let mut tools = vec![
            tool(
                "add",
                "Add two integers.",
                json!({
                    "type": "object",
                    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                    "required": ["a", "b"]
                }),
            ),
            tool(
                "get_weather",
                "Get the current weather for a city.",
                json!({
                    "type": "object",
                    "properties": {
                        "city": {"type": "string", "description": "The city."},
                        "units": {"$ref": "#/$defs/Units"}
                    },
                    "required": ["city"],
                    "$defs": {"Units": {"type": "string", "enum": ["C", "F"]}}
                }),
            ),
            tool(
                "echo_parts",
                "Echo each part as its own text content.",
                json!({
                    "type": "object",
                    "properties": {"parts": {"type": "array", "items": {"type": "string"}}},
                    "required": ["parts"]
                }),
            ),
            tool(
                "fail",
                "Always fails with the given reason.",
                json!({"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]}),
            ),
        ];
        if self.exit_tool {
            tools.push(tool("exit", "End the server process.", json!({"type": "object", "properties": {}})));
        }
        tools
    }

    fn answer(&self, name: &str, args: &Map<String, Value>) -> Result<CallToolResult, ErrorData> {
        let text = |key: &str| args.get(key).and_then(Value::as_str).map(str::to_string);
        let int = |key: &str| {
            args.get(key)
                .and_then(Value::as_i64)
                .ok_or_else(|| ErrorData::invalid_params(format!("`{key}` must be an integer"), None))
        };
        match name {
            "add" => Ok(CallToolResult::success(vec![ContentBlock::text((int("a")? + int("b")?).to_string())])),
            "get_weather" => {
                let city = text("city").ok_or_else(|| ErrorData::invalid_params("`city` is required", None))?;
                let (degrees, units) = match text("units").as_deref() {
                    Some("F") => (70, "F"),
                    _ => (21, "C"),
                };
                Ok(CallToolResult::success(vec![ContentBlock::text(format!("Sunny in {city}, {degrees} °{units}."))]))
            }
            "echo_parts" => {
                let parts = args.get("parts").and_then(Value::as_array).cloned().unwrap_or_default();
                let parts = parts.iter().map(|p| ContentBlock::text(p.as_str().unwrap_or_default().to_string()));
                Ok(CallToolResult::success(parts.collect()))
            }
            "fail" => Ok(CallToolResult::error(vec![ContentBlock::text(text("reason").unwrap_or_default())])),
            "exit" if self.exit_tool => std::process::exit(0),
            other => Err(ErrorData::invalid_params(format!("unknown tool `{other}`"), None)),
        }
    }
}

fn tool(name: &'static str, description: &'static str, schema: Value) -> Tool {
    let schema = match schema {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Tool::new(name, description, Arc::new(schema))
}

impl ServerHandler for TestMcpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self.tools();
        let second_page = request.and_then(|r| r.cursor).is_some_and(|cursor| cursor == "page-2");
        if second_page {
            return Ok(ListToolsResult::with_all_items(tools.into_iter().skip(FIRST_PAGE).collect()));
        }
        let mut page = ListToolsResult::with_all_items(tools.into_iter().take(FIRST_PAGE).collect());
        page.next_cursor = Some("page-2".to_string());
        Ok(page)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        self.answer(&request.name, &args).map(CallToolResponse::from)
    }
}
