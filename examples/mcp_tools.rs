//! A ReAct agent whose tools come from MCP servers: the testkit's small MCP
//! server, reached once over stdio (a child process: this example started
//! again with `--serve-mcp-stdio`) and once over streamable HTTP on
//! loopback. A callback prints every tool call as it happens.
//!
//! Offline: a scripted LM plays the model (thought → MCP tool → observation
//! → ... → finish → extract), so the run needs no key and no network.
//!
//! ```sh
//! cargo run -p kestrel-examples --features mcp --example mcp_tools
//! ```

use std::sync::Arc;

use kestrel::lm::{CallEnd, CallStart, Callback, CallbackError, Callbacks, with_callbacks};
use kestrel::modules::{McpClient, ReAct};
use kestrel::prelude::*;
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::json;

/// Answer the question using the tools.
#[derive(Signature)]
struct Ask {
    #[input]
    question: String,
    #[output]
    answer: String,
}

/// Prints tool calls (DSPy's `on_tool_start` / `on_tool_end`).
struct PrintTools;

impl Callback for PrintTools {
    fn on_tool_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        println!("  [callback] tool #{} {}({}) starts", call.call_id, call.name, call.inputs);
        Ok(())
    }
    fn on_tool_end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        match (call.outputs, call.error) {
            (Some(outputs), _) => println!("  [callback] tool #{} {} returned {outputs}", call.call_id, call.name),
            (None, error) => {
                println!("  [callback] tool #{} {} failed: {}", call.call_id, call.name, error.unwrap_or("?"))
            }
        }
        Ok(())
    }
}

/// The scripted model: one reply per LM call of the loop.
fn offline_lm() -> ScriptedLm {
    let step = |thought: &str, tool: &str, args: serde_json::Value| {
        Reply::fields([("next_thought", json!(thought)), ("next_tool_name", json!(tool)), ("next_tool_args", args)])
    };
    ScriptedLm::sequence([
        step("I need the weather in Paris.", "get_weather", json!({"city": "Paris"})),
        step("Now the sum.", "add", json!({"a": 19, "b": 23})),
        step("Let me see what an MCP tool error looks like.", "fail", json!({"reason": "no such sensor"})),
        step("I have both facts.", "finish", json!({})),
        Reply::fields([
            ("reasoning", json!("The weather tool said sunny, 21 °C; the add tool said 42.")),
            ("answer", json!("Sunny, 21 °C in Paris; 19 + 23 = 42.")),
        ]),
    ])
}

async fn run_agent(label: &str, server: &McpClient) -> anyhow::Result<()> {
    let tools = server.tools().await?;
    println!("== {label}: {} ==", server.server());
    for tool in &tools {
        println!("tool: {tool}");
    }
    let agent = ReAct::<Ask>::new(tools)?.max_iters(6);
    let question = "What's the weather in Paris, and what is 19 + 23?".to_string();
    let callbacks = Callbacks::new().with_shared(Arc::new(PrintTools));
    println!();
    let out = with_callbacks(callbacks, with_lm(offline_lm(), agent.call(AskInput { question }))).await?;
    println!();
    for step in out.trajectory.steps() {
        println!("thought:     {}", step.thought);
        println!("tool:        {}({})", step.tool_name, step.tool_args);
        println!("observation: {}\n", step.observation);
    }
    println!("Answer: {}\n", out.answer);
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // The child process of the stdio run: be the MCP server.
    if std::env::args().nth(1).as_deref() == Some("--serve-mcp-stdio") {
        kestrel_testkit::mcp::serve_stdio().await?;
        return Ok(());
    }
    println!("(offline: a scripted LM plays the model; the MCP servers are the testkit's)\n");

    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command.arg("--serve-mcp-stdio");
    let stdio = McpClient::connect_stdio(command).await?;
    run_agent("stdio", &stdio).await?;

    let http_server = kestrel_testkit::mcp::serve_http().await?;
    let http = McpClient::connect_http(&http_server.url()).await?;
    run_agent("streamable HTTP", &http).await?;
    http_server.shutdown().await;
    Ok(())
}
