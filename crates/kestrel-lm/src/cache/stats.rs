//! [`CacheStats`] and the atomic counters behind it.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a cache's counters since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from memory.
    pub memory_hits: u64,
    /// Lookups answered from disk (then promoted into memory).
    pub disk_hits: u64,
    /// Callers of `get_or_fetch` answered by another caller's concurrent
    /// fetch of the same key (single flight), errors included.
    pub coalesced: u64,
    /// Lookups that found nothing: each `get_or_fetch` fetch and each `get`
    /// returning `None`.
    pub misses: u64,
    /// Responses stored (by `put` or a successful fetch).
    pub writes: u64,
    /// Disk or Redis entries found unreadable (bad JSON, wrong key,
    /// checksum or format), treated as misses.
    pub corrupt_entries: u64,
    /// Lookups answered by the shared (Redis) level.
    pub shared_hits: u64,
    /// Lookups answered by another process's fetch, waited for through the
    /// shared level's lock (cross-process single flight).
    pub shared_waits: u64,
    /// Shared-level failures (errors, timeouts, refused connections): each
    /// made a call go on without Redis.
    pub shared_errors: u64,
}

impl CacheStats {
    /// Lookups served without a fetch: memory, disk and coalesced.
    pub fn hits(&self) -> u64 {
        self.memory_hits + self.disk_hits + self.coalesced + self.shared_hits + self.shared_waits
    }
}

/// The live counters (relaxed atomics: they are statistics, not locks).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) memory_hits: AtomicU64,
    pub(crate) disk_hits: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) corrupt_entries: AtomicU64,
    pub(crate) shared_hits: AtomicU64,
    pub(crate) shared_waits: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            memory_hits: get(&self.memory_hits),
            disk_hits: get(&self.disk_hits),
            coalesced: get(&self.coalesced),
            misses: get(&self.misses),
            writes: get(&self.writes),
            corrupt_entries: get(&self.corrupt_entries),
            shared_hits: get(&self.shared_hits),
            shared_waits: get(&self.shared_waits),
            shared_errors: 0,
        }
    }
}
