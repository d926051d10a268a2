//! Every fault the mock server injects, for both providers: the typed
//! error a bare provider returns, what the client's retries make of it,
//! `Retry-After` honoured over HTTP, and exhausted retries keeping the
//! provider's message.

use std::time::{Duration, Instant};

use kestrel_lm::{LmBuilder, LmError, RetryPolicy, SharedLm};
use kestrel_testkit::mock::{Fault, MockServer, Responder};

use super::{TIMEOUT, anthropic, ask, fast_retries, openai};

/// The two providers, each on its own route of the mock server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    OpenAi,
    Anthropic,
}

impl Kind {
    pub(crate) const BOTH: [Kind; 2] = [Kind::OpenAi, Kind::Anthropic];

    /// The bare provider (no retries, no cache) on `server`.
    pub(crate) fn provider(self, server: &MockServer) -> SharedLm {
        match self {
            Kind::OpenAi => SharedLm::new(openai(server, "gpt-4o-mini")),
            Kind::Anthropic => SharedLm::new(anthropic(server, "claude-3-5-haiku-latest")),
        }
    }

    /// The provider behind a client with `retry` and no cache.
    fn client(self, server: &MockServer, retry: RetryPolicy) -> SharedLm {
        SharedLm::new(LmBuilder::new(self.provider(server)).no_cache().retry(retry).build().unwrap())
    }
}

async fn echo_server() -> MockServer {
    let echo = Responder::from_fn(|request| Ok(format!("echo: {}", request.messages.len())));
    MockServer::start(echo).await.unwrap()
}

/// One fault, the error it must become, and whether the client retries it.
struct Case {
    name: &'static str,
    fault: Fault,
    is_expected: fn(&LmError) -> bool,
    retried: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "429 with retry-after-ms",
            fault: Fault::status(429).retry_after_ms(5).into(),
            is_expected: |e| matches!(e, LmError::RateLimited { retry_after: Some(d), .. } if *d == Duration::from_millis(5)),
            retried: true,
        },
        Case {
            name: "429 without Retry-After",
            fault: Fault::status(429).into(),
            is_expected: |e| matches!(e, LmError::RateLimited { retry_after: None, message, .. } if message.contains("Rate limit reached")),
            retried: true,
        },
        Case {
            name: "500",
            fault: Fault::status(500).into(),
            is_expected: |e| matches!(e, LmError::Server { status: 500, .. }),
            retried: true,
        },
        Case {
            name: "503 with Retry-After",
            fault: Fault::status(503).retry_after("0.01").into(),
            is_expected: |e| matches!(e, LmError::Server { status: 503, retry_after: Some(d), .. } if *d == Duration::from_millis(10)),
            retried: true,
        },
        Case {
            name: "529 overloaded",
            fault: Fault::status(529).into(),
            is_expected: |e| matches!(e, LmError::Server { status: 529, .. }),
            retried: true,
        },
        Case {
            name: "401",
            fault: Fault::status(401).into(),
            is_expected: |e| matches!(e, LmError::Auth { message, .. } if message.contains("Incorrect API key provided")),
            retried: false,
        },
        Case {
            name: "403",
            fault: Fault::status(403).into(),
            is_expected: |e| matches!(e, LmError::Auth { .. }),
            retried: false,
        },
        Case {
            name: "400",
            fault: Fault::status(400).message("temperature must be at most 2").into(),
            is_expected: |e| matches!(e, LmError::BadRequest { status: 400, message, .. } if message.contains("temperature must be at most 2")),
            retried: false,
        },
        Case {
            name: "404",
            fault: Fault::status(404).into(),
            is_expected: |e| matches!(e, LmError::BadRequest { status: 404, .. }),
            retried: false,
        },
        Case {
            name: "context window",
            fault: Fault::ContextWindowExceeded,
            is_expected: |e| matches!(e, LmError::ContextWindowExceeded { .. }),
            retried: false,
        },
        Case {
            name: "delay beyond the timeout",
            fault: Fault::Delay(TIMEOUT * 5),
            is_expected: |e| matches!(e, LmError::Timeout { .. }),
            retried: true,
        },
        Case {
            name: "dropped connection",
            fault: Fault::DropConnection,
            is_expected: |e| matches!(e, LmError::Connection { .. }),
            retried: true,
        },
        Case {
            name: "truncated body",
            fault: Fault::TruncatedBody,
            is_expected: |e| matches!(e, LmError::BadResponse { message, .. } if message.contains("reading the body")),
            retried: true,
        },
        Case {
            name: "malformed body",
            fault: Fault::MalformedBody,
            is_expected: |e| matches!(e, LmError::BadResponse { message, .. } if message.contains("invalid JSON")),
            retried: true,
        },
        Case {
            name: "missing fields",
            fault: Fault::MissingFields,
            is_expected: |e| matches!(e, LmError::BadResponse { .. }),
            retried: true,
        },
    ]
}

