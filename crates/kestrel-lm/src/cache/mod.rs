//! The LM response cache: memory (bounded in entries and bytes, approximate
//! LRU), then optionally a shared Redis level (feature `redis`,
//! [`RedisConfig`]: several processes or machines share responses, and fetch
//! each missing one once between them), then disk (one content-addressed
//! file per entry, shared across runs and processes, bounded in bytes), with
//! single flight for concurrent misses.
//!
//! - [`CacheKey`]: SHA-256 of a canonical, versioned serialization of the
//!   model and the request's answer-determining fields ([`key`]).
//! - [`Cache::get_or_fetch`]: memory (synchronous: a hit never leaves the
//!   task), then disk (read on tokio's blocking pool, promoting into memory),
//!   then one fetch per key however many callers miss at once. Disk writes
//!   run on the blocking pool too — except with
//!   [`CacheConfig::write_through`] (or `durable_writes`): a fetched response
//!   is written (and, durable, synced) on the calling thread before any
//!   caller sees it (resumable runs: a kill never loses a used answer).
//! - The Redis level (`redis.rs`): looked up after a local miss; a hit is
//!   promoted into memory and disk. On a miss everywhere the fetching call
//!   takes a short lock key (`SET NX PX`), so another process missing the
//!   same key waits for this one's answer instead of paying for it again.
//!   Redis errors or timeouts never fail a call: the level steps aside with
//!   a warning and is retried later.
//! - Size limits: [`CacheConfig::memory_max_bytes`] (256 MiB by default) and
//!   [`CacheConfig::disk_size_limit_bytes`] (10 GB by default; least recently
//!   used entries deleted by background sweeps safe across processes, see
//!   `disk_limit.rs`).
//! - Disk entries are written atomically (temp file, rename; `sync_data`
//!   first with [`CacheConfig::durable_writes`]) and checksummed; a damaged
//!   entry is a miss, never an error.
//!
//! Disk layout (format 1): `<dir>/v1/<2 hex>/<64 hex of the key>.json`, each
//! file `{"format":1,"key":"<hex>","payload":<LmResponse>,
//! "sha256":"<hex of the payload bytes>"}`; temp files `.tmp-*.partial` beside them are
//! ignored. The key format is documented in [`key`].
//!
//! Hits are served with `cache_hit = true`, zero usage and a zero cost (when
//! a cost was known): the caller did not pay for them.
//!
//! Why files and not an embedded database: one file per entry needs no lock
//! to read or write, so any number of processes (parallel evaluation
//! workers, notebooks, CI shards) share one directory safely — rename is
//! atomic on every platform we target. redb locks its database file to one
//! process, sled is unmaintained, and SQLite would add a C dependency for
//! what is a key–value store of immutable values.

mod config;
mod disk;
mod disk_limit;
pub mod key;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod redis_config;
mod shared;
mod single_flight;
mod stats;

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kestrel_core::Usage;

use self::disk::{DiskLevel, DiskRead};
use self::memory::MemoryLevel;
use self::shared::{SharedLevel, SharedLookup, release};
use self::single_flight::{Flights, Joined};
use self::stats::Counters;
use crate::error::LmError;
use crate::request::LmResponse;

pub use self::config::{
    CACHE_DIR_ENV, CacheConfig, DEFAULT_DISK_SIZE_LIMIT_BYTES, DEFAULT_MEMORY_CAPACITY, DEFAULT_MEMORY_MAX_BYTES,
};
pub use self::disk_limit::DiskUsage;
pub use self::key::CacheKey;
pub use self::redis_config::{DEFAULT_REDIS_PREFIX, RedisConfig};
pub use self::stats::CacheStats;

/// The LM response cache. Cheap to clone (an `Arc`); clones share levels,
/// flights and counters.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    memory: Option<MemoryLevel>,
    disk: Option<DiskLevel>,
    shared: SharedLevel,
    flights: Flights,
    counters: Counters,
    /// Write-through (`CacheConfig::write_through`, implied by
    /// `durable_writes`): fetched responses are on disk before anyone uses
    /// them.
    write_through: bool,
    on_durable_write: Option<crate::journal::DurableHook>,
}

impl Cache {
    /// Open a cache. With the disk level on, creates its directory; a
    /// directory that cannot be created or written is
    /// [`LmError::Config`] naming the path.
    pub fn new(config: CacheConfig) -> Result<Cache, LmError> {
        let memory = config.memory_enabled().then(|| MemoryLevel::new(config.memory_capacity, config.memory_max_bytes));
        let disk = config
            .resolved_dir()
            .map(|dir| DiskLevel::open(dir, config.durable_writes, config.disk_size_limit_bytes))
            .transpose()?;
        let shared = SharedLevel::open(config.redis.as_ref())?;
        let write_through = (config.write_through || config.durable_writes) && disk.is_some();
        let inner = Inner {
            memory,
            disk,
            shared,
            flights: Flights::default(),
            counters: Counters::default(),
            write_through,
            on_durable_write: config.on_durable_write.clone(),
        };
        Ok(Cache { inner: Arc::new(inner) })
    }

