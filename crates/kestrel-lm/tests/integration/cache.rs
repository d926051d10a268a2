//! The LM response cache: key stability, hits, persistence, corruption,
//! single flight, cancellation, clearing and configurations; [`crash`]:
//! concurrent writers and a writer process killed mid-write.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kestrel_core::{Message, OutputStructure, SignatureSpec, Usage};
use kestrel_lm::cache::{Cache, CacheConfig, CacheKey};
use kestrel_lm::{Completion, LmError, LmRequest, LmResponse};
use serde_json::json;

mod crash;
mod off_executor;
#[cfg(feature = "redis")]
mod redis;
mod size_limit;

fn response(text: &str) -> LmResponse {
    let mut r =
        LmResponse::new(vec![Completion::stop(text)], Usage { prompt_tokens: 10, completion_tokens: 2 }, "test/model");
    r.cost_usd = Some(0.5);
    r
}

fn key(text: &str) -> CacheKey {
    CacheKey::for_request("test/model", &LmRequest::new(vec![Message::user(text)]))
}

fn on_disk(dir: &Path) -> Cache {
    Cache::new(CacheConfig::default().with_dir(dir.to_path_buf())).unwrap()
}

type BoxedFetch = std::pin::Pin<Box<dyn Future<Output = Result<LmResponse, LmError>> + Send>>;

/// A fetch that counts its calls and answers `text` after `delay`.
fn counted(
    calls: &Arc<AtomicUsize>,
    delay: Duration,
    text: &'static str,
) -> impl FnOnce() -> BoxedFetch + Send + use<> {
    let calls = calls.clone();
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Ok(response(text))
        })
    }
}

/// One edit of a request.
type Change = fn(&mut LmRequest);

fn full_request() -> LmRequest {
    let mut r = LmRequest::new(vec![Message::system("Be brief."), Message::user("Capital of France?")]);
    r.n = 2;
    r.temperature = Some(0.7);
    r.max_tokens = Some(100);
    r.stop = vec!["END".into()];
    r.response_format = Some(json!({"type": "json_schema", "json_schema": {"name": "out", "strict": true}}));
    r.rollout_id = Some(3);
    r
}

#[test]
fn the_key_is_stable_and_covers_every_field() {
    let base = full_request();
    let k = CacheKey::for_request("openai/gpt-4o-mini", &base);
    assert_eq!(k, CacheKey::for_request("openai/gpt-4o-mini", &base.clone()));
    assert_eq!(CacheKey::from_hex(&k.to_hex()), Some(k));

    let mut same = base.clone();
    same.use_cache = false;
    same.temperature = Some("0.7".parse().unwrap());
    same.response_format = Some(json!({"json_schema": {"strict": true, "name": "out"}, "type": "json_schema"}));
    assert_eq!(CacheKey::for_request("openai/gpt-4o-mini", &same), k, "use_cache and key order do not count");

    let variants: &[(&str, Change)] = &[
        ("content", |r| r.messages[1].content.push('!')),
        ("role", |r| r.messages[0] = Message::user("Be brief.")),
        ("extra message", |r| r.messages.push(Message::assistant("Paris"))),
        ("split content", |r| r.messages = vec![Message::user("Be brief.Capital of France?")]),
        ("n", |r| r.n = 3),
        ("temperature", |r| r.temperature = Some(0.700_001)),
        ("no temperature", |r| r.temperature = None),
        ("max_tokens", |r| r.max_tokens = Some(101)),
        ("no max_tokens", |r| r.max_tokens = None),
        ("stop", |r| r.stop = vec!["END".into(), "STOP".into()]),
        ("empty stop", |r| r.stop = vec![String::new()]),
        ("response_format", |r| r.response_format.as_mut().unwrap()["json_schema"]["strict"] = json!(false)),
        ("no response_format", |r| r.response_format = None),
        ("rollout_id", |r| r.rollout_id = Some(4)),
        ("no rollout_id", |r| r.rollout_id = None),
        ("output_structure", |r| {
            r.output_structure = Some(OutputStructure::for_signature(&SignatureSpec::parse("q -> a: int").unwrap()))
        }),
    ];
    let mut seen = std::collections::HashSet::from([k]);
    for (name, change) in variants {
        let mut r = base.clone();
        change(&mut r);
        assert!(seen.insert(CacheKey::for_request("openai/gpt-4o-mini", &r)), "{name} must change the key");
    }
    assert_ne!(CacheKey::for_request("openai/gpt-4o", &base), k, "the model counts");
    let split = |a: &str, b: &str| LmRequest::new(vec![Message::user(a), Message::user(b)]);
    assert_ne!(CacheKey::for_request("m", &split("ab", "c")), CacheKey::for_request("m", &split("a", "bc")));
}

