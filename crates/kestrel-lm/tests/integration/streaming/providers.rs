//! The providers' streamed calls over real HTTP against the mock server.

use std::time::Duration;

use kestrel_core::Message;
use kestrel_lm::stream::DeltaSink;
use kestrel_lm::{FinishReason, Lm, LmError, LmRequest};
use kestrel_testkit::ScriptedLm;
use kestrel_testkit::mock::{Fault, MockServer, Responder, Route, StreamChunking};

use super::{drain, roomy_sink};
use crate::http::{anthropic, openai};

const REPLY: &str = "[[ ## answer ## ]]\nParis is the capital.\n\n[[ ## completed ## ]]";

fn ask() -> LmRequest {
    LmRequest::new(vec![Message::user("Capital of France?")])
}

async fn server(chunking: StreamChunking) -> MockServer {
    MockServer::builder(Responder::from_fn(|_: &LmRequest| Ok(REPLY.to_string())))
        .stream_chunking(chunking)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn openai_streams_deltas_usage_and_the_whole_text() {
    let server = server(StreamChunking::chars(5)).await;
    let (sink, mut rx) = roomy_sink();
    let response = openai(&server, "gpt-4o-mini").call_streaming(ask(), &sink).await.unwrap();
    let deltas = drain(&mut rx);
    assert_eq!(response.completions[0].text, REPLY);
    assert_eq!(response.completions[0].finish_reason, Some(FinishReason::Stop));
    // 5-character pieces, in order, all of completion 0.
    assert_eq!(deltas.len(), REPLY.chars().count().div_ceil(5));
    assert!(deltas.iter().all(|d| d.choice == 0 && d.text.chars().count() <= 5));
    assert_eq!(deltas.iter().map(|d| d.text.as_str()).collect::<String>(), REPLY);
    assert!(response.usage.prompt_tokens > 0 && response.usage.completion_tokens > 0);
    let body = server.requests()[0].body.clone().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(server.streams_completed(), 1);
}

#[tokio::test]
async fn openai_streams_n_choices_interleaved() {
    let server = MockServer::builder(Responder::from_choice_fn(|_: &LmRequest, i: u32| {
        Ok(format!("choice number {i} says hello"))
    }))
    .stream_chunking(StreamChunking::chars(3))
    .start()
    .await
    .unwrap();
    let (sink, mut rx) = roomy_sink();
    let mut request = ask();
    request.n = 3;
    let response = openai(&server, "gpt-4o-mini").call_streaming(request, &sink).await.unwrap();
    let deltas = drain(&mut rx);
    for i in 0..3u32 {
        let text: String = deltas.iter().filter(|d| d.choice == i).map(|d| d.text.as_str()).collect();
        assert_eq!(text, format!("choice number {i} says hello"));
        assert_eq!(response.completions[i as usize].text, text);
    }
    // Interleaved: the second delta already belongs to choice 1.
    assert_eq!(deltas[1].choice, 1);
}

#[tokio::test]
async fn anthropic_streams_text_deltas_and_usage() {
    let server = server(StreamChunking::chars(7)).await;
    let (sink, mut rx) = roomy_sink();
    let response = anthropic(&server, "claude-3-5-haiku-latest").call_streaming(ask(), &sink).await.unwrap();
    let deltas = drain(&mut rx);
    assert_eq!(response.completions[0].text, REPLY);
    assert_eq!(response.completions[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(deltas.len(), REPLY.chars().count().div_ceil(7));
    assert_eq!(deltas.iter().map(|d| d.text.as_str()).collect::<String>(), REPLY);
    assert!(response.usage.prompt_tokens > 0 && response.usage.completion_tokens > 0);
    assert_eq!(server.requests_to(Route::Messages)[0].body.as_ref().unwrap()["stream"], true);

    // n = 2: two streamed requests, each its own choice.
    let mut request = ask();
    request.n = 2;
    let (sink, mut rx) = roomy_sink();
    let response = anthropic(&server, "claude-3-5-haiku-latest").call_streaming(request, &sink).await.unwrap();
    assert_eq!(response.completions.len(), 2);
    let deltas = drain(&mut rx);
    let of = |c: u32| deltas.iter().filter(|d| d.choice == c).map(|d| d.text.as_str()).collect::<String>();
    assert_eq!((of(0), of(1)), (REPLY.to_string(), REPLY.to_string()));
}

#[tokio::test]
async fn a_cut_mid_stream_is_a_connection_error_after_the_text_sent() {
    let server = server(StreamChunking::chars(4)).await;
    for route in [Route::ChatCompletions, Route::Messages] {
        server.push_fault(Fault::StreamCut { after_chunks: 3 });
        let (sink, mut rx) = roomy_sink();
        let result = match route {
            Route::ChatCompletions => openai(&server, "m").call_streaming(ask(), &sink).await,
            _ => anthropic(&server, "m").call_streaming(ask(), &sink).await,
        };
        assert!(matches!(&result, Err(LmError::Connection { .. })), "{route:?}: {result:?}");
        assert!(result.unwrap_err().is_retryable());
        let deltas = drain(&mut rx);
        assert_eq!(deltas.iter().map(|d| d.text.as_str()).collect::<String>(), &REPLY[..12], "{route:?}");
    }
}

#[tokio::test]
async fn sse_parse_errors_are_bad_responses() {
    let server = server(StreamChunking::chars(4)).await;
    for fault in [Fault::StreamMalformed { after_chunks: 2 }, Fault::MalformedBody, Fault::MissingFields] {
        server.push_fault(fault.clone());
        let (sink, _rx) = roomy_sink();
        let result = openai(&server, "m").call_streaming(ask(), &sink).await;
        assert!(matches!(result, Err(LmError::BadResponse { .. })), "openai {fault:?}: {result:?}");
        server.push_fault(fault.clone());
        let result = anthropic(&server, "m").call_streaming(ask(), &sink).await;
        // Anthropic's broken event is bad JSON; its event without fields leaves the message unfinished.
        assert!(
            matches!(result, Err(LmError::BadResponse { .. } | LmError::Connection { .. })),
            "anthropic {fault:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn error_statuses_before_the_stream_keep_their_types() {
    let server = server(StreamChunking::chars(4)).await;
    server.push_fault(Fault::status(429).retry_after_ms(5));
    let (sink, _rx) = roomy_sink();
    let result = openai(&server, "m").call_streaming(ask(), &sink).await;
    assert!(matches!(result, Err(LmError::RateLimited { retry_after: Some(_), .. })), "{result:?}");
    server.push_fault(Fault::ContextWindowExceeded);
    let result = anthropic(&server, "m").call_streaming(ask(), &sink).await;
    assert!(matches!(result, Err(LmError::ContextWindowExceeded { .. })), "{result:?}");
    server.push_fault(Fault::DropConnection);
    let result = openai(&server, "m").call_streaming(ask(), &sink).await;
    assert!(matches!(result, Err(LmError::Connection { .. })), "{result:?}");
    assert_eq!(sink.sent(), 0);
}

#[tokio::test]
async fn dropping_the_call_closes_the_connection() {
    let long = "word ".repeat(400);
    let server = MockServer::builder(Responder::from_fn(move |_: &LmRequest| Ok(long.clone())))
        .stream_chunking(StreamChunking::chars(5).delay(Duration::from_millis(5)))
        .start()
        .await
        .unwrap();
    for route in [Route::ChatCompletions, Route::Messages] {
        let (sink, mut rx) = roomy_sink();
        let provider_call = async {
            match route {
                Route::ChatCompletions => {
                    openai(&server, "m").timeout(Duration::from_secs(30)).call_streaming(ask(), &sink).await
                }
                _ => anthropic(&server, "m").timeout(Duration::from_secs(30)).call_streaming(ask(), &sink).await,
            }
        };
        // Read until a few deltas arrived, then drop the call.
        tokio::select! {
            _ = provider_call => panic!("the 2,000-character reply finished too early"),
            () = async { for _ in 0..3 { rx.recv().await; } } => {}
        }
        let cancelled_before = server.streams_cancelled();
        let mut waited = Duration::ZERO;
        while server.streams_cancelled() == cancelled_before && waited < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += Duration::from_millis(10);
        }
        assert_eq!(server.streams_cancelled(), cancelled_before + 1, "{route:?}: the server kept streaming");
    }
    assert_eq!(server.streams_completed(), 0);
}

#[tokio::test]
async fn a_full_channel_makes_the_provider_wait() {
    let server = server(StreamChunking::chars(1)).await;
    let (sink, mut rx) = DeltaSink::channel(2);
    let provider = openai(&server, "m").timeout(Duration::from_secs(30));
    let call = provider.call_streaming(ask(), &sink);
    tokio::pin!(call);
    // Nobody reads: the call cannot finish, at most 2 deltas wait.
    let early = tokio::time::timeout(Duration::from_millis(150), &mut call).await;
    assert!(early.is_err(), "the call finished without anyone reading");
    assert_eq!(sink.sent(), 3, "two queued, one waiting for room");
    // Reading lets it finish.
    let reader = async {
        let mut text = String::new();
        while let Some(kestrel_lm::StreamEvent::Token(d)) = rx.recv().await {
            text.push_str(&d.text);
            if text.len() == REPLY.len() {
                break;
            }
        }
        text
    };
    let (response, text) = tokio::join!(call, reader);
    assert_eq!(response.unwrap().completions[0].text, REPLY);
    assert_eq!(text, REPLY);
}

#[tokio::test]
async fn providers_that_cannot_stream_send_one_chunk() {
    let lm = ScriptedLm::sequence(["whole reply"]);
    assert!(!lm.capabilities().streaming);
    let (sink, mut rx) = roomy_sink();
    let response = lm.call_streaming(ask(), &sink).await.unwrap();
    assert_eq!(response.completions[0].text, "whole reply");
    let deltas = drain(&mut rx);
    assert_eq!(deltas.len(), 1);
    assert_eq!(deltas[0].text, "whole reply");
}
