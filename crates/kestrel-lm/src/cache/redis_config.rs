//! [`RedisConfig`]: where the optional shared Redis level lives and how
//! patient it is. The type exists with or without the `redis` feature (so a
//! [`super::CacheConfig`] is the same type everywhere); opening a cache with
//! a Redis level needs the feature.

use std::fmt;
use std::time::Duration;

/// Default prefix of every key the cache writes in Redis.
pub const DEFAULT_REDIS_PREFIX: &str = "kestrel:lm:";

/// The shared Redis level: a URL (`redis://host:port/db`, plain TCP; no
/// TLS), a key prefix, an optional time to live, and the timeouts that keep
/// a slow or vanished Redis from slowing LM calls down.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Prefix of every key (default [`DEFAULT_REDIS_PREFIX`]): entries are
    /// `<prefix>v1:<64 hex of the key>`, locks `<prefix>lock:<64 hex>`.
    pub prefix: String,
    /// Entries expire after this long (`None`, the default: never; Redis's
    /// own `maxmemory` policy then bounds the level).
    pub ttl: Option<Duration>,
    /// Longest wait for one Redis command or connection before Redis is
    /// treated as gone (default 250 ms).
    pub timeout: Duration,
    /// How long Redis is skipped after a failure before it is tried again
    /// (default 2 s): an outage costs one timeout per period, not one per
    /// call.
    pub retry_after: Duration,
    /// Cross-process single flight: the lifetime of the lock key (`SET NX
    /// PX`) a process holds while it fetches a missing entry (default 30 s;
    /// `None` turns cross-process single flight off). Other processes wait
    /// for the entry at most this long, then fetch it themselves; a
    /// fetcher that dies leaves a lock that expires by itself.
    pub lock_ttl: Option<Duration>,
}

impl RedisConfig {
    /// The level at `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: DEFAULT_REDIS_PREFIX.to_string(),
            ttl: None,
            timeout: Duration::from_millis(250),
            retry_after: Duration::from_secs(2),
            lock_ttl: Some(Duration::from_secs(30)),
        }
    }

    /// Builder: the key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Builder: entries expire after `ttl`.
    pub fn ttl(mut self, ttl: Option<Duration>) -> Self {
        self.ttl = ttl;
        self
    }

    /// Builder: the per-command timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builder: how long to skip Redis after a failure.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Builder: the lock lifetime (`None`: no cross-process single flight).
    pub fn lock_ttl(mut self, lock_ttl: Option<Duration>) -> Self {
        self.lock_ttl = lock_ttl;
        self
    }

    /// The URL with any password replaced by `***` (for logs and `Debug`).
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

/// `scheme://user:secret@host` → `scheme://user:***@host`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => format!("{scheme}://***@{host}"),
    }
}

/// The password never shows.
impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .field("retry_after", &self.retry_after)
            .field("lock_ttl", &self.lock_ttl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_in_debug_output() {
        let config = RedisConfig::new("redis://cache:s3cret@10.0.0.5:6379/2");
        assert_eq!(config.redacted_url(), "redis://cache:***@10.0.0.5:6379/2");
        assert!(!format!("{config:?}").contains("s3cret"));
        assert_eq!(RedisConfig::new("redis://:pw@h:1").redacted_url(), "redis://:***@h:1");
        assert_eq!(RedisConfig::new("redis://127.0.0.1:6379").redacted_url(), "redis://127.0.0.1:6379");
    }
}