#[test]
fn the_cache_and_its_futures_cross_threads() {
    fn send_sync_clone<T: Send + Sync + Clone + std::fmt::Debug + 'static>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let cache = Cache::new(CacheConfig::disabled()).unwrap();
    send_sync_clone(&cache);
    send(cache.get_or_fetch(key("s"), counted(&Arc::new(AtomicUsize::new(0)), Duration::ZERO, "s")));
}

#[test]
fn the_key_format_is_pinned() {
    // Changing these literals orphans every user's disk cache: bump the
    // version tag in `cache/key.rs` instead, on purpose. (Cross-checked
    // against an independent implementation of the documented format.)
    let k = CacheKey::for_request("openai/gpt-4o-mini", &full_request());
    assert_eq!(k.to_hex(), "e8e6046fca78845f01faf7b5818a1df1368e4488550e157920ad2796db2e778a");
    let minimal = CacheKey::for_request("m", &LmRequest::new(Vec::new()));
    assert_eq!(minimal.to_hex(), "c248d926bce21a81232fb4b759a6b903677e873c60a38dd96b0ca66095859ffa");
}

#[tokio::test]
async fn a_memory_hit_is_marked_and_free() {
    let dir = tempfile::tempdir().unwrap();
    let cache = on_disk(dir.path());
    let calls = Arc::new(AtomicUsize::new(0));
    let fresh = cache.get_or_fetch(key("a"), counted(&calls, Duration::ZERO, "A")).await.unwrap();
    assert!(!fresh.cache_hit);
    assert_eq!((fresh.usage.total_tokens(), fresh.cost_usd), (12, Some(0.5)));
    let hit = cache.get_or_fetch(key("a"), counted(&calls, Duration::ZERO, "B")).await.unwrap();
    assert!(hit.cache_hit);
    assert_eq!((hit.usage, hit.cost_usd), (Usage::default(), Some(0.0)));
    assert_eq!(hit.completions, fresh.completions);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!((stats.memory_hits, stats.misses, stats.writes), (1, 1, 1));

    let mut unpriced = response("C");
    unpriced.cost_usd = None;
    cache.put(key("c"), &unpriced);
    assert_eq!(cache.get(&key("c")).unwrap().cost_usd, None, "an unknown cost stays unknown");
}

#[tokio::test]
async fn entries_persist_across_instances() {
    for durable in [false, true] {
        entries_persist_across_instances_with(durable).await;
    }
}

