//! The client's layers on a streamed call: a cache hit replayed as a few
//! chunks, no retry once text was sent (a retry before any text is fine),
//! usage and history as for a plain call.

use kestrel_core::Message;
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::stream::CACHE_REPLAY_PIECES;
use kestrel_lm::{Lm, LmBuilder, LmError, LmRequest};
use kestrel_testkit::mock::{Fault, MockServer, Responder, StreamChunking};

use super::{drain, roomy_sink};
use crate::http::{fast_retries, openai};

const REPLY: &str = "[[ ## answer ## ]]\nfour\n\n[[ ## completed ## ]]";

async fn server() -> MockServer {
    MockServer::builder(Responder::from_fn(|_: &LmRequest| Ok(REPLY.to_string())))
        .stream_chunking(StreamChunking::chars(3))
        .start()
        .await
        .unwrap()
}

fn ask() -> LmRequest {
    LmRequest::new(vec![Message::user("2 + 2?")])
}

#[tokio::test]
async fn a_cache_hit_replays_as_a_few_chunks() {
    let server = server().await;
    let client = LmBuilder::new(openai(&server, "m")).cache(CacheConfig::memory_only()).build().unwrap();
    let (sink, mut rx) = roomy_sink();
    let first = client.call_streaming(ask(), &sink).await.unwrap();
    assert!(!first.cache_hit);
    assert_eq!(drain(&mut rx).len(), REPLY.chars().count().div_ceil(3));
    let (sink, mut rx) = roomy_sink();
    let second = client.call_streaming(ask(), &sink).await.unwrap();
    assert!(second.cache_hit);
    let replayed = drain(&mut rx);
    assert_eq!(replayed.len(), CACHE_REPLAY_PIECES);
    assert_eq!(replayed.iter().map(|d| d.text.as_str()).collect::<String>(), REPLY);
    assert_eq!(server.request_count(), 1, "the hit sent nothing");
    // A plain call hits the same entry: streaming does not change the key.
    assert!(client.call(ask()).await.unwrap().cache_hit);
    assert_eq!(client.usage().total.calls, 3);
}

#[tokio::test]
async fn no_retry_once_text_was_sent() {
    let server = server().await;
    let client = LmBuilder::new(openai(&server, "m")).no_cache().retry(fast_retries()).build().unwrap();
    server.push_fault(Fault::StreamCut { after_chunks: 2 });
    let (sink, mut rx) = roomy_sink();
    let result = client.call_streaming(ask(), &sink).await;
    assert!(matches!(result, Err(LmError::Connection { .. })), "{result:?}");
    assert_eq!(server.request_count(), 1, "retried after text was sent");
    assert_eq!(drain(&mut rx).len(), 2);
}

#[tokio::test]
async fn a_failure_before_any_text_is_retried() {
    let server = server().await;
    let client = LmBuilder::new(openai(&server, "m")).no_cache().retry(fast_retries()).build().unwrap();
    server.push_faults([Fault::from(Fault::status(503)), Fault::StreamCut { after_chunks: 0 }]);
    let (sink, mut rx) = roomy_sink();
    let response = client.call_streaming(ask(), &sink).await.unwrap();
    assert_eq!(response.completions[0].text, REPLY);
    assert_eq!(server.request_count(), 3);
    assert_eq!(drain(&mut rx).iter().map(|d| d.text.as_str()).collect::<String>(), REPLY);
    assert_eq!(client.history(1)[0].outcome.as_ref().unwrap().completions[0].text, REPLY);
}
