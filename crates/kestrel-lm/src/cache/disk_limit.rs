//! The disk level's byte limit: a sweep that deletes the least recently used
//! entries once the directory holds more than the limit.
//!
//! # Policy
//!
//! Least recently used, by file modification time: a write sets it, and a
//! disk hit refreshes it (memory hits do not touch the disk). LRU rather
//! than oldest-first because what a workflow re-reads — the dev set it
//! evaluates every day — is what a cache is for; DSPy's diskcache evicts
//! least-recently-stored, which drops exactly those entries first. The cost
//! is one metadata write per disk hit, next to the file read it follows.
//! Where that write is refused (a directory shared read-only, or Windows,
//! where a file opened for reading cannot have its times set) the order
//! falls back to least recently stored.
//!
//! # When
//!
//! Each process counts the bytes it writes; every `limit / 16` bytes one
//! sweep runs on a background thread (never on the calling task). The count
//! starts at a random point, so processes that each write less than that —
//! short CLI runs — still trigger sweeps at the same expected rate.
//! [`crate::cache::Cache::enforce_disk_limit`] runs one at once.
//!
//! # Sweep
//!
//! List every entry (`<dir>/v1/<2 hex>/<64 hex>.json`) with its size and
//! time, count temp files too (deleting those left behind for an hour by a
//! killed writer), and if the total is above the limit delete entries oldest
//! first down to seven eighths of it (so sweeps are not back to back).
//!
//! # Many processes
//!
//! No lock: sweeps only delete whole files, and an entry is immutable once
//! renamed into place, so a concurrent reader sees the entry or a miss (on
//! Unix a reader that already opened it still reads it whole), a concurrent
//! writer's new entry either survives or is deleted (a later miss), and two
//! sweeps racing at worst delete a little more than needed. Between sweeps
//! the directory can exceed the limit by what all processes wrote since
//! their last sweep (at most about `limit / 16` each).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::disk::{TEMP_PREFIX, TEMP_SUFFIX, remove_if_present};

/// Temp files older than this are a killed writer's and are deleted.
const STALE_TEMP: Duration = Duration::from_secs(3_600);

/// What a sweep found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Bytes of entries and temp files before the sweep.
    pub bytes_before: u64,
    /// Bytes after it.
    pub bytes_after: u64,
    /// Entries (and stale temp files) deleted.
    pub removed: u64,
}

/// The per-process trigger of sweeps for one disk level.
#[derive(Debug)]
pub(crate) struct DiskLimit {
    limit: u64,
    interval: u64,
    written: AtomicU64,
    sweeping: Arc<AtomicBool>,
}

impl DiskLimit {
    /// A trigger for `limit` bytes, its count started at a random point.
    pub(crate) fn new(limit: u64) -> Self {
        let interval = (limit / 16).max(1);
        Self { limit, interval, written: AtomicU64::new(random_u64() % interval), sweeping: Arc::default() }
    }

    /// The limit in bytes.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Count `bytes` written under `root`; start a background sweep when the
    /// count crosses the interval (unless one of this process is running).
    pub(crate) fn note_written(&self, root: &Path, bytes: u64) {
        let before = self.written.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) < self.interval {
            return;
        }
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        self.written.store(0, Ordering::Relaxed);
        let (root, limit, sweeping) = (root.to_path_buf(), self.limit, Arc::clone(&self.sweeping));
        let spawned = std::thread::Builder::new().name("kestrel-cache-sweep".into()).spawn(move || {
            if let Err(e) = sweep(&root, limit) {
                tracing::warn!(dir = %root.display(), error = %e, "LM cache: size sweep failed");
            }
            sweeping.store(false, Ordering::Release);
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "LM cache: cannot start the size sweep");
            self.sweeping.store(false, Ordering::Release);
        }
    }
}

/// One entry or temp file seen by a sweep.
struct Seen {
    time: SystemTime,
    len: u64,
    path: PathBuf,
}

/// Bring the entries under `root` (`<dir>/v1`) to at most `limit` bytes (to
/// seven eighths of it when it had to delete), least recently used first.
pub(crate) fn sweep(root: &Path, limit: u64) -> io::Result<DiskUsage> {
    let mut entries = Vec::new();
    let mut total = 0u64;
    let mut removed = 0u64;
    let now = SystemTime::now();
    let shards = match fs::read_dir(root) {
        Ok(shards) => shards,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(DiskUsage::default()),
        Err(e) => return Err(e),
    };
    for shard in shards.flatten() {
        // Files vanish under a sweep (other processes): skip what is gone.
        let Ok(files) = fs::read_dir(shard.path()) else { continue };
        for file in files.flatten() {
            let name = file.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_entry = name.ends_with(".json");
            let is_temp = name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX);
            if !is_entry && !is_temp {
                continue;
            }
            let Ok(meta) = file.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let time = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let seen = Seen { time, len: meta.len(), path: file.path() };
            if is_temp && now.duration_since(time).is_ok_and(|age| age > STALE_TEMP) {
                if remove_if_present(&seen.path).is_ok() {
                    removed += 1;
                }
                continue;
            }
            total = total.saturating_add(seen.len);
            if is_entry {
                entries.push(seen);
            }
        }
    }
    let bytes_before = total;
    if total > limit {
        let target = limit - limit / 8;
        entries.sort_unstable_by_key(|e| e.time);
        for entry in &entries {
            if total <= target {
                break;
            }
            if remove_if_present(&entry.path).is_ok() {
                total = total.saturating_sub(entry.len);
                removed += 1;
            }
        }
    }
    Ok(DiskUsage { bytes_before, bytes_after: total, removed })
}

/// A random number from the standard library's per-process hash seed (no
/// dependency; only spreads sweeps, never security).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
}
