//! The MCP client (kestrel-modules' `McpClient`) against the test MCP
//! server, over streamable HTTP and stdio (the `kestrel-mcp-test-server`
//! binary): listing across pages, DSPy's argument schemas and results,
//! error results, unknown tools, bad arguments, a server gone, a server that
//! cannot be reached, and ReAct calling MCP tools.

use kestrel_core::Example;
use kestrel_lm::with_lm;
use kestrel_modules::{McpClient, ModuleError, ReAct, Tool};
use kestrel_testkit::mcp::serve_http;
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::{Value, json};

fn by_name<'a>(tools: &'a [Tool], name: &str) -> &'a Tool {
    tools.iter().find(|t| t.name() == name).unwrap()
}

fn stdio_command() -> tokio::process::Command {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_kestrel-mcp-test-server"))
}

/// Listing, schemas, descriptions and calls: the same over both transports.
async fn check_tools(client: &McpClient, expected_names: &[&str]) {
    let tools = client.tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(Tool::name).collect();
    assert_eq!(names, expected_names, "both pages of tools/list, in order");

    let weather = by_name(&tools, "get_weather");
    assert_eq!(weather.desc(), "Get the current weather for a city.");
    assert_eq!(
        Value::Object(weather.args().clone()),
        json!({
            "city": {"type": "string", "description": "The city."},
            "units": {"type": "string", "enum": ["C", "F"]}
        }),
        "the `$ref` is resolved as DSPy resolves it"
    );
    assert_eq!(
        weather.to_string(),
        "get_weather, whose description is <desc>Get the current weather for a city.</desc>. It takes arguments \
         {'city': {'type': 'string', 'description': 'The city.'}, 'units': {'type': 'string', 'enum': ['C', 'F']}}."
    );

    let add = by_name(&tools, "add");
    assert_eq!(add.call_value(json!({"a": 2, "b": 3})).await.unwrap(), json!("5"));
    // DSPy's MCP tools take **kwargs: an argument outside the schema goes through.
    assert_eq!(add.call_value(json!({"a": 2, "b": 3, "note": "x"})).await.unwrap(), json!("5"));
    // A wrong type is caught before the request, as DSPy's schema check does.
    let err = add.call_value(json!({"a": "two", "b": 3})).await.unwrap_err();
    assert!(matches!(err, ModuleError::ToolArgs { .. }), "{err:?}");
    // A missing argument reaches the server, whose JSON-RPC error is typed.
    let err = add.call_value(json!({"a": 2})).await.unwrap_err();
    assert!(
        matches!(&err, ModuleError::McpRequest { message, .. } if message.contains("`b` must be an integer")),
        "{err:?}"
    );

    let weather_in = weather.call_value(json!({"city": "Paris", "units": "F"})).await.unwrap();
    assert_eq!(weather_in, json!("Sunny in Paris, 70 °F."));
    let parts = by_name(&tools, "echo_parts").call_value(json!({"parts": ["a", "b"]})).await.unwrap();
    assert_eq!(parts, json!(["a", "b"]), "several text contents are a list");

    let err = by_name(&tools, "fail").call_value(json!({"reason": "out of coffee"})).await.unwrap_err();
    assert!(
        matches!(&err, ModuleError::McpToolError { tool, message } if tool == "fail" && message == "out of coffee")
    );
    assert_eq!(err.to_string(), "Failed to call a MCP tool: out of coffee");

    let err = client.call("no_such_tool", json!({})).await.unwrap_err();
    assert!(matches!(&err, ModuleError::McpRequest { message, .. } if message.contains("unknown tool")), "{err:?}");
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<McpClient>();
    check::<kestrel_testkit::mcp::McpHttpServer>();
    check::<kestrel_testkit::mcp::TestMcpServer>();
}

