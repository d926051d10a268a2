//! Streaming a program call: field chunks as the model writes them, status
//! messages from a ReAct agent, the prediction last, and a stream dropped
//! half-way (the HTTP request stops).
//!
//! Offline: the testkit's OpenAI-compatible mock server runs in-process and
//! streams its replies as server-sent events, 4 characters every 15 ms, so
//! the run shows real streaming over HTTP with no key and no network.
//!
//! ```sh
//! cargo run --example streaming
//! ```

use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use kestrel::lm::providers::OpenAiProvider;
use kestrel::lm::{LmBuilder, LmRequest, StreamEvent};
use kestrel::modules::{ReAct, StreamListener, StreamOptions, Tool, streamify};
use kestrel::prelude::*;
use kestrel_testkit::mock::{MockServer, Responder, StreamChunking};
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::json;

/// What the mock model answers a ChainOfThought on `question -> answer`.
const REPLY: &str = "[[ ## reasoning ## ]]\nThe Seine flows through Paris, which has been France's capital since \
                     the 10th century.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]";

#[derive(serde::Deserialize, JsonSchema)]
struct CityArgs {
    /// The city's name.
    city: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let server = MockServer::builder(Responder::from_fn(|_: &LmRequest| Ok(REPLY.to_string())))
        .stream_chunking(StreamChunking::chars(4).delay(Duration::from_millis(15)))
        .start()
        .await?;
    let provider = OpenAiProvider::new("mock-model").base_url(server.base_url());
    let lm: SharedLm = LmBuilder::new(provider).no_cache().build()?.into();
    println!("(offline: the mock server streams on {})\n", server.base_url());

    // 1. Two output fields of a ChainOfThought, chunk by chunk.
    let program = ChainOfThought::<kestrel::core::Dynamic>::from_signature("question -> answer")?;
    let options =
        StreamOptions::new().listener(StreamListener::new("reasoning")).listener(StreamListener::new("answer"));
    let question = Example::from_pairs([("question", "What is the capital of France?")]);
    let mut chunks = 0;
    with_lm(lm.clone(), async {
        let mut stream = streamify(&program, &question, options)?;
        let mut field = String::new();
        while let Some(event) = stream.next().await {
            match event? {
                StreamEvent::Field(chunk) => {
                    if chunk.field != field {
                        print!("\n{}: ", chunk.field);
                        field = chunk.field.clone();
                    }
                    print!("{}", chunk.chunk);
                    std::io::stdout().flush()?;
                    chunks += 1;
                }
                StreamEvent::Prediction(p) => {
                    println!("\n\nprediction: answer = {}", p.get_str("answer").unwrap_or("?"))
                }
                _ => {}
            }
        }
        anyhow::Ok(())
    })
    .await?;
    anyhow::ensure!(chunks > 10, "expected the fields in many chunks, got {chunks}");

    // 2. A ReAct agent's status messages (a scripted model: it cannot
    //    stream, so each LM call is one token event).
    let weather = Tool::new("get_weather", "Get the weather for a city.", |args: CityArgs| async move {
        Ok::<_, String>(format!("Sunny in {}.", args.city))
    });
    let agent = ReAct::from_signature("question -> answer", [weather])?;
    let script = ScriptedLm::sequence([
        Reply::fields([
            ("next_thought", json!("Check the weather.")),
            ("next_tool_name", json!("get_weather")),
            ("next_tool_args", json!({"city": "Paris"})),
        ]),
        Reply::fields([
            ("next_thought", json!("Done.")),
            ("next_tool_name", json!("finish")),
            ("next_tool_args", json!({})),
        ]),
        Reply::fields([("reasoning", json!("The tool said so.")), ("answer", json!("Sunny"))]),
    ]);
    let question = Example::from_pairs([("question", "Weather in Paris?")]);
    let mut statuses = 0;
    with_lm(script, async {
        let mut stream = streamify(&agent, &question, StreamOptions::new())?;
        while let Some(event) = stream.next().await {
            match event? {
                StreamEvent::Status(message) => {
                    println!("status: {message}");
                    statuses += 1;
                }
                StreamEvent::Prediction(p) => println!("agent answer: {}", p.get_str("answer").unwrap_or("?")),
                _ => {}
            }
        }
        anyhow::Ok(())
    })
    .await?;
    anyhow::ensure!(statuses == 2, "expected two status messages, got {statuses}");

    // 3. Drop a stream after three token events: the request stops.
    let program = Predict::from_signature("question -> answer")?;
    let question = Example::from_pairs([("question", "Anything?")]);
    with_lm(lm, async {
        let mut stream = streamify(&program, &question, StreamOptions::new())?;
        for _ in 0..3 {
            stream.next().await;
        }
        anyhow::Ok(())
    })
    .await?;
    for _ in 0..200 {
        if server.streams_cancelled() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "\ndropped stream: the server saw {} stream(s) cancelled, {} completed",
        server.streams_cancelled(),
        server.streams_completed()
    );
    anyhow::ensure!(server.streams_cancelled() == 1, "the dropped stream was not cancelled on the server");
    Ok(())
}
