//! [`CacheConfig`]: which levels are on, how big memory may grow, and where
//! the disk level lives.

use std::path::PathBuf;

use super::redis_config::RedisConfig;
use crate::journal::DurableHook;

/// Environment variable that overrides the default cache directory.
pub const CACHE_DIR_ENV: &str = "KESTREL_CACHE_DIR";

/// Default number of responses kept in memory.
pub const DEFAULT_MEMORY_CAPACITY: usize = 100_000;

/// Default byte budget of the memory level: 256 MiB (responses' text and
/// strings plus a per-entry overhead, estimated).
pub const DEFAULT_MEMORY_MAX_BYTES: usize = 256 * 1024 * 1024;

/// Default byte limit of the disk level: 10 GB. DSPy's is 30 GB; a third of
/// it still holds millions of typical responses (a few KB each) while
/// staying a modest share of a laptop's disk.
pub const DEFAULT_DISK_SIZE_LIMIT_BYTES: u64 = 10_000_000_000;

/// Cache settings. The default is both levels on, at most 100,000 responses
/// and 256 MiB in memory, and at most 10 GB on disk in the default directory
/// (see [`CacheConfig::resolved_dir`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Keep responses in memory (default true).
    pub memory: bool,
    /// Most responses kept in memory; the least recently used go first
    /// (default 100,000; 0 turns the memory level off).
    pub memory_capacity: usize,
    /// Most bytes of responses kept in memory (estimated: their text and
    /// strings plus a per-entry overhead); the least recently used go first
    /// (default 256 MiB, [`DEFAULT_MEMORY_MAX_BYTES`]).
    pub memory_max_bytes: usize,
    /// Keep responses on disk, shared across runs and processes (default
    /// true).
    pub disk: bool,
    /// The disk level's directory; `None` means the default (see
    /// [`CacheConfig::resolved_dir`]).
    pub dir: Option<PathBuf>,
    /// Sync each disk entry to the device before it becomes visible (about
    /// 1 ms per uncached call on a typical disk; default false). Entries are
    /// atomic either way — a killed process never leaves a partial entry —
    /// this only guards recent entries against a power cut (without it such
    /// an entry may be lost, and is then a miss, never an error).
    /// The directory is synced after the rename too. Implies
    /// [`CacheConfig::write_through`].
    pub durable_writes: bool,
    /// Write a fetched response to disk on the calling thread before any
    /// caller sees it, with no await point in between (default false: the
    /// write runs on the blocking pool while waiters are already served).
    /// A process killed at any moment then never loses a response it used —
    /// what resumable compiles rely on (`docs/RELIABILITY.md`, "Crash and
    /// resume"); add [`CacheConfig::durable_writes`] to survive a power cut
    /// too (a sync of about 5–10 ms per uncached call).
    pub write_through: bool,
    /// Called after each write-through disk write, before the response is
    /// used (default `None`). Crash tests kill the process here.
    pub on_durable_write: Option<DurableHook>,
    /// Most bytes the disk level keeps (DSPy's `disk_size_limit_bytes`;
    /// default 10 GB, [`DEFAULT_DISK_SIZE_LIMIT_BYTES`]; `None`: no limit).
    /// Past it the least recently used entries are deleted by a background
    /// sweep; see `cache/disk_limit.rs` for the policy and how several
    /// processes share one directory.
    pub disk_size_limit_bytes: Option<u64>,
    /// The shared Redis level between memory and disk (default `None`;
    /// needs the `redis` feature, see [`RedisConfig`]).
    pub redis: Option<RedisConfig>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            memory: true,
            memory_capacity: DEFAULT_MEMORY_CAPACITY,
            memory_max_bytes: DEFAULT_MEMORY_MAX_BYTES,
            disk: true,
            dir: None,
            durable_writes: false,
            write_through: false,
            on_durable_write: None,
            disk_size_limit_bytes: Some(DEFAULT_DISK_SIZE_LIMIT_BYTES),
            redis: None,
        }
    }
}

impl CacheConfig {
    /// Memory only: nothing survives the process.
    pub fn memory_only() -> Self {
        Self { disk: false, ..Self::default() }
    }

    /// No cache: every call reaches the provider.
    pub fn disabled() -> Self {
        Self { memory: false, disk: false, ..Self::default() }
    }

    /// True when at least one level is on.
    pub fn any_level(&self) -> bool {
        self.memory || self.disk || self.redis.is_some()
    }

    /// Builder: the disk level's directory (does not turn the disk level on
    /// if it is off).
    pub fn with_dir(mut self, dir: PathBuf) -> Self {
        self.dir = Some(dir);
        self
    }

    /// Builder: sync each disk entry before it becomes visible (see
    /// [`CacheConfig::durable_writes`]).
    pub fn durable(mut self, on: bool) -> Self {
        self.durable_writes = on;
        self
    }

    /// Builder: write fetched responses to disk before anyone uses them (see
    /// [`CacheConfig::write_through`]).
    pub fn write_through(mut self, on: bool) -> Self {
        self.write_through = on;
        self
    }

    /// Builder: a hook called after each write-through disk write (see
    /// [`CacheConfig::on_durable_write`]).
    pub fn on_durable_write(mut self, hook: DurableHook) -> Self {
        self.on_durable_write = Some(hook);
        self
    }

    /// Builder: the disk level's byte limit (`None`: unlimited).
    pub fn disk_size_limit_bytes(mut self, limit: Option<u64>) -> Self {
        self.disk_size_limit_bytes = limit;
        self
    }

    /// Builder: a shared Redis level between memory and disk (needs the
    /// `redis` feature; without it opening the cache is an
    /// `LmError::Config`).
    pub fn with_redis(mut self, redis: RedisConfig) -> Self {
        self.redis = Some(redis);
        self
    }

    /// Builder: the memory level's byte budget.
    pub fn memory_max_bytes(mut self, bytes: usize) -> Self {
        self.memory_max_bytes = bytes;
        self
    }

    /// The directory the disk level uses, `None` when it is off: `dir` if
    /// set, else `$KESTREL_CACHE_DIR` if set and not empty, else
    /// `<user cache dir>/kestrel/lm` (`~/.cache/kestrel/lm` on Linux), else
    /// `./.kestrel-cache`. The environment is read at each call.
    pub fn resolved_dir(&self) -> Option<PathBuf> {
        if !self.disk {
            return None;
        }
        if let Some(dir) = &self.dir {
            return Some(dir.clone());
        }
        if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir));
        }
        Some(match dirs::cache_dir() {
            Some(base) => base.join("kestrel").join("lm"),
            None => PathBuf::from(".kestrel-cache"),
        })
    }

    /// True when the memory level is on (enabled with a non-zero capacity
    /// and byte budget).
    pub(crate) fn memory_enabled(&self) -> bool {
        self.memory && self.memory_capacity > 0 && self.memory_max_bytes > 0
    }
}