#[tokio::test]
async fn streamable_http_tools_list_and_call() {
    let server = serve_http().await.unwrap();
    let client = McpClient::connect_http(&server.url()).await.unwrap();
    assert_eq!(client.server(), server.url());
    check_tools(&client, &["add", "get_weather", "echo_parts", "fail"]).await;
}

#[tokio::test]
async fn stdio_tools_list_and_call() {
    let client = McpClient::connect_stdio(stdio_command()).await.unwrap();
    check_tools(&client, &["add", "get_weather", "echo_parts", "fail", "exit"]).await;
}

#[tokio::test]
async fn a_stdio_server_that_exits_is_gone() {
    let client = McpClient::connect_stdio(stdio_command()).await.unwrap();
    let tools = client.tools().await.unwrap();
    let err = by_name(&tools, "exit").call_value(json!({})).await.unwrap_err();
    assert!(matches!(err, ModuleError::McpDisconnected { .. }), "{err:?}");
    let err = by_name(&tools, "add").call_value(json!({"a": 1, "b": 1})).await.unwrap_err();
    assert!(matches!(err, ModuleError::McpDisconnected { .. }), "{err:?}");
}

#[tokio::test]
async fn an_http_server_that_stops_is_gone() {
    let server = serve_http().await.unwrap();
    let client = McpClient::connect_http(&server.url()).await.unwrap();
    let tools = client.tools().await.unwrap();
    server.shutdown().await;
    let err = by_name(&tools, "add").call_value(json!({"a": 1, "b": 1})).await.unwrap_err();
    assert!(matches!(err, ModuleError::McpDisconnected { .. }), "{err:?}");
}

#[tokio::test]
async fn servers_that_cannot_be_reached_are_connect_errors() {
    let err =
        McpClient::connect_stdio(tokio::process::Command::new("/nonexistent/kestrel-mcp-server")).await.unwrap_err();
    assert!(matches!(&err, ModuleError::McpConnect { server, .. } if server == "/nonexistent/kestrel-mcp-server"));

    let server = serve_http().await.unwrap();
    let url = server.url();
    server.shutdown().await;
    let err = McpClient::connect_http(&url).await.unwrap_err();
    assert!(matches!(err, ModuleError::McpConnect { .. }), "{err:?}");

    // A process that is no MCP server: the handshake fails.
    let err = McpClient::connect_stdio(tokio::process::Command::new("true")).await.unwrap_err();
    assert!(matches!(err, ModuleError::McpConnect { .. }), "{err:?}");
}

#[tokio::test]
async fn react_calls_mcp_tools_and_sees_their_errors() {
    let server = serve_http().await.unwrap();
    let client = McpClient::connect_http(&server.url()).await.unwrap();
    let step = |thought: &str, tool: &str, args: Value| {
        Reply::fields([("next_thought", json!(thought)), ("next_tool_name", json!(tool)), ("next_tool_args", args)])
    };
    let lm = ScriptedLm::sequence([
        step("Add them.", "add", json!({"a": 19, "b": 23})),
        step("Try the failing tool.", "fail", json!({"reason": "no"})),
        step("Done.", "finish", json!({})),
        Reply::fields([("reasoning", json!("The server said 42.")), ("answer", json!("42"))]),
    ]);
    let agent = ReAct::from_signature("question -> answer", client.tools().await.unwrap()).unwrap();
    let out = with_lm(lm.clone(), agent.forward_example(&Example::from_pairs([("question", "19 + 23?")]), None))
        .await
        .unwrap();
    let trajectory = out.get("trajectory").unwrap();
    assert_eq!(trajectory["observation_0"], json!("42"));
    assert_eq!(trajectory["observation_1"], json!("Execution error in fail: Failed to call a MCP tool: no"));
    assert_eq!(out.get_str("answer"), Some("42"));
    // The MCP tools are described to the LM in DSPy's words.
    let system = &lm.requests()[0].messages[0].content;
    assert!(system.contains("(1) add, whose description is <desc>Add two integers.</desc>."), "{system}");
}
