//! The shared Redis level against a real `redis-server` started on an
//! ephemeral port in a temporary directory (skipped, saying so, when the
//! binary is absent): two LM clients — as two processes would — share a
//! response; concurrent misses in both fetch once (the lock key); a damaged
//! entry is a miss; Redis killed mid-run, or never there, costs no call;
//! Redis back again is used again.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kestrel_core::{Message, Usage};
use kestrel_lm::cache::{CacheConfig, CacheKey, RedisConfig};
use kestrel_lm::{Completion, Lm, LmBuilder, LmClient, LmError, LmRequest, LmResponse, SharedLm};

/// A `redis-server` child on `port`, data in `dir`; killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Start one, or `None` (with a message) when `redis-server` is absent.
    fn start(dir: &Path, port: Option<u16>) -> Option<RedisServer> {
        let port = port.unwrap_or_else(free_port);
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("SKIPPED: redis-server is not installed (apt-get install -y redis-server)");
                return None;
            }
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        let server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.cli(&["PING"]).as_deref() != Some("PONG") {
            assert!(Instant::now() < deadline, "redis-server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Run `redis-cli` against this server; its trimmed output.
    fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

/// Answers `echo <prompt>` after `delay`, counting the calls it answers.
#[derive(Debug)]
struct SlowLm {
    calls: AtomicUsize,
    delay: Duration,
}

impl SlowLm {
    fn new(delay_ms: u64) -> Arc<Self> {
        Arc::new(SlowLm { calls: AtomicUsize::new(0), delay: Duration::from_millis(delay_ms) })
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Lm for SlowLm {
    fn model(&self) -> &str {
        "test/slow"
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let text = request.messages.last().map(|m| m.content.clone()).unwrap_or_default();
        Ok(LmResponse::new(
            vec![Completion::stop(format!("echo {text}"))],
            Usage { prompt_tokens: 3, completion_tokens: 2 },
            "test/slow",
        ))
    }
}

/// One "process": an LM client with its own memory and disk levels over
/// the shared Redis level at `url`.
fn client(provider: &Arc<SlowLm>, disk: &Path, redis: RedisConfig) -> LmClient {
    let cache = CacheConfig::default().with_dir(disk.to_path_buf()).with_redis(redis);
    LmBuilder::new(SharedLm::from_arc(provider.clone())).cache(cache).build().unwrap()
}

fn fast(url: &str) -> RedisConfig {
    RedisConfig::new(url).prefix("test:").retry_after(Duration::from_millis(200))
}

fn ask(text: &str) -> LmRequest {
    LmRequest::new(vec![Message::user(text)])
}

#[tokio::test]
async fn two_clients_share_a_response_through_redis() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = RedisServer::start(dir.path(), None) else { return };
    let provider = SlowLm::new(5);
    let (disk_a, disk_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = client(&provider, disk_a.path(), fast(&server.url()));
    let b = client(&provider, disk_b.path(), fast(&server.url()));
    let first = a.call(ask("What is Redis?")).await.unwrap();
    assert!(!first.cache_hit);
    let second = b.call(ask("What is Redis?")).await.unwrap();
    assert!(second.cache_hit);
    assert_eq!(second.completions, first.completions);
    assert_eq!(provider.calls(), 1, "the second process paid nothing");
    let stats = b.cache().unwrap().stats();
    assert_eq!((stats.shared_hits, stats.misses, stats.shared_errors), (1, 0, 0));
    // The entry is in Redis under the documented key, and was promoted to B's disk.
    let key = CacheKey::for_request("test/slow", &ask("What is Redis?"));
    assert_eq!(server.cli(&["EXISTS", &format!("test:v1:{key}")]).as_deref(), Some("1"));
    assert!(b.cache().unwrap().entry_path(&key).unwrap().exists());

    // 200 more: A fetches them, B (its own memory and disk empty) gets every
    // one from Redis. Printed for docs/RELIABILITY.md (run with --nocapture).
    let n = 200;
    let started = Instant::now();
    for i in 0..n {
        a.call(ask(&format!("q{i}"))).await.unwrap();
    }
    let fetched = started.elapsed();
    let started = Instant::now();
    for i in 0..n {
        assert!(b.call(ask(&format!("q{i}"))).await.unwrap().cache_hit);
    }
    let shared = started.elapsed();
    assert_eq!(provider.calls(), 1 + n);
    assert_eq!(b.cache().unwrap().stats().shared_hits, 1 + n as u64);
    eprintln!(
        "redis share: {n} provider fetches (5 ms each) in {:.1} ms; {n} Redis hits in another client in {:.1} ms ({:.3} ms per hit)",
        fetched.as_secs_f64() * 1e3,
        shared.as_secs_f64() * 1e3,
        shared.as_secs_f64() * 1e3 / n as f64
    );
}

#[tokio::test]
async fn concurrent_misses_in_two_clients_fetch_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = RedisServer::start(dir.path(), None) else { return };
    let provider = SlowLm::new(300);
    let (disk_a, disk_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = client(&provider, disk_a.path(), fast(&server.url()));
    let b = client(&provider, disk_b.path(), fast(&server.url()));
    let (x, y) = tokio::join!(a.call(ask("one question")), b.call(ask("one question")));
    assert_eq!(x.unwrap().completions, y.unwrap().completions);
    assert_eq!(provider.calls(), 1, "the lock key made the other client wait");
    let waits = a.cache().unwrap().stats().shared_waits + b.cache().unwrap().stats().shared_waits;
    assert_eq!(waits, 1);
    // The lock is gone once the entry is written.
    let key = CacheKey::for_request("test/slow", &ask("one question"));
    assert_eq!(server.cli(&["EXISTS", &format!("test:lock:{key}")]).as_deref(), Some("0"));
}

#[tokio::test]
async fn a_damaged_redis_entry_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = RedisServer::start(dir.path(), None) else { return };
    let provider = SlowLm::new(1);
    let key = CacheKey::for_request("test/slow", &ask("damaged"));
    assert_eq!(
        server.cli(&["SET", &format!("test:v1:{key}"), "{\"format\":1,\"key\":\"nope\"}"]).as_deref(),
        Some("OK")
    );
    let disk = tempfile::tempdir().unwrap();
    let a = client(&provider, disk.path(), fast(&server.url()));
    assert!(!a.call(ask("damaged")).await.unwrap().cache_hit);
    assert_eq!(provider.calls(), 1);
    assert_eq!(a.cache().unwrap().stats().corrupt_entries, 1);
    // Replaced by the fresh response: another client now hits.
    let other = tempfile::tempdir().unwrap();
    let b = client(&provider, other.path(), fast(&server.url()));
    assert!(b.call(ask("damaged")).await.unwrap().cache_hit);
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn redis_killed_mid_run_degrades_to_the_local_levels_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut server) = RedisServer::start(dir.path(), None) else { return };
    let port = server.port;
    let provider = SlowLm::new(1);
    let disk = tempfile::tempdir().unwrap();
    let a = client(&provider, disk.path(), fast(&server.url()));
    for i in 0..5 {
        a.call(ask(&format!("before {i}"))).await.unwrap();
    }
    server.kill();
    // Every call still succeeds: new ones reach the provider, old ones hit locally.
    let started = Instant::now();
    for i in 0..20 {
        let response = a.call(ask(&format!("during {i}"))).await.unwrap();
        assert_eq!(response.completions[0].text, format!("echo during {i}"));
    }
    assert!(a.call(ask("before 3")).await.unwrap().cache_hit);
    assert!(started.elapsed() < Duration::from_secs(5), "an outage must not stall calls: {:?}", started.elapsed());
    assert_eq!(provider.calls(), 25);
    let stats = a.cache().unwrap().stats();
    assert!(stats.shared_errors >= 1, "{stats:?}");
    eprintln!(
        "redis outage: 21 calls after the kill, all answered, in {:.1} ms; {} Redis failures seen",
        started.elapsed().as_secs_f64() * 1e3,
        stats.shared_errors
    );

    // Redis back on the same port: used again after `retry_after`.
    let Some(server) = RedisServer::start(dir.path(), Some(port)) else { return };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    loop {
        a.call(ask(&format!("after {n}"))).await.unwrap();
        let key = CacheKey::for_request("test/slow", &ask(&format!("after {n}")));
        if server.cli(&["EXISTS", &format!("test:v1:{key}")]).as_deref() == Some("1") {
            break;
        }
        assert!(Instant::now() < deadline, "Redis was never used again");
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Records the text of every `warn` event (on this thread: the tests run on
/// tokio's current-thread runtime).
#[derive(Default, Clone)]
struct Warnings(Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for Warnings {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Text(String);
        impl tracing::field::Visit for Text {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        if *event.metadata().level() == tracing::Level::WARN {
            let mut text = Text(String::new());
            event.record(&mut text);
            self.0.lock().unwrap().push(text.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn no_redis_at_all_costs_no_call() {
    let warnings = Warnings::default();
    let _guard = tracing::subscriber::set_default(warnings.clone());
    // Nothing listens on this port; the password must never be logged.
    let url = format!("redis://kestrel:hunter2@127.0.0.1:{}", free_port());
    let provider = SlowLm::new(1);
    let disk = tempfile::tempdir().unwrap();
    let a = client(&provider, disk.path(), fast(&url));
    let started = Instant::now();
    for i in 0..10 {
        a.call(ask(&format!("q{i}"))).await.unwrap();
    }
    assert!(a.call(ask("q1")).await.unwrap().cache_hit, "the local levels still work");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(provider.calls(), 10);
    assert!(a.cache().unwrap().stats().shared_errors >= 1);
    let warnings = warnings.0.lock().unwrap().clone();
    let redis: Vec<&String> = warnings.iter().filter(|w| w.contains("Redis")).collect();
    assert_eq!(redis.len(), 1, "one warning per outage: {warnings:?}");
    assert!(redis[0].contains("using the local levels") && redis[0].contains("kestrel:***@"), "{}", redis[0]);
    assert!(warnings.iter().all(|w| !w.contains("hunter2")), "{warnings:?}");
}

#[test]
fn tls_urls_and_bad_urls_are_config_errors() {
    let bad = |url: &str| {
        LmBuilder::new(SlowLm::new(0).as_ref().clone_counting())
            .cache(CacheConfig::memory_only().with_redis(RedisConfig::new(url)))
            .build()
    };
    assert!(matches!(bad("rediss://127.0.0.1:6380"), Err(LmError::Config(m)) if m.contains("TLS")));
    assert!(matches!(bad("not a url"), Err(LmError::Config(_))));
}

impl SlowLm {
    fn clone_counting(&self) -> SlowLm {
        SlowLm { calls: AtomicUsize::new(0), delay: self.delay }
    }
}
