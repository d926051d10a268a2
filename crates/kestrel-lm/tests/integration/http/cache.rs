//! The response cache in front of real HTTP providers: a second client on
//! the same directory answers from disk with no request (whatever the base
//! URL or key), a corrupted entry is a logged miss that is fetched and
//! rewritten, and the per-call and per-LM opt-outs reach the server.

use std::fs;
use std::path::Path;

use kestrel_core::Usage;
use kestrel_lm::cache::{CacheConfig, CacheKey};
use kestrel_lm::{CallConfig, Lm, LmBuilder, LmClient, LmRequest, SharedLm};
use kestrel_testkit::mock::{MockServer, Responder};

use super::faults::Kind;
use super::{anthropic, ask, fast_retries, openai};

/// `provider` with the default cache (memory + disk) in `dir`.
pub(super) fn cached(provider: impl Into<SharedLm>, dir: &Path) -> LmClient {
    LmBuilder::new(provider)
        .cache(CacheConfig::default().with_dir(dir.to_path_buf()))
        .retry(fast_retries())
        .build()
        .unwrap()
}

async fn echo_server() -> MockServer {
    let echo = Responder::from_fn(|request| Ok(format!("echo: {}", request.messages[1].content)));
    MockServer::start(echo).await.unwrap()
}

#[tokio::test]
async fn a_second_client_answers_from_disk_without_a_request() {
    let server = echo_server().await;
    // Another server with another key: the cache key names neither.
    let elsewhere =
        MockServer::start(Responder::from_fn(|_| Err("this server must not be asked".into()))).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for kind in Kind::BOTH {
        let first = cached(kind.provider(&server), dir.path()).call(ask("Capital of France?")).await.unwrap();
        assert!(!first.cache_hit);
        assert!(first.usage.prompt_tokens > 0);

        let other_provider = match kind {
            Kind::OpenAi => SharedLm::new(openai(&elsewhere, "gpt-4o-mini").api_key("another-key")),
            Kind::Anthropic => SharedLm::new(anthropic(&elsewhere, "claude-3-5-haiku-latest").api_key("another-key")),
        };
        let second_client = cached(other_provider, dir.path());
        let second = second_client.call(ask("Capital of France?")).await.unwrap();
        assert!(second.cache_hit, "{kind:?}");
        assert_eq!(second.usage, Usage::default(), "{kind:?}: a hit costs nothing");
        assert!(second.cost_usd.is_none_or(|c| c == 0.0), "{kind:?}: {:?}", second.cost_usd);
        assert_eq!(second.completions, first.completions);
        assert_eq!(second_client.cache().unwrap().stats().disk_hits, 1, "{kind:?}");
        let totals = second_client.usage().total;
        assert_eq!((totals.calls, totals.cache_hits, totals.prompt_tokens), (1, 1, 0), "{kind:?}");
    }
    assert_eq!(server.request_count(), 2, "one request per provider");
    assert_eq!(elsewhere.request_count(), 0);
}

#[tokio::test]
async fn a_corrupted_entry_is_a_miss_that_is_fetched_again_and_rewritten() {
    type Damage = fn(Vec<u8>) -> Vec<u8>;
    let damages: [(&str, Damage); 3] = [
        ("truncated", |bytes| bytes[..bytes.len() / 2].to_vec()),
        ("garbled", |bytes| String::from_utf8(bytes).unwrap().replacen("echo", "ECHO", 1).into_bytes()),
        ("emptied", |_| Vec::new()),
    ];
    let server = echo_server().await;
    let dir = tempfile::tempdir().unwrap();
    for (how, damage) in damages {
        server.clear_requests();
        let request = ask(&format!("a question whose entry gets {how}"));
        let first = cached(Kind::OpenAi.provider(&server), dir.path());
        let original = first.call(request.clone()).await.unwrap();
        let key = CacheKey::for_request(first.provider().model(), &request);
        let path = first.cache().unwrap().entry_path(&key).unwrap();
        fs::write(&path, damage(fs::read(&path).unwrap())).unwrap();

        // A new client (empty memory) finds the damaged file: a miss, no error.
        let second = cached(Kind::OpenAi.provider(&server), dir.path());
        let refetched = second.call(request.clone()).await.unwrap();
        assert!(!refetched.cache_hit, "{how}");
        assert_eq!(refetched.completions, original.completions, "{how}");
        assert_eq!(server.request_count(), 2, "{how}: fetched again");
        assert_eq!(second.cache().unwrap().stats().corrupt_entries, 1, "{how}");

        // The entry was rewritten: a third client reads it from disk.
        let third = cached(Kind::OpenAi.provider(&server), dir.path());
        assert!(third.call(request).await.unwrap().cache_hit, "{how}");
        assert_eq!(server.request_count(), 2, "{how}");
        assert!(serde_json::from_slice::<serde_json::Value>(&fs::read(&path).unwrap()).is_ok(), "{how}");
    }
}

#[tokio::test]
async fn opting_out_per_call_or_per_lm_always_reaches_the_server() {
    let server = echo_server().await;
    let dir = tempfile::tempdir().unwrap();
    let client = cached(Kind::OpenAi.provider(&server), dir.path());
    assert!(!client.call(ask("q")).await.unwrap().cache_hit);
    assert!(client.call(ask("q")).await.unwrap().cache_hit);
    assert_eq!(server.request_count(), 1);

    let mut bypass = ask("q");
    bypass.use_cache = false;
    assert!(!client.call(bypass).await.unwrap().cache_hit);
    let config = CallConfig { use_cache: Some(false), ..CallConfig::default() };
    let via_config = LmRequest::new(ask("q").messages).with_config(&config);
    assert!(!client.call(via_config).await.unwrap().cache_hit);
    assert_eq!(server.request_count(), 3, "both opt-outs were sent");

    // An opted-out answer is not stored either.
    let mut unstored = ask("new question");
    unstored.use_cache = false;
    client.call(unstored).await.unwrap();
    assert!(!client.call(ask("new question")).await.unwrap().cache_hit);
    assert_eq!(server.request_count(), 5);

    // Per LM: no cache at all, even over a directory holding the answer.
    let uncached = LmBuilder::new(Kind::OpenAi.provider(&server)).no_cache().build().unwrap();
    assert!(uncached.cache().is_none());
    for _ in 0..2 {
        assert!(!uncached.call(ask("q")).await.unwrap().cache_hit);
    }
    assert_eq!(server.request_count(), 7);
}