#[tokio::test]
async fn each_fault_is_its_typed_error() {
    let server = echo_server().await;
    for kind in Kind::BOTH {
        let provider = kind.provider(&server);
        for case in cases() {
            server.clear_requests();
            server.push_fault(case.fault);
            let err = provider.call(ask("q")).await.expect_err(case.name);
            assert!((case.is_expected)(&err), "{kind:?}, {}: got {err:?}", case.name);
            assert_eq!(err.is_retryable(), case.retried, "{kind:?}, {}", case.name);
            assert_eq!(server.request_count(), 1, "{kind:?}, {}: the provider itself never retries", case.name);
        }
        assert_eq!(provider.call(ask("q")).await.unwrap().completions[0].text, "echo: 2");
    }
}

#[tokio::test]
async fn the_client_retries_what_is_transient_and_fails_at_once_on_the_rest() {
    let server = echo_server().await;
    for kind in Kind::BOTH {
        let client = kind.client(&server, fast_retries());
        for case in cases() {
            server.clear_requests();
            server.push_fault(case.fault);
            let outcome = client.call(ask("q")).await;
            if case.retried {
                let response = outcome.unwrap_or_else(|e| panic!("{kind:?}, {}: {e}", case.name));
                assert_eq!(response.completions[0].text, "echo: 2");
                assert_eq!(server.request_count(), 2, "{kind:?}, {}: one failure, one retry", case.name);
            } else {
                let err = outcome.expect_err(case.name);
                assert!((case.is_expected)(&err), "{kind:?}, {}: got {err:?}", case.name);
                assert_eq!(server.request_count(), 1, "{kind:?}, {}: not retried", case.name);
            }
        }
    }
}

#[tokio::test]
async fn retry_after_from_the_server_sets_the_wait() {
    let server = echo_server().await;
    for kind in Kind::BOTH {
        // Backoff alone would wait at most 10 ms.
        let client = kind.client(&server, fast_retries());
        server.push_fault(Fault::status(429).retry_after_ms(300));
        let started = Instant::now();
        client.call(ask("q")).await.unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "{kind:?}: retry-after-ms 300, waited {waited:?}");

        // `Retry-After: 1` (seconds) under a policy that caps it at 150 ms.
        let capped = RetryPolicy { max_retry_after: Duration::from_millis(150), ..fast_retries() };
        let client = kind.client(&server, capped);
        server.push_fault(Fault::status(503).retry_after_secs(1));
        let started = Instant::now();
        client.call(ask("q")).await.unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(150) && waited < Duration::from_millis(900), "{kind:?}: {waited:?}");
    }
}

#[tokio::test]
async fn exhausted_retries_return_the_last_typed_error_with_the_providers_message() {
    let server = echo_server().await;
    for kind in Kind::BOTH {
        let client = kind.client(&server, fast_retries().num_retries(2));
        server.clear_requests();
        server.set_fault_always(Some(Fault::status(503).message("upstream overloaded: shard 7").into()));
        let err = client.call(ask("q")).await.unwrap_err();
        assert!(
            matches!(&err, LmError::Server { status: 503, message, .. } if message.contains("upstream overloaded: shard 7")),
            "{kind:?}: {err:?}"
        );
        assert_eq!(server.request_count(), 3, "{kind:?}: 1 attempt + 2 retries");

        server.clear_requests();
        server.set_fault_always(Some(Fault::status(429).message("tokens per minute exceeded").into()));
        let err = client.call(ask("q")).await.unwrap_err();
        assert!(
            matches!(&err, LmError::RateLimited { message, .. } if message.contains("tokens per minute exceeded")),
            "{kind:?}: {err:?}"
        );
        assert!(err.to_string().contains("tokens per minute exceeded"), "{err}");
        assert_eq!(server.request_count(), 3);
        server.clear_faults();
    }
}

#[tokio::test]
async fn an_exhausted_quota_is_not_retried() {
    let server = echo_server().await;
    let client = Kind::OpenAi.client(&server, fast_retries());
    server.push_fault(Fault::status(429).code("insufficient_quota").message("You exceeded your current quota"));
    let err = client.call(ask("q")).await.unwrap_err();
    assert!(matches!(&err, LmError::Provider { message, .. } if message.contains("current quota")), "{err:?}");
    assert_eq!(server.request_count(), 1);
}
