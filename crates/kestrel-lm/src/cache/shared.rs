//! The shared level as the cache sees it: the Redis level with the `redis`
//! feature, nothing without it (so `Cache::get_or_fetch` has one code path).

use super::key::CacheKey;
use crate::request::LmResponse;

#[cfg(feature = "redis")]
pub(crate) use self::with_redis::{SharedGuard, SharedLevel};
#[cfg(not(feature = "redis"))]
pub(crate) use self::without_redis::{SharedGuard, SharedLevel};

/// What the shared level says about a key missing locally.
#[derive(Debug)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // only `Fetch` without Redis
pub(crate) enum SharedLookup {
    /// Another process stored it (now, or while we waited for its fetch):
    /// the raw response, and whether we waited for it.
    Hit { response: LmResponse, waited: bool },
    /// Fetch it here (holding the cross-process lock, if one was taken).
    Fetch(Option<SharedGuard>),
    /// The stored entry was damaged (deleted); fetch it here.
    Corrupt(Option<SharedGuard>),
}

#[cfg(feature = "redis")]
mod with_redis {
    use super::super::redis::{Lock, LockGuard, RedisLevel, RedisRead};
    use super::{CacheKey, LmResponse, SharedLookup};
    use crate::cache::redis_config::RedisConfig;
    use crate::error::LmError;

    pub(crate) type SharedGuard = LockGuard;

    /// The Redis level, if configured.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct SharedLevel(Option<RedisLevel>);

    impl SharedLevel {
        pub(crate) fn open(config: Option<&RedisConfig>) -> Result<Self, LmError> {
            config.cloned().map(RedisLevel::open).transpose().map(SharedLevel)
        }

        pub(crate) fn is_on(&self) -> bool {
            self.0.is_some()
        }

        pub(crate) fn errors(&self) -> u64 {
            self.0.as_ref().map_or(0, RedisLevel::errors)
        }

        /// Look `key` up; on a miss take the fetch lock, or wait for the
        /// process holding it.
        pub(crate) async fn lookup(&self, key: &CacheKey) -> SharedLookup {
            let Some(redis) = &self.0 else { return SharedLookup::Fetch(None) };
            let corrupt = match redis.get(key).await {
                RedisRead::Hit(response) => return SharedLookup::Hit { response, waited: false },
                RedisRead::Unavailable => return SharedLookup::Fetch(None),
                RedisRead::Absent => false,
                RedisRead::Corrupt => true,
            };
            let guard = match redis.lock(key).await {
                Lock::Acquired(guard) => Some(guard),
                Lock::Unavailable => None,
                Lock::Held => match redis.wait_for(key).await {
                    Ok(response) => return SharedLookup::Hit { response, waited: true },
                    Err(guard) => guard,
                },
            };
            if corrupt { SharedLookup::Corrupt(guard) } else { SharedLookup::Fetch(guard) }
        }

        /// Store a fresh response.
        pub(crate) async fn store(&self, key: &CacheKey, response: &LmResponse) {
            if let Some(redis) = &self.0 {
                redis.put(key, response).await;
            }
        }
    }

    /// Release a fetch lock.
    pub(crate) async fn release(guard: Option<SharedGuard>) {
        if let Some(guard) = guard {
            guard.release().await;
        }
    }
}

#[cfg(not(feature = "redis"))]
mod without_redis {
    use super::{CacheKey, LmResponse, SharedLookup};
    use crate::cache::redis_config::RedisConfig;
    use crate::error::LmError;

    /// No lock exists without the feature.
    #[derive(Debug)]
    pub(crate) enum SharedGuard {}

    /// No shared level.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct SharedLevel;

    impl SharedLevel {
        pub(crate) fn open(config: Option<&RedisConfig>) -> Result<Self, LmError> {
            match config {
                Some(config) => Err(LmError::Config(format!(
                    "a Redis cache level ({}) needs kestrel-lm built with the `redis` feature",
                    config.redacted_url()
                ))),
                None => Ok(SharedLevel),
            }
        }

        pub(crate) fn is_on(&self) -> bool {
            false
        }

        pub(crate) fn errors(&self) -> u64 {
            0
        }

        pub(crate) async fn lookup(&self, _key: &CacheKey) -> SharedLookup {
            SharedLookup::Fetch(None)
        }

        pub(crate) async fn store(&self, _key: &CacheKey, _response: &LmResponse) {}
    }

    pub(crate) async fn release(guard: Option<SharedGuard>) {
        if let Some(guard) = guard {
            match guard {}
        }
    }
}

#[cfg(feature = "redis")]
pub(crate) use self::with_redis::release;
#[cfg(not(feature = "redis"))]
pub(crate) use self::without_redis::release;

#[cfg(all(test, not(feature = "redis")))]
mod tests {
    use crate::cache::{Cache, CacheConfig, RedisConfig};
    use crate::error::LmError;

    #[test]
    fn a_redis_level_without_the_feature_is_a_config_error_naming_it() {
        let config = CacheConfig::memory_only().with_redis(RedisConfig::new("redis://u:pw@127.0.0.1:6379"));
        match Cache::new(config) {
            Err(LmError::Config(message)) => {
                assert!(message.contains("`redis` feature"), "{message}");
                assert!(!message.contains(":pw@"), "{message}");
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }
}
