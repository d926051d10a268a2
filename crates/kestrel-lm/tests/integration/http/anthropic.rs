//! The Anthropic provider over HTTP: system prompt split out, `max_tokens`
//! always sent, `x-api-key` / `anthropic-version` headers, usage mapped,
//! `n > 1` as several requests.

use kestrel_core::{Message, Usage};
use kestrel_lm::providers::DEFAULT_ANTHROPIC_MAX_TOKENS;
use kestrel_lm::{FinishReason, Lm, LmRequest};
use kestrel_testkit::ScriptedLm;
use kestrel_testkit::mock::{MockServer, Responder, Route};
use serde_json::json;

use super::{KEY, anthropic, ask, uncached};

#[tokio::test]
async fn a_call_sends_the_messages_api_body_and_headers() {
    let server = MockServer::start(ScriptedLm::keyed([("France", "Paris")])).await.unwrap();
    let client = uncached(anthropic(&server, "claude-3-5-haiku-latest"));
    let mut request = LmRequest::new(vec![
        Message::system("Be brief."),
        Message::user("Capital of France?"),
        Message::assistant("Hmm."),
        Message::user("Answer: capital of France?"),
    ]);
    request.temperature = Some(0.3);
    request.stop = vec!["END".into()];
    request.response_format = Some(json!({"type": "json_object"}));
    let response = client.call(request).await.unwrap();

    let recorded = server.requests_to(Route::Messages);
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].body,
        Some(json!({
            "model": "claude-3-5-haiku-latest",
            "max_tokens": DEFAULT_ANTHROPIC_MAX_TOKENS,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "Hmm."},
                {"role": "user", "content": "Answer: capital of France?"},
            ],
            "temperature": 0.3,
            "stop_sequences": ["END"],
        })),
        "system split out, max_tokens defaulted, no response_format"
    );
    assert_eq!(recorded[0].header("x-api-key"), Some(KEY));
    assert_eq!(recorded[0].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(recorded[0].header("authorization"), None);

    assert_eq!(response.completions[0].text, "Paris");
    assert_eq!(response.completions[0].finish_reason, Some(FinishReason::Stop));
    // Words: "Be brief." + 3 + 1 + 4 in, "Paris" out.
    assert_eq!(response.usage, Usage { prompt_tokens: 10, completion_tokens: 1 });
    assert_eq!(response.model, "claude-3-5-haiku-latest");
}

#[tokio::test]
async fn the_requests_max_tokens_wins_over_the_default() {
    let server = MockServer::start(Responder::from_fn(|_| Ok("ok".into()))).await.unwrap();
    let mut request = ask("hi");
    request.max_tokens = Some(32);
    anthropic(&server, "claude-x").call(request).await.unwrap();
    anthropic(&server, "claude-x").default_max_tokens(100).call(ask("hi")).await.unwrap();
    let sent: Vec<u64> =
        server.requests().iter().map(|r| r.body.as_ref().unwrap()["max_tokens"].as_u64().unwrap()).collect();
    assert_eq!(sent, [32, 100]);
}

#[tokio::test]
async fn n_completions_are_n_requests_with_usage_summed() {
    let server = MockServer::start(ScriptedLm::sequence(["one", "two words", "three more words"])).await.unwrap();
    let mut request = ask("Say something");
    request.n = 3;
    request.temperature = Some(0.7);
    let response = uncached(anthropic(&server, "claude-x")).call(request).await.unwrap();
    assert_eq!(server.request_count(), 3);
    let mut texts: Vec<&str> = response.completions.iter().map(|c| c.text.as_str()).collect();
    texts.sort_unstable();
    assert_eq!(texts, ["one", "three more words", "two words"], "the n requests run concurrently");
    assert_eq!(response.usage, Usage { prompt_tokens: 3 * 4, completion_tokens: 6 });
    for recorded in server.requests() {
        assert!(recorded.body.unwrap().get("n").is_none(), "the API has no n");
    }
}
