//! The memory level: a sharded concurrent map (`dashmap`) bounded by an
//! approximate LRU, both in entries and in bytes.
//!
//! Every entry carries a "last used" tick from a global clock, bumped on each
//! hit, and its approximate size (the response's text and strings plus a
//! fixed per-entry overhead). When an insert takes the map past either
//! bound, one thread (the others skip) scans the map and evicts least
//! recently used entries until both are a sixteenth below their bound, so
//! the scan is amortized over many inserts. A response larger than the
//! whole byte budget is not kept. A hit is one shard read lock, two relaxed
//! atomics and a clone of the response.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicIsize, AtomicU64, Ordering};

use dashmap::DashMap;

use super::key::CacheKey;
use crate::request::{FinishReason, LmResponse};

/// Bytes counted for every entry besides its strings: the map slot, the key,
/// the response's fixed fields and allocation headers (an estimate).
const ENTRY_OVERHEAD: usize = 256;
/// Bytes counted per completion besides its text.
const COMPLETION_OVERHEAD: usize = 64;

/// One cached response, when it was last used and how big it is.
#[derive(Debug)]
struct Slot {
    response: LmResponse,
    last_used: AtomicU64,
    size: usize,
}

/// A bounded in-memory map from keys to responses (stored as served on a
/// hit).
#[derive(Debug)]
pub(crate) struct MemoryLevel {
    map: DashMap<CacheKey, Slot>,
    capacity: usize,
    max_bytes: usize,
    clock: AtomicU64,
    /// Signed: a `clear` racing an insert may briefly count below zero.
    len: AtomicIsize,
    bytes: AtomicI64,
    evicting: Mutex<()>,
}

/// The approximate heap footprint of one entry holding `response`.
pub(crate) fn approx_size(response: &LmResponse) -> usize {
    let completions: usize = response
        .completions
        .iter()
        .map(|c| {
            let reason = match &c.finish_reason {
                Some(FinishReason::Other(text)) => text.len(),
                _ => 0,
            };
            c.text.len() + reason + COMPLETION_OVERHEAD
        })
        .sum();
    ENTRY_OVERHEAD + response.model.len() + completions
}

impl MemoryLevel {
    /// An empty level holding at most about `capacity` responses (at least 1)
    /// and about `max_bytes` bytes of them.
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            map: DashMap::new(),
            capacity: capacity.max(1),
            max_bytes,
            clock: AtomicU64::new(0),
            len: AtomicIsize::new(0),
            bytes: AtomicI64::new(0),
            evicting: Mutex::new(()),
        }
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// A clone of the response under `key`, marking it recently used.
    pub(crate) fn get(&self, key: &CacheKey) -> Option<LmResponse> {
        let slot = self.map.get(key)?;
        slot.last_used.store(self.tick(), Ordering::Relaxed);
        Some(slot.response.clone())
    }

    /// Store `response` under `key`, evicting old entries past either bound.
    pub(crate) fn insert(&self, key: CacheKey, response: LmResponse) {
        let size = approx_size(&response);
        let slot = Slot { response, last_used: AtomicU64::new(self.tick()), size };
        match self.map.insert(key, slot) {
            None => {
                self.len.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(as_i64(size), Ordering::Relaxed);
            }
            Some(old) => {
                self.bytes.fetch_add(as_i64(size) - as_i64(old.size), Ordering::Relaxed);
            }
        }
        if self.len() > self.capacity || self.bytes() > self.max_bytes {
            self.evict();
        }
    }

    /// Number of responses held.
    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.len.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Approximate bytes held (see [`approx_size`]).
    pub(crate) fn bytes(&self) -> usize {
        usize::try_from(self.bytes.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Drop every response.
    pub(crate) fn clear(&self) {
        let (mut removed, mut freed) = (0isize, 0i64);
        self.map.retain(|_, slot| {
            removed += 1;
            freed += as_i64(slot.size);
            false
        });
        self.len.fetch_sub(removed, Ordering::Relaxed);
        self.bytes.fetch_sub(freed, Ordering::Relaxed);
    }

    /// Evict least recently used entries until both the count and the bytes
    /// are a sixteenth below their bounds. Skipped if another thread is
    /// evicting.
    fn evict(&self) {
        let Ok(_guard) = self.evicting.try_lock() else { return };
        let (len_target, bytes_target) = (self.capacity - self.capacity / 16, self.max_bytes - self.max_bytes / 16);
        if self.len() <= self.capacity && self.bytes() <= self.max_bytes {
            return;
        }
        let mut ages: Vec<(u64, CacheKey)> =
            self.map.iter().map(|e| (e.value().last_used.load(Ordering::Relaxed), *e.key())).collect();
        ages.sort_unstable_by_key(|(age, _)| *age);
        for (age, key) in &ages {
            if self.len() <= len_target && self.bytes() <= bytes_target {
                break;
            }
            // Spare an entry used since the scan.
            if let Some((_, slot)) = self.map.remove_if(key, |_, slot| slot.last_used.load(Ordering::Relaxed) == *age) {
                self.len.fetch_sub(1, Ordering::Relaxed);
                self.bytes.fetch_sub(as_i64(slot.size), Ordering::Relaxed);
            }
        }
    }
}

fn as_i64(size: usize) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}
