//! The mock server's faults, seen from the wire: error statuses and their
//! headers, queue order and routing, delays, dropped connections, truncated,
//! malformed and incomplete bodies.

use std::time::{Duration, Instant};

use kestrel_testkit::ScriptedLm;
use kestrel_testkit::mock::{Fault, MockServer, Responder, Route};
use serde_json::Value;

use crate::mock_server::{chat, messages, post, raw_exchange, raw_post};

fn echo() -> Responder {
    Responder::from_fn(|request| Ok(request.messages.last().map(|m| m.content.clone()).unwrap_or_default()))
}

fn is_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes).is_ok()
}

#[tokio::test]
async fn status_faults_send_the_provider_shape_and_retry_headers() {
    let server = MockServer::start(echo()).await.unwrap();
    server.push_fault(Fault::status(429).retry_after_secs(2).retry_after_ms(150));
    server.push_fault(Fault::status(429).code("insufficient_quota").message("You exceeded your current quota"));
    server.push_fault(Fault::status(503));
    let (status, headers, body) = post(&server, "/v1/chat/completions", chat("q")).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(headers["retry-after-ms"], "150");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("Rate limit reached"), "{body}");
    let (status, headers, body) = post(&server, "/v1/chat/completions", chat("q")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("insufficient_quota")));
    assert_eq!(body["error"]["message"], "You exceeded your current quota");
    assert!(headers.get("retry-after").is_none());
    let (status, _, body) = post(&server, "/v1/messages", messages("q")).await;
    assert_eq!(status, 503);
    assert_eq!((body["type"].as_str(), body["error"]["type"].as_str()), (Some("error"), Some("api_error")));
    // The queue is spent: normal answers again, and each fault was recorded.
    let (status, _, body) = post(&server, "/v1/chat/completions", chat("fine")).await;
    assert_eq!((status, body["choices"][0]["message"]["content"].as_str()), (200, Some("fine")));
    let faults: Vec<Option<Fault>> = server.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(faults[2], Some(Fault::status(503).into()));
    assert_eq!(faults[3], None);
    assert_eq!(server.pending_faults(), 0);
}

#[tokio::test]
async fn faults_can_name_a_route_or_apply_always() {
    let server = MockServer::start(echo()).await.unwrap();
    server.push_fault_for(Route::Messages, Fault::status(529));
    assert_eq!(post(&server, "/v1/chat/completions", chat("q")).await.0, 200, "another route is untouched");
    let (status, _, body) = post(&server, "/v1/messages", messages("q")).await;
    assert_eq!((status, body["error"]["type"].as_str()), (529, Some("overloaded_error")));

    server.set_fault_always(Some(Fault::status(500).into()));
    server.push_fault(Fault::status(401));
    assert_eq!(post(&server, "/v1/chat/completions", chat("q")).await.0, 401, "queued faults come first");
    assert_eq!(post(&server, "/v1/chat/completions", chat("q")).await.0, 500);
    assert_eq!(post(&server, "/v1/embeddings", serde_json::json!({"model": "m", "input": "x"})).await.0, 500);
    server.clear_faults();
    assert_eq!(post(&server, "/v1/chat/completions", chat("q")).await.0, 200);
}

#[tokio::test]
async fn the_context_window_fault_uses_each_providers_wording() {
    let server = MockServer::start(echo()).await.unwrap();
    server.push_faults([Fault::ContextWindowExceeded, Fault::ContextWindowExceeded]);
    let (status, _, body) = post(&server, "/v1/chat/completions", chat("q")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("context_length_exceeded")));
    assert!(body["error"]["message"].as_str().unwrap().contains("maximum context length"));
    let (status, _, body) = post(&server, "/v1/messages", messages("q")).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("prompt is too long"), "{body}");
}

#[tokio::test]
async fn a_delay_holds_the_answer_past_a_client_timeout() {
    let server = MockServer::start(echo()).await.unwrap();
    server.push_fault(Fault::Delay(Duration::from_millis(250)));
    let started = Instant::now();
    let (status, _, body) = post(&server, "/v1/chat/completions", chat("late")).await;
    assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
    assert_eq!((status, body["choices"][0]["message"]["content"].as_str()), (200, Some("late")));

    server.push_fault(Fault::Delay(Duration::from_secs(5)));
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(100)).build().unwrap();
    let err = impatient.post(server.url("/v1/chat/completions")).json(&chat("q")).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(server.in_flight(), 1, "the delayed request is still being held");
}

#[tokio::test]
async fn a_dropped_connection_gets_no_response_at_all() {
    let server = MockServer::start(echo()).await.unwrap();
    server.push_fault(Fault::DropConnection);
    let bytes = raw_exchange(&server, &raw_post("/v1/chat/completions", &chat("q"))).await;
    assert!(bytes.is_empty(), "{}", String::from_utf8_lossy(&bytes));

    server.push_fault(Fault::DropConnection);
    let err = reqwest::Client::new().post(server.url("/v1/messages")).json(&messages("q")).send().await.unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err}");
    assert_eq!(post(&server, "/v1/messages", messages("next")).await.0, 200);
    assert_eq!(server.request_count(), 3, "the dropped requests were read and counted");
}

#[tokio::test]
async fn a_truncated_body_promises_more_than_it_sends() {
    let server = MockServer::start(echo()).await.unwrap();
    server.push_fault(Fault::TruncatedBody);
    let bytes = raw_exchange(&server, &raw_post("/v1/chat/completions", &chat("a reply long enough"))).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head was sent");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap()))
        .expect("a content-length");
    assert!(!body.is_empty() && body.len() < length, "sent {} of {length} bytes", body.len());
    assert!(!is_json(body.as_bytes()));

    server.push_fault(Fault::TruncatedBody);
    let response = reqwest::Client::new().post(server.url("/v1/messages")).json(&messages("q")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err(), "reading the body fails");
}

#[tokio::test]
async fn malformed_and_incomplete_bodies_come_with_200() {
    let server = MockServer::start(ScriptedLm::sequence(["only reply"])).await.unwrap();
    server.push_faults([Fault::MalformedBody, Fault::MissingFields, Fault::MissingFields, Fault::MissingFields]);
    let http = reqwest::Client::new();
    let response = http.post(server.url("/v1/chat/completions")).json(&chat("q")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(!is_json(&response.bytes().await.unwrap()));
    let (status, _, body) = post(&server, "/v1/chat/completions", chat("q")).await;
    assert_eq!(status, 200);
    assert!(body.get("choices").is_none() && body["object"] == "chat.completion", "{body}");
    let (_, _, body) = post(&server, "/v1/messages", messages("q")).await;
    assert!(body.get("content").is_none() && body["type"] == "message", "{body}");
    let (_, _, body) = post(&server, "/v1/embeddings", serde_json::json!({"model": "m", "input": "x"})).await;
    assert!(body.get("data").is_none(), "{body}");
    // None of these faults used the one-reply script.
    let (_, _, body) = post(&server, "/v1/chat/completions", chat("q")).await;
    assert_eq!(body["choices"][0]["message"]["content"], "only reply");
}
