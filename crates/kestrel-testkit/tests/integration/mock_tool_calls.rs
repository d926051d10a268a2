//! The mock server's tool calls, over raw HTTP: `Responder::replies` and
//! `from_turn_fn` answer in OpenAI's `tool_calls` and Anthropic's
//! `tool_use` shapes, requests' `tools` reach the responder (in OpenAI's
//! shape from both wires), and a script that runs out is a 500.

use kestrel_testkit::mock::{MockReply, MockServer, Responder};
use serde_json::json;

use crate::mock_server::{chat, messages, post};

#[tokio::test]
async fn replies_carry_tool_calls_in_each_providers_shape() {
    let server = MockServer::start(Responder::replies([
        MockReply::call("search", json!({"q": "cats"})).with_text("Let me look."),
        MockReply::call("search", json!({"q": "dogs"})),
        MockReply::text("plain"),
    ]))
    .await
    .unwrap();
    let mut body = chat("find cats");
    body["tools"] = json!([{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]);
    let (status, _, reply) = post(&server, "/v1/chat/completions", body).await;
    assert_eq!(status, 200);
    let choice = &reply["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "Let me look.");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!((call["type"].as_str(), call["function"]["name"].as_str()), (Some("function"), Some("search")));
    assert_eq!(call["function"]["arguments"], r#"{"q":"cats"}"#);
    assert!(call["id"].as_str().unwrap().starts_with("call_mock"));
    assert_eq!(server.requests()[0].lm_request.as_ref().unwrap().tools.len(), 1);

    let mut body = messages("find dogs");
    body["tools"] = json!([{"name": "search", "description": "Search.", "input_schema": {"type": "object"}}]);
    let (status, _, reply) = post(&server, "/v1/messages", body).await;
    assert_eq!(status, 200);
    assert_eq!(reply["stop_reason"], "tool_use");
    assert_eq!(
        reply["content"],
        json!([{"type": "tool_use", "id": reply["content"][0]["id"], "name": "search",
        "input": {"q": "dogs"}}])
    );
    let tools = server.requests()[1].lm_request.clone().unwrap().tools;
    assert_eq!(
        tools[0],
        json!({"type": "function", "function": {"name": "search", "description": "Search.",
        "parameters": {"type": "object"}}})
    );

    let (_, _, reply) = post(&server, "/v1/chat/completions", chat("hi")).await;
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    assert_eq!(reply["choices"][0]["message"]["content"], "plain");
    let (status, _, reply) = post(&server, "/v1/chat/completions", chat("more")).await;
    assert_eq!(status, 500);
    assert!(reply["error"]["message"].as_str().unwrap().contains("3 scripted replies"), "{reply}");
}

#[tokio::test]
async fn turn_closures_see_the_tools_and_bad_tools_are_400s() {
    let server = MockServer::start(Responder::from_turn_fn(|request, _| {
        let name = request.tools.first().and_then(|t| t.pointer("/function/name")).and_then(|n| n.as_str());
        Ok(match name {
            Some(name) => MockReply::call(name, json!({})),
            None => MockReply::text("no tools"),
        })
    }))
    .await
    .unwrap();
    let mut body = chat("x");
    body["tools"] = json!([{"type": "function", "function": {"name": "lookup", "parameters": {}}}]);
    let (_, _, reply) = post(&server, "/v1/chat/completions", body).await;
    assert_eq!(reply["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "lookup");
    let (_, _, reply) = post(&server, "/v1/chat/completions", chat("y")).await;
    assert_eq!(reply["choices"][0]["message"]["content"], "no tools");
    let mut bad = chat("z");
    bad["tools"] = json!([{"type": "function"}]);
    assert_eq!(post(&server, "/v1/chat/completions", bad).await.0, 400);
    let mut bad = messages("z");
    bad["tools"] = json!([{"name": "t"}]);
    assert_eq!(post(&server, "/v1/messages", bad).await.0, 400);
}
