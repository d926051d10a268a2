//! Per-call overhead of the LM response cache through its public API: the
//! key of a typical request, a warm memory hit (target < 5 µs), a disk hit
//! with the memory level off (target < 100 µs), and a disk write, plain (the
//! default) and synced (`durable_writes`). A memory hit never leaves the
//! calling task; a disk hit in `get_or_fetch` is read on tokio's blocking
//! pool (so it includes a thread hand-off) and refreshes the entry's file
//! time (the disk level's LRU clock).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kestrel_core::{Message, Usage};
use kestrel_lm::cache::{Cache, CacheConfig, CacheKey};
use kestrel_lm::{Completion, LmError, LmRequest, LmResponse};

/// A typical predictor call: a 2 KB system prompt and a short question.
fn request() -> LmRequest {
    let system = "Your input fields are: `question` (str). Your output fields are: `answer` (str). ".repeat(25);
    let mut request = LmRequest::new(vec![Message::system(system), Message::user("Where is the Eiffel Tower?")]);
    request.temperature = Some(0.7);
    request.max_tokens = Some(1_000);
    request
}

/// A typical answer: about 1 KB of text.
fn response() -> LmResponse {
    let text = "[[ ## answer ## ]]\nParis, France. ".repeat(30) + "\n\n[[ ## completed ## ]]";
    let mut response = LmResponse::new(
        vec![Completion::stop(text)],
        Usage { prompt_tokens: 600, completion_tokens: 250 },
        "openai/gpt-4o-mini",
    );
    response.cost_usd = Some(0.000_24);
    response
}

async fn unreachable_fetch() -> Result<LmResponse, LmError> {
    Err(LmError::Config("the benchmark expects a cache hit".into()))
}

fn cache(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let request = request();
    let key = CacheKey::for_request("openai/gpt-4o-mini", &request);
    c.bench_function("cache_key_for_request_2kb", |b| {
        b.iter(|| CacheKey::for_request(black_box("openai/gpt-4o-mini"), black_box(&request)))
    });

    let memory = Cache::new(CacheConfig::memory_only()).expect("memory cache");
    memory.put(key, &response());
    c.bench_function("cache_memory_hit_get_or_fetch", |b| {
        b.iter(|| runtime.block_on(memory.get_or_fetch(black_box(key), unreachable_fetch)).expect("hit"))
    });
    c.bench_function("cache_memory_hit_get", |b| b.iter(|| memory.get(black_box(&key)).expect("hit")));

    let dir = tempfile::tempdir().expect("temp dir");
    let config = CacheConfig { memory: false, ..CacheConfig::default() }.with_dir(dir.path().to_path_buf());
    let disk = Cache::new(config).expect("disk cache");
    disk.put(key, &response());
    c.bench_function("cache_disk_hit_get_or_fetch", |b| {
        b.iter(|| runtime.block_on(disk.get_or_fetch(black_box(key), unreachable_fetch)).expect("hit"))
    });

    let mut group = c.benchmark_group("cache_disk_write");
    group.sample_size(20);
    let fresh = response();
    // The default: temp file + rename, no fsync.
    group.bench_function("put", |b| b.iter(|| disk.put(black_box(key), black_box(&fresh))));
    // `durable_writes`: the temp file is synced before the rename.
    let synced_dir = tempfile::tempdir().expect("temp dir");
    let config =
        CacheConfig { memory: false, ..CacheConfig::default() }.with_dir(synced_dir.path().to_path_buf()).durable(true);
    let synced = Cache::new(config).expect("disk cache");
    group.bench_function("put_synced", |b| b.iter(|| synced.put(black_box(key), black_box(&fresh))));
    group.finish();
}

criterion_group!(benches, cache);
criterion_main!(benches);
