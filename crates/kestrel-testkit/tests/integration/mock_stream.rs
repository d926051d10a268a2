//! The mock server's streamed answers on the wire (raw bytes over reqwest):
//! OpenAI's `data:` chunks, usage and `[DONE]`; Anthropic's named events;
//! the chunking; a cut mid-stream.

use kestrel_lm::LmRequest;
use kestrel_testkit::mock::{Fault, MockServer, Responder, StreamChunking};
use serde_json::{Value, json};

async fn raw(server: &MockServer, path: &str, body: Value) -> (u16, Option<String>, Result<String, String>) {
    let response = reqwest::Client::new().post(server.url(path)).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    (status, kind, response.text().await.map_err(|e| e.to_string()))
}

async fn server() -> MockServer {
    MockServer::builder(Responder::from_fn(|_: &LmRequest| Ok("Hello there, world".to_string())))
        .stream_chunking(StreamChunking::chars(6))
        .start()
        .await
        .unwrap()
}

fn data_lines(body: &str) -> Vec<&str> {
    body.lines().filter_map(|l| l.strip_prefix("data: ")).collect()
}

#[tokio::test]
async fn openai_chunks_usage_and_done() {
    let server = server().await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi you"}], "stream": true,
        "stream_options": {"include_usage": true}});
    let (status, kind, text) = raw(&server, "/v1/chat/completions", body).await;
    assert_eq!((status, kind.as_deref()), (200, Some("text/event-stream")));
    let text = text.unwrap();
    let lines = data_lines(&text);
    assert_eq!(lines.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = lines[..lines.len() - 1].iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    let content: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0)?["delta"]["content"].as_str())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(content, ["Hello ", "there,", " world"]);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 2);
    assert_eq!(last["usage"]["completion_tokens"], 3);
    assert_eq!((server.streams_started(), server.streams_completed(), server.streams_cancelled()), (1, 1, 0));

    // Without include_usage: no usage chunk.
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true});
    let text = raw(&server, "/v1/chat/completions", body).await.2.unwrap();
    assert!(!text.contains("\"usage\""));
}

#[tokio::test]
async fn anthropic_named_events() {
    let server = server().await;
    let body =
        json!({"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], "stream": true});
    let (status, _, text) = raw(&server, "/v1/messages", body).await;
    assert_eq!(status, 200);
    let text = text.unwrap();
    let events: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(
        events,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let deltas: String = data_lines(&text)
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(deltas, "Hello there, world");
}

#[tokio::test]
async fn a_cut_stream_breaks_off_after_its_chunks() {
    let server = server().await;
    server.push_fault(Fault::StreamCut { after_chunks: 1 });
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true});
    let mut response =
        reqwest::Client::new().post(server.url("/v1/chat/completions")).json(&body).send().await.unwrap();
    let mut got = String::new();
    let error = loop {
        match response.chunk().await {
            Ok(Some(piece)) => got.push_str(&String::from_utf8_lossy(&piece)),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    assert!(error.is_some(), "the body ended cleanly: {got}");
    assert!(got.contains("\"content\":\"Hello \""));
    assert!(!got.contains("there"));
    assert!(!got.contains("[DONE]"));
    assert_eq!(server.streams_cancelled(), 0, "a cut is the server's doing, not a cancellation");
}
