//! The memory level: a sharded concurrent map (`dashmap`) bounded by an
//! approximate LRU.
//!
//! Every entry carries a "last used" tick from a global clock, bumped on each
//! hit. When an insert takes the map past its capacity, one thread (the
//! others skip) scans the map and evicts the least recently used
//! sixteenth of the capacity plus the overshoot, so the scan is amortized
//! over many inserts (a constant per insert). A hit is one shard read lock,
//! two relaxed atomics and a clone of the response.

use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};

use dashmap::DashMap;

use super::key::CacheKey;
use crate::request::LmResponse;

/// One cached response and when it was last used.
#[derive(Debug)]
struct Slot {
    response: LmResponse,
    last_used: AtomicU64,
}

/// A bounded in-memory map from keys to responses (stored as served on a
/// hit).
#[derive(Debug)]
pub(crate) struct MemoryLevel {
    map: DashMap<CacheKey, Slot>,
    capacity: usize,
    clock: AtomicU64,
    /// Signed: a `clear` racing an insert may briefly count below zero.
    len: AtomicIsize,
    evicting: Mutex<()>,
}

impl MemoryLevel {
    /// An empty level holding at most about `capacity` responses (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: DashMap::new(),
            capacity: capacity.max(1),
            clock: AtomicU64::new(0),
            len: AtomicIsize::new(0),
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

    /// Store `response` under `key`, evicting old entries past capacity.
    pub(crate) fn insert(&self, key: CacheKey, response: LmResponse) {
        let slot = Slot { response, last_used: AtomicU64::new(self.tick()) };
        if self.map.insert(key, slot).is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
            if self.len() > self.capacity {
                self.evict();
            }
        }
    }

    /// Number of responses held.
    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.len.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Drop every response.
    pub(crate) fn clear(&self) {
        let mut removed = 0isize;
        self.map.retain(|_, _| {
            removed += 1;
            false
        });
        self.len.fetch_sub(removed, Ordering::Relaxed);
    }

    /// Evict the least recently used entries: the overshoot plus a
    /// sixteenth of the capacity. Skipped if another thread is evicting.
    fn evict(&self) {
        let Ok(_guard) = self.evicting.try_lock() else { return };
        let len = self.len();
        if len <= self.capacity {
            return;
        }
        let target = (len - self.capacity + self.capacity / 16).max(1);
        let mut ages: Vec<(u64, CacheKey)> =
            self.map.iter().map(|e| (e.value().last_used.load(Ordering::Relaxed), *e.key())).collect();
        let target = target.min(ages.len());
        if target == 0 {
            return;
        }
        if target < ages.len() {
            ages.select_nth_unstable_by_key(target - 1, |(age, _)| *age);
        }
        for (age, key) in &ages[..target] {
            // Spare an entry used since the scan.
            if self.map.remove_if(key, |_, slot| slot.last_used.load(Ordering::Relaxed) == *age).is_some() {
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}
