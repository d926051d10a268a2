//! A ReAct agent with two tools: it looks up a city's weather and adds
//! numbers, then answers.
//!
//! Offline by default: a scripted LM plays the model, so the run shows the
//! exact loop (thought → tool → observation → ... → finish → extract) with no
//! key and no network. With `KESTREL_LM` set (e.g. `openai/gpt-4o-mini` and
//! `OPENAI_API_KEY`, built with `--features tls`) a real model drives it:
//!
//! ```sh
//! cargo run --example react_agent
//! KESTREL_LM=openai/gpt-4o-mini OPENAI_API_KEY=sk-... cargo run --example react_agent --features tls -- "Is it warmer in Paris or Oslo?"
//! ```

use kestrel::modules::{ReAct, Tool};
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

#[derive(serde::Deserialize, JsonSchema)]
struct CityArgs {
    /// The city's name.
    city: String,
}

#[derive(serde::Deserialize, JsonSchema)]
struct AddArgs {
    a: i64,
    b: i64,
}

fn tools() -> Vec<Tool> {
    let weather = Tool::new("get_weather", "Get the current weather for a city.", |args: CityArgs| async move {
        match args.city.to_lowercase().as_str() {
            "paris" => Ok("sunny, 21°C".to_string()),
            "oslo" => Ok("light rain, 12°C".to_string()),
            other => Err(format!("no weather station for `{other}`")),
        }
    });
    let add = Tool::infallible("add_numbers", "Add two integers and return the sum.", |args: AddArgs| async move {
        args.a + args.b
    });
    vec![weather, add]
}

/// The scripted model: one reply per LM call of the loop.
fn offline_lm() -> ScriptedLm {
    ScriptedLm::sequence([
        Reply::fields([
            ("next_thought", json!("I need the weather in Paris first.")),
            ("next_tool_name", json!("get_weather")),
            ("next_tool_args", json!({"city": "Paris"})),
        ]),
        Reply::fields([
            ("next_thought", json!("Now the sum.")),
            ("next_tool_name", json!("add_numbers")),
            ("next_tool_args", json!({"a": 2, "b": 3})),
        ]),
        Reply::fields([
            ("next_thought", json!("I have both facts.")),
            ("next_tool_name", json!("finish")),
            ("next_tool_args", json!({})),
        ]),
        Reply::fields([
            ("reasoning", json!("The weather tool said sunny, 21°C; 2 + 3 = 5.")),
            ("answer", json!("Sunny and 21°C in Paris; 2 + 3 = 5.")),
        ]),
    ])
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let question = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let question = if question.trim().is_empty() {
        "What's the weather in Paris, and what is 2 + 3?".to_string()
    } else {
        question
    };
    let (lm, offline): (SharedLm, bool) = match std::env::var("KESTREL_LM") {
        Ok(model) => (kestrel::lm::lm(&model)?, false),
        Err(_) => (offline_lm().into(), true),
    };
    if offline {
        println!("(offline: a scripted LM plays the model; set KESTREL_LM to use a real one)\n");
    }
    let agent = ReAct::<Ask>::new(tools())?.max_iters(6);
    let out = with_lm(lm, agent.call(AskInput { question: question.clone() })).await?;
    println!("Question: {question}\n");
    for step in out.trajectory.steps() {
        println!("thought:     {}", step.thought);
        println!("tool:        {}({})", step.tool_name, step.tool_args);
        println!("observation: {}\n", step.observation);
    }
    println!("Reasoning: {}", out.reasoning);
    println!("Answer:    {}", out.answer);
    Ok(())
}