    /// The cached response for `key`, else the result of `fetch`.
    ///
    /// A hit (memory, or disk — then promoted into memory) is marked
    /// `cache_hit` with zero usage. On a miss the first caller runs `fetch`
    /// and gets its fresh response, which is stored in both levels; callers
    /// arriving with the same key meanwhile wait and get the same outcome (a
    /// success marked as a hit, or the error). Errors are never stored. If
    /// the fetching caller is cancelled, a waiter takes over. With both
    /// levels off, `fetch` is simply run.
    pub async fn get_or_fetch<F, Fut>(&self, key: CacheKey, fetch: F) -> Result<LmResponse, LmError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<LmResponse, LmError>>,
    {
        let inner = &self.inner;
        if !inner.enabled() {
            Counters::bump(&inner.counters.misses);
            return fetch().await;
        }
        if let Some(hit) = inner.memory_get(&key) {
            return Ok(hit);
        }
        loop {
            match inner.flights.join(key) {
                Joined::Waiter(waiter) => {
                    if let Some(outcome) = waiter.wait().await {
                        Counters::bump(&inner.counters.coalesced);
                        return outcome;
                    }
                    // The leader was cancelled: look again, then join again.
                    if let Some(hit) = inner.memory_get(&key) {
                        return Ok(hit);
                    }
                }
                Joined::Leader(leader) => {
                    // A flight that just ended may have stored the answer.
                    let found = match inner.memory_get(&key) {
                        Some(hit) => Some(hit),
                        None => self.disk_get_off_thread(key).await,
                    };
                    if let Some(hit) = found {
                        leader.publish(Ok(hit.clone()));
                        return Ok(hit);
                    }
                    // The shared level (Redis): another process's answer,
                    // or the cross-process lock to fetch it here.
                    let lock = match inner.shared.lookup(&key).await {
                        SharedLookup::Hit { response, waited } => {
                            Counters::bump(if waited {
                                &inner.counters.shared_waits
                            } else {
                                &inner.counters.shared_hits
                            });
                            let hit = as_hit(response.clone());
                            if let Some(memory) = &inner.memory {
                                memory.insert(key, hit.clone());
                            }
                            leader.publish(Ok(hit.clone()));
                            self.write_disk_off_thread(key, &response).await;
                            return Ok(hit);
                        }
                        SharedLookup::Corrupt(lock) => {
                            Counters::bump(&inner.counters.corrupt_entries);
                            lock
                        }
                        SharedLookup::Fetch(lock) => lock,
                    };
                    Counters::bump(&inner.counters.misses);
                    let outcome = fetch().await;
                    match &outcome {
                        Ok(response) => {
                            if inner.write_through {
                                // On disk before anyone uses it: written
                                // (synced if durable) here, no await point
                                // between the answer and the write (a
                                // cancelled caller cannot skip it).
                                inner.write_disk(&key, response);
                                if let Some(hook) = &inner.on_durable_write {
                                    hook.call(crate::journal::DurableWrite::CacheEntry);
                                }
                            }
                            let hit = as_hit(response.clone());
                            if let Some(memory) = &inner.memory {
                                memory.insert(key, hit.clone());
                            }
                            Counters::bump(&inner.counters.writes);
                            leader.publish(Ok(hit));
                            // Waiters are served; late arrivals still find
                            // this flight until the shared and disk writes
                            // are done.
                            inner.shared.store(&key, response).await;
                            release(lock).await;
                            if !inner.write_through {
                                self.write_disk_off_thread(key, response).await;
                            }
                        }
                        Err(error) => {
                            leader.publish(Err(error.clone()));
                            release(lock).await;
                        }
                    }
                    drop(leader);
                    return outcome;
                }
            }
        }
    }

    /// The cached response for `key` (memory, then disk), marked as a hit.
    /// A blocking call (the disk read runs on the calling thread): async
    /// code should use [`Cache::get_or_fetch`], which reads the disk on the
    /// runtime's blocking pool.
    pub fn get(&self, key: &CacheKey) -> Option<LmResponse> {
        let inner = &self.inner;
        let hit = inner.memory_get(key).or_else(|| inner.disk_get(key));
        if hit.is_none() {
            Counters::bump(&inner.counters.misses);
        }
        hit
    }

    /// Store `response` under `key` in both levels. A disk failure is logged
    /// (`tracing::warn`), never returned.
    pub fn put(&self, key: CacheKey, response: &LmResponse) {
        let inner = &self.inner;
        if !inner.enabled() {
            return;
        }
        if let Some(memory) = &inner.memory {
            memory.insert(key, as_hit(response.clone()));
        }
        Counters::bump(&inner.counters.writes);
        inner.write_disk(&key, response);
    }

    /// Empty both levels (on disk: every entry and leftover temp file of
    /// this directory, whichever process wrote it).
    pub fn clear(&self) -> Result<(), LmError> {
        if let Some(memory) = &self.inner.memory {
            memory.clear();
        }
        if let Some(disk) = &self.inner.disk {
            disk.clear().map_err(|e| {
                LmError::Config(format!("cannot clear the cache directory {}: {e}", disk.dir().display()))
            })?;
        }
        Ok(())
    }

