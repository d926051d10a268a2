//! Writers that share a directory: two cache instances writing the same
//! keys at once, and a writer process killed mid-write (the test binary
//! re-executes itself as the writer) — every entry is complete or absent.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kestrel_lm::cache::{Cache, CacheConfig, CacheKey};

use super::{entry_files, key, on_disk, response};

#[test]
fn two_instances_writing_one_directory_never_see_partial_entries() {
    let dir = tempfile::tempdir().unwrap();
    let config = CacheConfig { memory: false, ..CacheConfig::default() }.with_dir(dir.path().to_path_buf());
    let big = "y".repeat(50_000);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let cache = Cache::new(config.clone()).unwrap();
            let big = &big;
            s.spawn(move || {
                for round in 0..10 {
                    for i in 0..8 {
                        cache.put(key(&i.to_string()), &response(&format!("{round}{big}")));
                        if let Some(hit) = cache.get(&key(&((i + 3) % 8).to_string())) {
                            assert!(hit.completions[0].text.ends_with(big.as_str()));
                        }
                    }
                }
                assert_eq!(cache.stats().corrupt_entries, 0);
            });
        }
    });
    assert_eq!(entry_files(dir.path()).len(), 8);
}

const CHILD_ENV: &str = "KESTREL_CACHE_CHILD_DIR";
const CHILD_PAYLOAD: usize = 200_000;

/// Not a test on its own: with `KESTREL_CACHE_CHILD_DIR` set (by
/// `a_killed_writer_leaves_only_complete_entries`), writes large entries
/// until killed (or 30 s pass).
#[test]
fn cache_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else { return };
    let cache = Cache::new(CacheConfig { memory: false, ..CacheConfig::default() }.with_dir(dir.into())).unwrap();
    let big = "z".repeat(CHILD_PAYLOAD);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0u64;
    while Instant::now() < deadline {
        cache.put(key(&format!("{}-{i}", std::process::id())), &response(&format!("{i}:{big}")));
        i += 1;
    }
}

/// Number of `.tmp-*.partial` files under `dir` (a killed writer's).
fn temp_files(dir: &Path) -> usize {
    let Ok(shards) = std::fs::read_dir(dir.join("v1")) else { return 0 };
    shards
        .flatten()
        .filter_map(|shard| std::fs::read_dir(shard.path()).ok())
        .flat_map(|files| files.flatten())
        .filter(|f| f.file_name().to_str().is_some_and(|n| n.starts_with(".tmp-") && n.ends_with(".partial")))
        .count()
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_killed_writer_leaves_only_complete_entries() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    for (round, (entries, extra_ms)) in [(1, 0), (3, 7), (6, 23)].into_iter().enumerate() {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["cache::crash::cache_child_writer", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        let target = entry_files(dir.path()).len() + entries;
        let deadline = Instant::now() + Duration::from_secs(2);
        while entry_files(dir.path()).len() < target {
            assert!(Instant::now() < deadline, "round {round}: the child wrote no entries in time");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(extra_ms));
        child.0.kill().unwrap(); // SIGKILL: no destructor, no flush
        child.0.wait().unwrap();

        let reader = Cache::new(CacheConfig::default().with_dir(dir.path().to_path_buf())).unwrap();
        let files = entry_files(dir.path());
        assert!(files.len() >= target, "round {round}");
        for file in &files {
            let stem = file.file_stem().and_then(|s| s.to_str()).unwrap();
            let key = CacheKey::from_hex(stem).expect("entry files are named by key");
            let hit = reader.get(&key).unwrap_or_else(|| panic!("round {round}: {} is incomplete", file.display()));
            assert!(hit.completions[0].text.len() > CHILD_PAYLOAD);
        }
        assert_eq!(reader.stats().corrupt_entries, 0, "round {round}");
        let temps = temp_files(dir.path());
        eprintln!("round {round}: {} entries, {temps} temp leftovers (ignored)", files.len());
        assert_eq!(reader.stats().disk_hits, files.len() as u64);
    }
    let reader = on_disk(dir.path());
    reader.clear().unwrap();
    let leftovers = std::fs::read_dir(dir.path().join("v1"))
        .unwrap()
        .flatten()
        .flat_map(|shard| std::fs::read_dir(shard.path()).unwrap().flatten())
        .count();
    assert_eq!(leftovers, 0, "clear removes entries and temp leftovers");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}
