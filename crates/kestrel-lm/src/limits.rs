//! Optional rate limits per LM: requests per minute, tokens per minute
//! (`governor`'s GCRA limiters) and a cap on requests in flight (a tokio
//! semaphore). Every task using one LM shares its limits.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::request::LmRequest;

/// Limits for one LM. All are off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests started per minute.
    pub requests_per_minute: Option<NonZeroU32>,
    /// Prompt tokens sent per minute (estimated as characters / 4 before the
    /// call, since the real count is only known after it).
    pub tokens_per_minute: Option<NonZeroU32>,
    /// Requests in flight at once.
    pub max_in_flight: Option<usize>,
}

impl RateLimits {
    /// Builder: requests per minute (0 = unlimited).
    pub fn requests_per_minute(mut self, rpm: u32) -> Self {
        self.requests_per_minute = NonZeroU32::new(rpm);
        self
    }

    /// Builder: tokens per minute (0 = unlimited).
    pub fn tokens_per_minute(mut self, tpm: u32) -> Self {
        self.tokens_per_minute = NonZeroU32::new(tpm);
        self
    }

    /// Builder: requests in flight (0 = unlimited).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = (n > 0).then_some(n);
        self
    }
}

/// The live limiters of one LM.
#[derive(Debug)]
pub(crate) struct Limiter {
    requests: Option<DefaultDirectRateLimiter>,
    tokens: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
    in_flight: Option<Arc<Semaphore>>,
}

/// Held while a request is in flight.
#[derive(Debug)]
pub(crate) struct Permit {
    _slot: Option<OwnedSemaphorePermit>,
}

impl Limiter {
    pub(crate) fn new(limits: RateLimits) -> Self {
        Self {
            requests: limits.requests_per_minute.map(|rpm| RateLimiter::direct(Quota::per_minute(rpm))),
            tokens: limits.tokens_per_minute.map(|tpm| (RateLimiter::direct(Quota::per_minute(tpm)), tpm)),
            in_flight: limits.max_in_flight.map(|n| Arc::new(Semaphore::new(n))),
        }
    }

    /// Wait until `request` may be sent.
    pub(crate) async fn acquire(&self, request: &LmRequest) -> Permit {
        let slot = match &self.in_flight {
            // The semaphore is never closed, so acquiring only fails if it were.
            Some(sem) => Arc::clone(sem).acquire_owned().await.ok(),
            None => None,
        };
        if let Some(limiter) = &self.requests {
            limiter.until_ready().await;
        }
        if let Some((limiter, burst)) = &self.tokens {
            let estimate = estimate_prompt_tokens(request).clamp(1, burst.get());
            if let Some(n) = NonZeroU32::new(estimate) {
                // `n` never exceeds the burst, so capacity is always sufficient.
                let _ = limiter.until_n_ready(n).await;
            }
        }
        Permit { _slot: slot }
    }
}

/// A rough prompt size in tokens: characters / 4, the usual rule of thumb.
pub(crate) fn estimate_prompt_tokens(request: &LmRequest) -> u32 {
    let chars: usize = request.messages.iter().map(|m| m.content.chars().count()).sum();
    u32::try_from(chars / 4).unwrap_or(u32::MAX)
}
