//! The run journal: units survive reopening, a torn last line is cut off, a
//! changed identity is another journal, a damaged header is moved aside,
//! the hook sees every line; and a write-through cache has each fetched
//! response on disk before any caller gets it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kestrel_core::Usage;
use kestrel_lm::cache::{Cache, CacheConfig, CacheKey};
use kestrel_lm::{
    Completion, DurableHook, DurableWrite, Journal, LmResponse, RunIdentity, current_journal, with_journal,
};
use serde_json::json;

fn identity(seed: u64) -> RunIdentity {
    RunIdentity::new("compile").part("seed", &seed).part("trainset", &["a", "b"])
}

#[test]
fn units_survive_reopening_and_the_same_value_is_not_written_twice() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), &identity(0), true, None).unwrap();
    assert_eq!(journal.replayed(), 0);
    journal.record("eval/1", json!({"score": 1})).unwrap();
    journal.record("eval/2", json!([1, "two"])).unwrap();
    journal.record("eval/2", json!([1, "two"])).unwrap();
    let lines = std::fs::read_to_string(journal.path()).unwrap().lines().count();
    assert_eq!(lines, 3, "a header and two units");
    drop(journal);
    let again = Journal::open(dir.path(), &identity(0), true, None).unwrap();
    assert_eq!(again.replayed(), 2);
    assert_eq!(again.get("eval/1"), Some(json!({"score": 1})));
    assert_eq!(again.get("eval/2"), Some(json!([1, "two"])));
    assert_eq!(again.get("eval/3"), None);
}

#[test]
fn a_torn_last_line_is_cut_off_and_appending_goes_on_after_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), &identity(1), false, None).unwrap();
    journal.record("a", json!(1)).unwrap();
    journal.record("b", json!(2)).unwrap();
    let path = journal.path().to_path_buf();
    drop(journal);
    // A kill in the middle of the third line's write.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"k\":\"c\",\"v\":[1,2");
    std::fs::write(&path, &text).unwrap();
    let journal = Journal::open(dir.path(), &identity(1), false, None).unwrap();
    assert_eq!(journal.replayed(), 2);
    assert_eq!(journal.get("c"), None);
    journal.record("c", json!(3)).unwrap();
    drop(journal);
    let journal = Journal::open(dir.path(), &identity(1), false, None).unwrap();
    assert_eq!((journal.replayed(), journal.get("c")), (3, Some(json!(3))));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.lines().all(|line| serde_json::from_str::<serde_json::Value>(line).is_ok()), "{text}");
}

#[test]
fn another_identity_is_another_journal_and_a_bad_header_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let first = Journal::open(dir.path(), &identity(2), false, None).unwrap();
    first.record("x", json!("first")).unwrap();
    let second = Journal::open(dir.path(), &identity(3), false, None).unwrap();
    assert_ne!(first.run_id(), second.run_id());
    assert_eq!((second.replayed(), second.get("x")), (0, None));
    // A file under the right name whose header is not this identity's.
    let path = first.path().to_path_buf();
    drop(first);
    std::fs::write(&path, "{\"journal\":1,\"run_id\":\"other\",\"identity\":{}}\n{\"k\":\"x\",\"v\":\"wrong\"}\n")
        .unwrap();
    let reopened = Journal::open(dir.path(), &identity(2), false, None).unwrap();
    assert_eq!((reopened.replayed(), reopened.get("x")), (0, None));
    assert!(path.with_extension("jsonl.bad").exists());
}

#[test]
fn the_hook_sees_every_line_and_the_scope_carries_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let lines = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&lines);
    let hook = DurableHook::new(move |write| {
        assert_eq!(write, DurableWrite::JournalLine);
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let journal = Journal::open(dir.path(), &identity(4), true, Some(hook)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert!(current_journal().is_none());
    runtime.block_on(with_journal(journal.clone(), async {
        let scoped = current_journal().unwrap();
        scoped.record("u", json!(true)).unwrap();
    }));
    assert_eq!(journal.get("u"), Some(json!(true)));
    assert_eq!(lines.load(Ordering::SeqCst), 1);
}

fn response(text: &str) -> LmResponse {
    LmResponse::new(vec![Completion::stop(text)], Usage { prompt_tokens: 3, completion_tokens: 1 }, "test/model")
}

#[tokio::test]
async fn a_write_through_cache_has_the_response_on_disk_before_the_caller_gets_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache_slot: Arc<Mutex<Option<(Cache, CacheKey)>>> = Arc::new(Mutex::new(None));
    let on_disk_at_hook = Arc::new(AtomicUsize::new(0));
    let (slot, counter) = (Arc::clone(&cache_slot), Arc::clone(&on_disk_at_hook));
    let hook = DurableHook::new(move |write| {
        assert_eq!(write, DurableWrite::CacheEntry);
        if let Some((cache, key)) = slot.lock().unwrap().as_ref() {
            if cache.entry_path(key).is_some_and(|p| p.exists()) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    for durable in [false, true] {
        let sub = dir.path().join(durable.to_string());
        let config =
            CacheConfig::default().with_dir(sub).write_through(true).durable(durable).on_durable_write(hook.clone());
        let cache = Cache::new(config).unwrap();
        let key = CacheKey::from_bytes([durable as u8; 32]);
        *cache_slot.lock().unwrap() = Some((cache.clone(), key));
        let fetched = cache.get_or_fetch(key, || async { Ok(response("answer")) }).await.unwrap();
        assert_eq!(fetched.completions[0].text, "answer");
        assert!(cache.entry_path(&key).unwrap().exists());
    }
    assert_eq!(on_disk_at_hook.load(Ordering::SeqCst), 2, "the entry was on disk when the hook ran");
    // Without write-through no hook runs (the write is not ordered before use).
    let plain = Cache::new(CacheConfig::default().with_dir(dir.path().join("plain")).on_durable_write(hook)).unwrap();
    plain.get_or_fetch(CacheKey::from_bytes([9; 32]), || async { Ok(response("x")) }).await.unwrap();
    assert_eq!(on_disk_at_hook.load(Ordering::SeqCst), 2);
}
