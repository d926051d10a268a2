//! The mock server's routes, responders, recording, latency, concurrency and
//! lifecycle, driven over real HTTP with reqwest and raw TCP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kestrel_testkit::ScriptedLm;
use kestrel_testkit::mock::{MockServer, Responder, Route, embed};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// POST `body` to `path` and return (status, headers, JSON body).
pub(crate) async fn post(server: &MockServer, path: &str, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .header("authorization", "Bearer sk-test")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

/// A chat-completions body asking `question`.
pub(crate) fn chat(question: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}]})
}

/// A Messages API body asking `question`.
pub(crate) fn messages(question: &str) -> Value {
    json!({"model": "claude-x", "max_tokens": 64, "system": "Be brief.", "messages": [{"role": "user", "content": question}]})
}

/// Send raw bytes, read everything until the server closes.
pub(crate) async fn raw_exchange(server: &MockServer, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// A raw HTTP/1.1 POST of `body` that asks the server to close afterwards.
pub(crate) fn raw_post(path: &str, body: &Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST {path} HTTP/1.1\r\nhost: mock\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn chat_completions_answer_from_the_script_and_are_recorded() {
    let server = MockServer::start(ScriptedLm::sequence(["one two", "three"])).await.unwrap();
    let mut body = chat("Count");
    body["n"] = json!(2);
    body["temperature"] = json!(0.5);
    body["max_tokens"] = json!(10);
    body["stop"] = json!(["END"]);
    let (status, _, reply) = post(&server, "/v1/chat/completions", body.clone()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(reply["model"], "gpt-4o-mini");
    assert_eq!(reply["choices"][0]["message"]["content"], "one two");
    assert_eq!(reply["choices"][1]["message"]["content"], "three");
    assert_eq!(reply["choices"][1]["index"], 1);
    assert_eq!(reply["usage"], json!({"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}));

    let recorded = server.requests();
    assert_eq!((recorded.len(), server.request_count()), (1, 1));
    let r = &recorded[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.route),
        ("POST", "/v1/chat/completions", Some(Route::ChatCompletions))
    );
    assert_eq!(r.header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(r.body.as_ref(), Some(&body));
    assert_eq!(r.model.as_deref(), Some("gpt-4o-mini"));
    let lm = r.lm_request.as_ref().unwrap();
    assert_eq!((lm.n, lm.temperature, lm.max_tokens, lm.stop.clone()), (2, Some(0.5), Some(10), vec!["END".into()]));
    assert_eq!(lm.messages[1].content, "Count");
    assert!(r.fault.is_none());

    // The script has run out: a 500 in OpenAI's shape naming the problem.
    let (status, _, reply) = post(&server, "/v1/chat/completions", chat("more")).await;
    assert_eq!(status, 500);
    assert!(reply["error"]["message"].as_str().unwrap().contains("2 replies"), "{reply}");
    assert_eq!(reply["error"]["type"], "server_error");
}

#[tokio::test]
async fn closures_compute_replies_and_their_failures_are_500s() {
    let responder = Responder::from_fn(|request| match request.messages.last().map(|m| m.content.as_str()) {
        Some("boom") => panic!("simulated bug"),
        Some("fail") => Err("no answer for that".to_string()),
        Some(text) => Ok(text.to_uppercase()),
        None => Err("no messages".to_string()),
    });
    let server = MockServer::start(responder).await.unwrap();
    let (_, _, reply) = post(&server, "/v1/chat/completions", chat("shout")).await;
    assert_eq!(reply["choices"][0]["message"]["content"], "SHOUT");
    let (status, _, reply) = post(&server, "/v1/chat/completions", chat("fail")).await;
    assert_eq!(status, 500);
    assert!(reply["error"]["message"].as_str().unwrap().contains("no answer for that"));
    let (status, _, reply) = post(&server, "/v1/chat/completions", chat("boom")).await;
    assert_eq!(status, 500);
    assert!(reply["error"]["message"].as_str().unwrap().contains("panicked: simulated bug"), "{reply}");
    // The server survived.
    let (status, _, _) = post(&server, "/v1/chat/completions", chat("again")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn anthropic_messages_are_served_in_anthropics_shape() {
    let server = MockServer::start(ScriptedLm::keyed([("France", "Paris")])).await.unwrap();
    let (status, _, reply) = post(&server, "/v1/messages", messages("Capital of France?")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["type"], "message");
    assert_eq!(reply["content"], json!([{"type": "text", "text": "Paris"}]));
    assert_eq!(reply["stop_reason"], "end_turn");
    assert_eq!(reply["usage"], json!({"input_tokens": 5, "output_tokens": 1}));
    let lm = server.requests()[0].lm_request.clone().unwrap();
    assert_eq!((lm.messages[0].content.as_str(), lm.max_tokens), ("Be brief.", Some(64)));

    let mut no_max = messages("Capital of France?");
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let (status, _, reply) = post(&server, "/v1/messages", no_max).await;
    assert_eq!(status, 400);
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["error"]["type"], "invalid_request_error");
    assert!(reply["error"]["message"].as_str().unwrap().contains("max_tokens"), "{reply}");
    assert!(server.requests()[1].lm_request.is_none());
}

#[tokio::test]
async fn embeddings_are_deterministic_vectors() {
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    let body = json!({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 8});
    let (status, _, reply) = post(&server, "/v1/embeddings", body).await;
    assert_eq!(status, 200, "{reply}");
    let vector: Vec<f32> = serde_json::from_value(reply["data"][1]["embedding"].clone()).unwrap();
    assert_eq!(vector, embed("b", 8));
    assert_eq!(reply["data"][1]["index"], 1);
    assert_eq!(server.requests()[0].model.as_deref(), Some("text-embedding-3-small"));
    let (status, _, reply) = post(&server, "/v1/embeddings", json!({"model": "m", "input": 3})).await;
    assert_eq!((status, reply["error"]["type"].as_str()), (400, Some("invalid_request_error")));
}

#[tokio::test]
async fn models_unknown_routes_and_bad_bodies() {
    let server = MockServer::builder(ScriptedLm::sequence(["x"])).models(["a", "b"]).start().await.unwrap();
    let http = reqwest::Client::new();
    let models: Value = http.get(server.url("/v1/models")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b"]);

    let missing = http.post(server.url("/v1/completions")).body("{}").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("/v1/completions"), "{body}");
    let wrong_method = http.get(server.url("/v1/messages")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(wrong_method.json::<Value>().await.unwrap()["type"], "error", "Anthropic's shape on its route");

    for (path, shape_key) in [("/v1/chat/completions", "error"), ("/v1/messages", "type")] {
        let response = http.post(server.url(path)).body("{not json").send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(body.get(shape_key).is_some(), "{body}");
    }
    let (status, _, _) = post(&server, "/v1/chat/completions", json!({"model": "m", "messages": []})).await;
    assert_eq!(status, 400);
    let (status, _, _) = post(&server, "/v1/chat/completions", json!([1, 2])).await;
    assert_eq!(status, 400);
    // Garbage that is not HTTP gets hyper's 400 and the server keeps serving.
    let garbage = raw_exchange(&server, b"\x00\x01 not http at all\r\n\r\n").await;
    assert!(garbage.is_empty() || garbage.starts_with(b"HTTP/1.1 400"), "{}", String::from_utf8_lossy(&garbage));
    assert_eq!(post(&server, "/v1/chat/completions", chat("still up")).await.0, 200);
    let recorded = server.requests();
    assert!(recorded.iter().any(|r| r.path == "/v1/completions" && r.route.is_none()));
    assert_eq!(server.request_count(), recorded.len());
}

#[tokio::test]
async fn recording_can_be_off_and_requests_are_still_counted() {
    let reply = Responder::from_fn(|_| Ok("ok".to_string()));
    let server = MockServer::builder(reply).record(false).start().await.unwrap();
    for _ in 0..3 {
        post(&server, "/v1/chat/completions", chat("q")).await;
    }
    assert_eq!((server.request_count(), server.requests().len()), (3, 0));
    server.set_recording(true);
    post(&server, "/v1/chat/completions", chat("q")).await;
    assert_eq!((server.request_count(), server.requests().len()), (4, 1));
    server.clear_requests();
    assert_eq!((server.request_count(), server.requests().len()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_is_simulated_without_blocking_concurrent_requests() {
    let reply = Responder::from_fn(|_| Ok("ok".to_string()));
    let server = Arc::new(MockServer::builder(reply).latency(Duration::from_secs(1)).start().await.unwrap());
    let http = reqwest::Client::new();
    let started = Instant::now();
    let calls = (0..300).map(|i| {
        let http = http.clone();
        let url = server.url("/v1/chat/completions");
        async move { http.post(url).json(&chat(&i.to_string())).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(calls).await;
    let elapsed = started.elapsed();
    assert!(statuses.iter().all(|&s| s == 200));
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "300 concurrent requests with 1 s latency took {elapsed:?}");
    assert_eq!(server.max_in_flight(), 300, "every request was in flight at once");
    assert_eq!(server.in_flight(), 0);

    // Latency can change while the server runs.
    server.set_latency(Duration::from_millis(500));
    server.reset_max_in_flight();
    let started = Instant::now();
    post(&server, "/v1/chat/completions", chat("slower now")).await;
    assert!(started.elapsed() >= Duration::from_millis(500), "{:?}", started.elapsed());
    assert_eq!((server.latency(), server.max_in_flight()), (Duration::from_millis(500), 1));
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let reply = || Responder::from_fn(|_| Ok("ok".to_string()));
    let server = MockServer::start(reply()).await.unwrap();
    let addr = server.addr();
    assert_eq!(server.base_url(), format!("http://{addr}/v1"));
    assert_eq!(server.anthropic_base_url(), format!("http://{addr}"));
    server.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");

    let server = MockServer::start(reply()).await.unwrap();
    let addr = server.addr();
    let http = reqwest::Client::new();
    let url = server.url("/v1/chat/completions");
    assert_eq!(http.post(&url).json(&chat("a")).send().await.unwrap().status(), 200);
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "dropping the handle closes the listener");
    assert!(http.post(&url).json(&chat("b")).send().await.is_err(), "and cuts kept-alive connections");
}