async fn entries_persist_across_instances_with(durable: bool) {
    let dir = tempfile::tempdir().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    // Synced or not, an entry is written whole and read back.
    let open = || Cache::new(CacheConfig::default().with_dir(dir.path().to_path_buf()).durable(durable)).unwrap();
    let first = open();
    first.get_or_fetch(key("p"), counted(&calls, Duration::ZERO, "P")).await.unwrap();
    let path = first.entry_path(&key("p")).unwrap();
    let hex = key("p").to_hex();
    assert_eq!(path, dir.path().join("v1").join(&hex[..2]).join(format!("{hex}.json")));
    let envelope: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!((envelope["format"].clone(), envelope["key"].clone()), (json!(1), json!(hex)));
    assert_eq!(envelope["payload"]["usage"]["prompt_tokens"], 10, "the disk keeps what the call cost");
    drop(first);

    let second = open();
    assert_eq!(second.dir(), Some(dir.path()));
    let hit = second.get_or_fetch(key("p"), counted(&calls, Duration::ZERO, "X")).await.unwrap();
    assert!(hit.cache_hit);
    assert_eq!((hit.completions[0].text.as_str(), hit.usage), ("P", Usage::default()));
    second.get_or_fetch(key("p"), counted(&calls, Duration::ZERO, "X")).await.unwrap();
    let stats = second.stats();
    assert_eq!((stats.disk_hits, stats.memory_hits, stats.misses), (1, 1, 0), "promoted into memory");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn corrupt_entries_are_counted_misses_then_overwritten() {
    type Corrupt = fn(&Path, &Path);
    let kinds: [(&str, Corrupt); 4] = [
        ("garbage", |path, _| std::fs::write(path, b"\x00\xffnot json at all").unwrap()),
        ("truncated", |path, _| {
            let bytes = std::fs::read(path).unwrap();
            std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
        }),
        ("checksum", |path, _| {
            let text = std::fs::read_to_string(path).unwrap().replace("hello", "jello");
            std::fs::write(path, text).unwrap();
        }),
        ("wrong key", |path, other| {
            std::fs::copy(other, path).unwrap();
        }),
    ];
    for (name, corrupt) in kinds {
        let dir = tempfile::tempdir().unwrap();
        let writer = on_disk(dir.path());
        writer.put(key("k"), &response("hello"));
        writer.put(key("other"), &response("hello"));
        let (path, other) = (writer.entry_path(&key("k")).unwrap(), writer.entry_path(&key("other")).unwrap());
        corrupt(&path, &other);

        let reader = on_disk(dir.path());
        let calls = Arc::new(AtomicUsize::new(0));
        let got = reader.get_or_fetch(key("k"), counted(&calls, Duration::ZERO, "fresh")).await.unwrap();
        assert!(!got.cache_hit, "{name}: a miss");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{name}");
        assert_eq!(reader.stats().corrupt_entries, 1, "{name}: counted");

        let later = on_disk(dir.path());
        assert_eq!(later.get(&key("k")).unwrap().completions[0].text, "fresh", "{name}: overwritten");
        assert_eq!(later.stats().corrupt_entries, 0, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_share_one_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let cache = on_disk(dir.path());
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, fetch) = (cache.clone(), counted(&calls, Duration::from_millis(50), "once"));
            tokio::spawn(async move { cache.get_or_fetch(key("sf"), fetch).await })
        })
        .collect();
    let results: Vec<LmResponse> =
        futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(results.iter().filter(|r| !r.cache_hit).count(), 1);
    let hits: Vec<_> = results.iter().filter(|r| r.cache_hit).collect();
    assert_eq!(hits.len(), 49);
    assert!(hits.iter().all(|r| r.usage == Usage::default() && r.completions[0].text == "once"));
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.hits()), (1, 49));
    assert!(on_disk(dir.path()).get(&key("sf")).is_some(), "stored on disk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_are_shared_with_waiters_and_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let cache = on_disk(dir.path());
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move {
                cache
                    .get_or_fetch(key("err"), move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(40)).await;
                        Err(LmError::Server {
                            model: "m".into(),
                            status: 503,
                            message: "busy".into(),
                            retry_after: None,
                        })
                    })
                    .await
            })
        })
        .collect();
    for result in futures::future::join_all(tasks).await {
        assert!(matches!(result.unwrap(), Err(LmError::Server { status: 503, .. })));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().writes, 0);
    assert!(cache.get(&key("err")).is_none());
    assert!(!cache.entry_path(&key("err")).unwrap().exists());
    let retried = cache.get_or_fetch(key("err"), counted(&calls, Duration::ZERO, "ok")).await.unwrap();
    assert!(!retried.cache_hit, "the next call fetches again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiters_survive_a_cancelled_leader() {
    let cache = Cache::new(CacheConfig::memory_only()).unwrap();
    let stuck = Arc::new(AtomicUsize::new(0));
    let leader = {
        let (cache, fetch) = (cache.clone(), counted(&stuck, Duration::from_secs(60), "never"));
        tokio::spawn(async move { cache.get_or_fetch(key("c"), fetch).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(stuck.load(Ordering::SeqCst), 1, "the leader is fetching");
    let calls = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let (cache, fetch) = (cache.clone(), counted(&calls, Duration::from_millis(20), "after"));
            tokio::spawn(async move { cache.get_or_fetch(key("c"), fetch).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    leader.abort();
    let results = tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(waiters))
        .await
        .expect("waiters must not hang");
    let results: Vec<LmResponse> = results.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one waiter took over");
    assert_eq!(results.iter().filter(|r| !r.cache_hit).count(), 1);
    assert!(results.iter().all(|r| r.completions[0].text == "after"));
}

#[tokio::test]
async fn clear_empties_both_levels() {
    let dir = tempfile::tempdir().unwrap();
    let cache = on_disk(dir.path());
    for text in ["a", "b", "c"] {
        cache.put(key(text), &response(text));
    }
    let leftover = cache.entry_path(&key("a")).unwrap().with_file_name(".tmp-leftover.partial");
    std::fs::write(&leftover, b"{\"format\":1,").unwrap();
    assert_eq!(cache.memory_len(), 3);
    cache.clear().unwrap();
    assert_eq!(cache.memory_len(), 0);
    assert!(cache.get(&key("a")).is_none());
    assert_eq!(entry_files(dir.path()).len(), 0);
    assert!(!leftover.exists(), "temp leftovers go too");
    cache.put(key("a"), &response("a"));
    assert!(on_disk(dir.path()).get(&key("a")).is_some(), "usable after clear");
}

#[tokio::test]
async fn disabled_and_memory_only_behave() {
    let calls = Arc::new(AtomicUsize::new(0));
    let off = Cache::new(CacheConfig::disabled()).unwrap();
    assert_eq!((off.dir(), CacheConfig::disabled().resolved_dir()), (None, None));
    for _ in 0..2 {
        assert!(!off.get_or_fetch(key("d"), counted(&calls, Duration::ZERO, "d")).await.unwrap().cache_hit);
    }
    off.put(key("d"), &response("d"));
    assert!(off.get(&key("d")).is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let memory = Cache::new(CacheConfig::memory_only()).unwrap();
    assert_eq!((memory.dir(), memory.entry_path(&key("m"))), (None, None));
    memory.get_or_fetch(key("m"), counted(&calls, Duration::ZERO, "m")).await.unwrap();
    assert!(memory.get_or_fetch(key("m"), counted(&calls, Duration::ZERO, "m")).await.unwrap().cache_hit);
    assert!(Cache::new(CacheConfig::memory_only()).unwrap().get(&key("m")).is_none(), "nothing on disk");

    let dir = PathBuf::from("/some/where");
    assert_eq!(CacheConfig::default().with_dir(dir.clone()).resolved_dir(), Some(dir.clone()));
    assert_eq!(CacheConfig::memory_only().with_dir(dir).resolved_dir(), None);
    assert!(CacheConfig::default().resolved_dir().is_some());
}

#[test]
fn memory_is_bounded_and_keeps_recently_used_entries() {
    let cache = Cache::new(CacheConfig { memory_capacity: 64, ..CacheConfig::memory_only() }).unwrap();
    for i in 0..64 {
        cache.put(key(&i.to_string()), &response("x"));
    }
    assert!(cache.get(&key("0")).is_some());
    cache.put(key("64"), &response("x"));
    assert!(cache.memory_len() <= 64);
    assert!(cache.get(&key("0")).is_some(), "recently used: kept");
    assert!(cache.get(&key("1")).is_none(), "least recently used: evicted");
    for i in 65..1_000 {
        cache.put(key(&i.to_string()), &response("x"));
    }
    assert!(cache.memory_len() <= 64);
    assert!(cache.get(&key("999")).is_some());
}

#[test]
fn an_unusable_directory_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let err = Cache::new(CacheConfig::default().with_dir(file.join("cache"))).unwrap_err();
    assert!(matches!(&err, LmError::Config(m) if m.contains(&file.display().to_string())), "{err}");
}

/// Every `<hex>.json` entry file under `dir`.
fn entry_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(shards) = std::fs::read_dir(dir.join("v1")) else { return Vec::new() };
    shards
        .flatten()
        .filter_map(|shard| std::fs::read_dir(shard.path()).ok())
        .flat_map(|files| files.flatten().map(|f| f.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect()
}
