//! Concurrency seen from the server: identical concurrent calls are sent
//! once (single flight), and the client's in-flight limit holds on the
//! wire.

use std::time::Duration;

use kestrel_lm::{Lm, LmBuilder, RateLimits};
use kestrel_testkit::mock::{MockServer, Responder};

use super::ask;
use super::cache::cached;
use super::faults::Kind;

async fn slow_echo(latency: Duration) -> MockServer {
    let echo = Responder::from_fn(|request| Ok(format!("echo: {}", request.messages[1].content)));
    MockServer::builder(echo).latency(latency).start().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_calls_reach_the_server_once() {
    let server = slow_echo(Duration::from_millis(150)).await;
    for kind in Kind::BOTH {
        let dir = tempfile::tempdir().unwrap();
        let client = cached(kind.provider(&server), dir.path());
        server.clear_requests();
        let calls: Vec<_> = (0..16)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.call(ask("same question")).await })
            })
            .collect();
        let mut responses = Vec::new();
        for call in calls {
            responses.push(call.await.unwrap().unwrap());
        }
        assert_eq!(server.request_count(), 1, "{kind:?}: 16 identical calls, one request");
        assert!(responses.iter().all(|r| r.completions == responses[0].completions), "{kind:?}");
        assert_eq!(responses[0].completions[0].text, "echo: same question");
        assert_eq!(responses.iter().filter(|r| !r.cache_hit).count(), 1, "{kind:?}: only the fetching call paid");
        let stats = client.cache().unwrap().stats();
        assert_eq!((stats.misses, stats.hits()), (1, 15), "{kind:?}: {stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_limit_holds_at_the_server() {
    let server = slow_echo(Duration::from_millis(100)).await;
    for limit in [Some(3), None] {
        let mut limits = RateLimits::default();
        if let Some(n) = limit {
            limits = limits.max_in_flight(n);
        }
        let client = LmBuilder::new(Kind::OpenAi.provider(&server)).no_cache().rate_limits(limits).build().unwrap();
        server.reset_max_in_flight();
        let calls: Vec<_> = (0..12)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move { client.call(ask(&format!("question {i}"))).await })
            })
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        match limit {
            Some(n) => assert_eq!(server.max_in_flight(), n, "never more than the limit, and the limit is reached"),
            None => assert!(server.max_in_flight() > 3, "unlimited: {}", server.max_in_flight()),
        }
    }
}
