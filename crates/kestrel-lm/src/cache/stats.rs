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
    /// Disk entries found unreadable (bad JSON, wrong key, checksum or
    /// format), treated as misses.
    pub corrupt_entries: u64,
}

impl CacheStats {
    /// Lookups served without a fetch: memory, disk and coalesced.
    pub fn hits(&self) -> u64 {
        self.memory_hits + self.disk_hits + self.coalesced
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
        }
    }
}
