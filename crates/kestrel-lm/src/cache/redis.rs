//! The optional shared level (feature `redis`): a Redis server between the
//! memory and the disk levels, so several processes — or machines —
//! compiling the same program share LM responses, and (with a short lock
//! key) fetch each missing one only once between them.
//!
//! # Layout
//!
//! - entry: `<prefix>v1:<64 hex of the key>` → the disk level's envelope
//!   (`{"format":1,"key":..,"payload":..,"sha256":..}`, checksummed the same
//!   way), optionally with a time to live;
//! - lock: `<prefix>lock:<64 hex>` → a token unique to the fetching call,
//!   set with `SET NX PX <lock_ttl>` and deleted (only by its owner, a small
//!   Lua script) once the entry is written.
//!
//! # Never a failed call
//!
//! Every Redis error, timeout (`RedisConfig::timeout`) or refused connection
//! makes the level step aside: the call goes on with the local levels and
//! the provider, a `tracing::warn!` says so once per outage, and Redis is
//! skipped for `RedisConfig::retry_after` before it is tried again (so an
//! outage costs one timeout per period, not per call). An entry that fails
//! its checksum is a miss. When Redis answers again, an `info` line says so.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::disk::{decode, encode};
use super::key::CacheKey;
use super::redis_config::RedisConfig;
use crate::error::LmError;
use crate::request::LmResponse;

/// Deletes the lock only if it still holds our token.
const UNLOCK_SCRIPT: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// What a read found.
#[derive(Debug)]
pub(crate) enum RedisRead {
    /// A valid entry.
    Hit(LmResponse),
    /// No entry.
    Absent,
    /// An entry that failed validation (deleted).
    Corrupt,
    /// Redis is not answering: go on without it.
    Unavailable,
}

/// The outcome of asking for the fetch lock of a key.
#[derive(Debug)]
pub(crate) enum Lock {
    /// This call fetches; the guard releases the lock (when dropped, at the
    /// latest).
    Acquired(LockGuard),
    /// Another process is fetching it.
    Held,
    /// Redis is not answering, or single flight is off: fetch locally.
    Unavailable,
}

/// The shared Redis level. Cheap to clone.
#[derive(Clone)]
pub(crate) struct RedisLevel {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    config: RedisConfig,
    /// While set and in the future, Redis is skipped.
    down_until: Mutex<Option<Instant>>,
    /// False during an outage (so it is logged once).
    healthy: AtomicBool,
    errors: AtomicU64,
    next_token: AtomicU64,
}

impl RedisLevel {
    /// The level for `config` (connects lazily, on first use). A URL that
    /// does not parse, or asks for TLS, is [`LmError::Config`].
    pub(crate) fn open(config: RedisConfig) -> Result<Self, LmError> {
        let bad = |why: String| LmError::Config(format!("Redis cache URL {}: {why}", config.redacted_url()));
        if config.url.starts_with("rediss://") {
            return Err(bad("TLS (rediss://) is not supported; use redis:// on a trusted network".into()));
        }
        let client = redis::Client::open(config.url.as_str()).map_err(|e| bad(e.to_string()))?;
        let inner = Inner {
            client,
            connection: OnceCell::new(),
            config,
            down_until: Mutex::new(None),
            healthy: AtomicBool::new(true),
            errors: AtomicU64::new(0),
            next_token: AtomicU64::new(0),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Redis failures seen so far (each made a call skip the level).
    pub(crate) fn errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    fn entry_key(&self, key: &CacheKey) -> String {
        format!("{}v1:{}", self.inner.config.prefix, key.to_hex())
    }

    fn lock_key(&self, key: &CacheKey) -> String {
        format!("{}lock:{}", self.inner.config.prefix, key.to_hex())
    }

    /// The entry of `key`.
    pub(crate) async fn get(&self, key: &CacheKey) -> RedisRead {
        let name = self.entry_key(key);
        let Some(bytes) = self.run("GET", redis::cmd("GET").arg(&name)).await else {
            return RedisRead::Unavailable;
        };
        let bytes: Option<Vec<u8>> = bytes;
        let Some(bytes) = bytes else { return RedisRead::Absent };
        match decode(key, &bytes) {
            Ok(response) => RedisRead::Hit(response),
            Err(why) => {
                tracing::warn!(key = %key, "LM cache: Redis entry is damaged ({why}); deleting it");
                let _: Option<i64> = self.run("DEL", redis::cmd("DEL").arg(&name)).await;
                RedisRead::Corrupt
            }
        }
    }

    /// Store `response` under `key` (a failure is logged, never returned).
    pub(crate) async fn put(&self, key: &CacheKey, response: &LmResponse) {
        let mut bytes = Vec::new();
        if let Err(e) = encode(key, response, &mut bytes) {
            tracing::warn!(key = %key, error = %e, "LM cache: cannot encode an entry for Redis");
            return;
        }
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.entry_key(key)).arg(bytes);
        if let Some(ttl) = self.inner.config.ttl {
            cmd.arg("PX").arg(millis(ttl));
        }
        let _: Option<redis::Value> = self.run("SET", &cmd).await;
    }

    /// Ask for the fetch lock of `key` (`SET NX PX`).
    pub(crate) async fn lock(&self, key: &CacheKey) -> Lock {
        let Some(ttl) = self.inner.config.lock_ttl else { return Lock::Unavailable };
        let token = format!("{}-{}", std::process::id(), self.inner.next_token.fetch_add(1, Ordering::Relaxed));
        let name = self.lock_key(key);
        let set = redis::cmd("SET").arg(&name).arg(&token).arg("NX").arg("PX").arg(millis(ttl)).clone();
        let reply: Option<Option<String>> = self.run("SET NX", &set).await;
        match reply {
            None => Lock::Unavailable,
            Some(Some(_)) => Lock::Acquired(LockGuard { level: Some(self.clone()), name, token }),
            Some(None) => Lock::Held,
        }
    }

    /// Wait (polling, 10 ms doubling to 200 ms) for another process to store
    /// `key`, at most the lock's lifetime. `Ok(hit)` when it did; `Err(lock)`
    /// when this call should fetch (with the lock if it could take it over).
    pub(crate) async fn wait_for(&self, key: &CacheKey) -> Result<LmResponse, Option<LockGuard>> {
        let patience = self.inner.config.lock_ttl.unwrap_or_default();
        let deadline = Instant::now() + patience;
        let mut delay = Duration::from_millis(10);
        loop {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(200));
            match self.get(key).await {
                RedisRead::Hit(response) => return Ok(response),
                RedisRead::Unavailable => return Err(None),
                RedisRead::Absent | RedisRead::Corrupt => {}
            }
            if Instant::now() >= deadline {
                tracing::warn!(key = %key, "LM cache: waited {patience:?} for another process's fetch; fetching here");
                return Err(None);
            }
            // The fetcher may have failed or died: take the lock over if free.
            match self.lock(key).await {
                Lock::Acquired(guard) => return Err(Some(guard)),
                Lock::Unavailable => return Err(None),
                Lock::Held => {}
            }
        }
    }