    /// The counters since this cache was opened (shared by clones).
    pub fn stats(&self) -> CacheStats {
        let mut stats = self.inner.counters.snapshot();
        stats.shared_errors = self.inner.shared.errors();
        stats
    }

    /// True when the shared (Redis) level is configured.
    pub fn has_shared_level(&self) -> bool {
        self.inner.shared.is_on()
    }

    /// The disk level's directory, if the disk level is on.
    pub fn dir(&self) -> Option<&Path> {
        self.inner.disk.as_ref().map(DiskLevel::dir)
    }

    /// The file that holds (or would hold) `key`'s entry, if the disk level
    /// is on.
    pub fn entry_path(&self, key: &CacheKey) -> Option<PathBuf> {
        self.inner.disk.as_ref().map(|disk| disk.entry_path(key))
    }

    /// Number of responses in memory.
    pub fn memory_len(&self) -> usize {
        self.inner.memory.as_ref().map_or(0, MemoryLevel::len)
    }

    /// Approximate bytes of the responses in memory (what
    /// [`CacheConfig::memory_max_bytes`] bounds).
    pub fn memory_bytes(&self) -> usize {
        self.inner.memory.as_ref().map_or(0, MemoryLevel::bytes)
    }

    /// Run the disk level's size sweep now, on this thread (it lists the
    /// whole directory: call it from a blocking context): delete least
    /// recently used entries until the directory is within
    /// [`CacheConfig::disk_size_limit_bytes`]. `None` without a disk level
    /// or a limit. Sweeps also run by themselves in the background as
    /// entries are written.
    pub fn enforce_disk_limit(&self) -> Result<Option<DiskUsage>, LmError> {
        let Some(disk) = &self.inner.disk else { return Ok(None) };
        disk.enforce_limit()
            .map_err(|e| LmError::Config(format!("cannot sweep the cache directory {}: {e}", disk.dir().display())))
    }

    /// A disk lookup on tokio's blocking pool when inside a runtime (file
    /// reads — and removing a corrupt entry — block), else inline.
    async fn disk_get_off_thread(&self, key: CacheKey) -> Option<LmResponse> {
        self.inner.disk.as_ref()?;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let inner = Arc::clone(&self.inner);
                match runtime.spawn_blocking(move || inner.disk_get(&key)).await {
                    Ok(hit) => hit,
                    Err(e) => {
                        tracing::warn!(key = %key, error = %e, "LM cache: disk read task failed; treating as a miss");
                        None
                    }
                }
            }
            Err(_) => self.inner.disk_get(&key),
        }
    }

    /// Write to disk on tokio's blocking pool when inside a runtime (file
    /// system calls block; a durable write takes milliseconds), else inline.
    async fn write_disk_off_thread(&self, key: CacheKey, response: &LmResponse) {
        if self.inner.disk.is_none() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let inner = Arc::clone(&self.inner);
                let response = response.clone();
                let write = runtime.spawn_blocking(move || inner.write_disk(&key, &response));
                if let Err(e) = write.await {
                    tracing::warn!(key = %key, error = %e, "LM cache: disk write task failed");
                }
            }
            Err(_) => self.inner.write_disk(&key, response),
        }
    }
}

impl Inner {
    fn enabled(&self) -> bool {
        self.memory.is_some() || self.disk.is_some() || self.shared.is_on()
    }

    fn memory_get(&self, key: &CacheKey) -> Option<LmResponse> {
        let hit = self.memory.as_ref()?.get(key)?;
        Counters::bump(&self.counters.memory_hits);
        Some(hit)
    }

    /// A disk hit, promoted into memory.
    fn disk_get(&self, key: &CacheKey) -> Option<LmResponse> {
        match self.disk.as_ref()?.read(key) {
            DiskRead::Hit(response) => {
                Counters::bump(&self.counters.disk_hits);
                let hit = as_hit(response);
                if let Some(memory) = &self.memory {
                    memory.insert(*key, hit.clone());
                }
                Some(hit)
            }
            DiskRead::Absent => None,
            DiskRead::Corrupt => {
                Counters::bump(&self.counters.corrupt_entries);
                None
            }
        }
    }

    fn write_disk(&self, key: &CacheKey, response: &LmResponse) {
        let Some(disk) = &self.disk else { return };
        if let Err(e) = disk.write(key, response) {
            let path = disk.entry_path(key);
            tracing::warn!(path = %path.display(), error = %e, "LM cache: cannot write entry");
        }
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("memory", &self.inner.memory.is_some())
            .field("memory_len", &self.memory_len())
            .field("dir", &self.dir())
            .field("stats", &self.stats())
            .finish()
    }
}

/// `response` as served from the cache: marked, free.
fn as_hit(mut response: LmResponse) -> LmResponse {
    response.cache_hit = true;
    response.usage = Usage::default();
    response.cost_usd = response.cost_usd.map(|_| 0.0);
    response
}
