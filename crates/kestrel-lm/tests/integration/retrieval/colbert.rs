//! The ColBERTv2 client against the mock server's `/colbert` route: GET and
//! POST requests as DSPy sends them, `topk` read into passages, and every
//! failure a typed error.

use std::time::Duration;

use kestrel_lm::retrieve::ColBertV2;
use kestrel_lm::{LmError, Retriever};
use kestrel_testkit::ScriptedLm;
use kestrel_testkit::mock::{Fault, MockServer, Route};

const CORPUS: [&str; 4] = [
    "Paris is the capital of France.",
    "Berlin is the capital of Germany.",
    "France borders Germany and Spain.",
    "Tokyo is large.",
];

async fn server() -> MockServer {
    MockServer::builder(ScriptedLm::sequence(Vec::<String>::new())).colbert_corpus(CORPUS).start().await.unwrap()
}

#[tokio::test]
async fn get_requests_carry_query_and_k_and_read_topk() {
    let server = server().await;
    let colbert = ColBertV2::new(server.url("/colbert"));
    let passages = colbert.retrieve("capital of France?", 2).await.unwrap();
    // Shared words: passage 0 has capital, of, france (3); 1 has capital, of (2); 2 has france (1).
    assert_eq!(passages.iter().map(|p| p.pid).collect::<Vec<_>>(), [Some(0), Some(1)]);
    assert_eq!(passages[0].text, CORPUS[0]);
    assert_eq!(passages[0].score, 3.0);
    assert_eq!(passages[0].extra["rank"], 1);
    assert!(passages[0].extra.contains_key("prob"));
    let request = &server.requests_to(Route::ColbertSearch)[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/colbert");
    // DSPy's GET limit.
    let err = colbert.retrieve("x", 101).await.unwrap_err();
    assert!(matches!(&err, LmError::Retrieval { message, .. } if message.contains("k <= 100")), "{err}");
    assert_eq!(server.request_count(), 1, "nothing sent for a refused k");
}

#[tokio::test]
async fn post_requests_send_a_json_body() {
    let server = server().await;
    let colbert = ColBertV2::new(server.url("/colbert")).post_requests(true);
    let passages = colbert.retrieve("Germany", 150).await.unwrap();
    assert_eq!(passages.iter().map(|p| p.pid).collect::<Vec<_>>(), [Some(1), Some(2)]);
    let request = &server.requests_to(Route::ColbertSearchPost)[0];
    assert_eq!(request.body.as_ref().unwrap(), &serde_json::json!({"query": "Germany", "k": 150}));
}

#[tokio::test]
async fn port_is_appended_as_dspy_does() {
    let server = server().await;
    let base = format!("http://{}", server.addr().ip());
    let colbert = ColBertV2::new(base).port(server.addr().port());
    // The mock serves `/colbert`, so the bare host is a 404: a typed BadRequest.
    let err = colbert.retrieve("Paris", 1).await.unwrap_err();
    assert!(matches!(err, LmError::BadRequest { status: 404, .. }), "{err}");
}

#[tokio::test]
async fn http_errors_and_bad_bodies_are_typed() {
    let server = server().await;
    let colbert = ColBertV2::new(server.url("/colbert")).timeout(Duration::from_secs(5));

    server.push_fault(Fault::status(503).retry_after_secs(2));
    let err = colbert.retrieve("Paris", 1).await.unwrap_err();
    assert!(matches!(err, LmError::Server { status: 503, retry_after: Some(_), .. }), "{err}");
    assert!(err.is_retryable());

    server.push_fault(Fault::status(401));
    assert!(matches!(colbert.retrieve("Paris", 1).await, Err(LmError::Auth { .. })));

    server.push_fault(Fault::MalformedBody);
    let err = colbert.retrieve("Paris", 1).await.unwrap_err();
    assert!(matches!(&err, LmError::BadResponse { message, .. } if message.contains("invalid JSON")), "{err}");

    server.push_fault(Fault::MissingFields);
    let err = colbert.retrieve("Paris", 1).await.unwrap_err();
    assert!(matches!(&err, LmError::BadResponse { message, .. } if message.contains("no `topk`")), "{err}");

    // The server's own error body (here: an empty query).
    let err = colbert.retrieve("  ", 1).await.unwrap_err();
    assert!(
        matches!(&err, LmError::Retrieval { message, .. } if message.contains("missing or empty `query`")),
        "{err}"
    );

    let err = ColBertV2::new("not a url").retrieve("x", 1).await.unwrap_err();
    assert!(matches!(err, LmError::Config(_)), "{err}");

    // After all that, a normal request still works.
    assert_eq!(colbert.retrieve("Tokyo", 3).await.unwrap()[0].pid, Some(3));
}

#[tokio::test]
async fn a_closed_port_is_a_connection_error() {
    let server = server().await;
    let url = server.url("/colbert");
    server.shutdown().await;
    let err = ColBertV2::new(url).retrieve("x", 1).await.unwrap_err();
    assert!(matches!(err, LmError::Connection { .. }), "{err}");
}