    /// The connection, unless Redis is being skipped after a failure.
    async fn connection(&self) -> Option<ConnectionManager> {
        let inner = &self.inner;
        if let Some(until) = *inner.down_until.lock().unwrap_or_else(PoisonError::into_inner) {
            if Instant::now() < until {
                return None;
            }
        }
        let timeout = inner.config.timeout;
        let connect = || async {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1)
                .set_max_delay(timeout);
            let manager = ConnectionManager::new_with_config(inner.client.clone(), config);
            match tokio::time::timeout(timeout * 2, manager).await {
                Ok(Ok(manager)) => Ok(manager),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no connection within {:?}", timeout * 2)),
            }
        };
        match inner.connection.get_or_try_init(connect).await {
            Ok(manager) => Some(manager.clone()),
            Err(why) => {
                self.failed("connect", &why);
                None
            }
        }
    }

    /// Run one command with the timeout; `None` (logged, Redis skipped for
    /// a while) on any failure.
    async fn run<T: redis::FromRedisValue>(&self, what: &str, cmd: &redis::Cmd) -> Option<T> {
        let mut connection = self.connection().await?;
        let timeout = self.inner.config.timeout;
        let reply = tokio::time::timeout(timeout, cmd.query_async::<T>(&mut connection)).await;
        match reply {
            Ok(Ok(value)) => {
                self.recovered();
                Some(value)
            }
            Ok(Err(e)) => {
                self.failed(what, &e.to_string());
                None
            }
            Err(_) => {
                self.failed(what, &format!("no answer within {timeout:?}"));
                None
            }
        }
    }

    async fn unlock(&self, name: &str, token: &str) {
        let script = redis::cmd("EVAL").arg(UNLOCK_SCRIPT).arg(1).arg(name).arg(token).clone();
        let _: Option<i64> = self.run("unlock", &script).await;
    }

    fn failed(&self, what: &str, why: &str) {
        let inner = &self.inner;
        inner.errors.fetch_add(1, Ordering::Relaxed);
        *inner.down_until.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Instant::now() + inner.config.retry_after);
        if inner.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                url = %inner.config.redacted_url(),
                "LM cache: Redis {what} failed ({why}); using the local levels, retrying Redis every {:?}",
                inner.config.retry_after
            );
        }
    }

    fn recovered(&self) {
        if !self.inner.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!(url = %self.inner.config.redacted_url(), "LM cache: Redis is answering again");
        }
    }
}

/// Holds a fetch lock; [`LockGuard::release`] deletes it (if still ours).
/// Dropped unreleased (the fetch was cancelled), it releases in the
/// background; failing that, the lock expires by itself.
#[derive(Debug)]
pub(crate) struct LockGuard {
    level: Option<RedisLevel>,
    name: String,
    token: String,
}

impl LockGuard {
    /// Delete the lock.
    pub(crate) async fn release(mut self) {
        if let Some(level) = self.level.take() {
            level.unlock(&self.name, &self.token).await;
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let Some(level) = self.level.take() else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (name, token) = (std::mem::take(&mut self.name), std::mem::take(&mut self.token));
            runtime.spawn(async move { level.unlock(&name, &token).await });
        }
    }
}

impl std::fmt::Debug for RedisLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLevel").field("config", &self.inner.config).field("errors", &self.errors()).finish()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
