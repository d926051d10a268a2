//! Retries with exponential backoff and jitter (the `backon` crate), honouring
//! the provider's `Retry-After`.
//!
//! Rate limits (429), server errors (5xx), timeouts, dropped connections and
//! unreadable bodies are retried; auth, bad-request and context-window errors
//! fail at once ([`LmError::is_retryable`]). DSPy's default of 3 retries is
//! kept.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use crate::error::LmError;

/// How failed calls are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (DSPy's `num_retries`, default 3).
    pub num_retries: u32,
    /// Delay before the first retry (default 1 s); doubled each time.
    pub initial_delay: Duration,
    /// Largest delay between attempts (default 60 s).
    pub max_delay: Duration,
    /// Randomize delays so many clients do not retry in lock step.
    pub jitter: bool,
    /// Cap on a provider's `Retry-After` (default 120 s).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            num_retries: 3,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            jitter: true,
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self { num_retries: 0, ..Self::default() }
    }

    /// Builder: number of retries (DSPy's `num_retries`).
    pub fn num_retries(mut self, n: u32) -> Self {
        self.num_retries = n;
        self
    }

    /// Builder: first delay (later ones double, up to `max_delay`).
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Builder: largest delay.
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Run `attempt` until it succeeds, fails with a non-retryable error, or
    /// the retries are spent (then the last error is returned). Each retry
    /// waits the backoff delay, or the provider's `Retry-After` when it sent
    /// one.
    pub async fn run<T, F, Fut>(&self, attempt: F) -> Result<T, LmError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, LmError>>,
    {
        self.run_while(attempt, || true).await
    }

    /// [`RetryPolicy::run`], retrying only while `may_retry()` also holds
    /// (a streamed call is not retried once it has sent text).
    pub async fn run_while<T, F, Fut>(&self, attempt: F, may_retry: impl Fn() -> bool) -> Result<T, LmError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, LmError>>,
    {
        if self.num_retries == 0 {
            let mut attempt = attempt;
            return attempt().await;
        }
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.num_retries as usize);
        if self.jitter {
            backoff = backoff.with_jitter();
        }
        let cap = self.max_retry_after;
        attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e: &LmError| e.is_retryable() && may_retry())
            .adjust(move |err: &LmError, planned: Option<Duration>| {
                // `None` means the retries are spent: keep it that way.
                planned.map(|d| err.retry_after().map_or(d, |ra| ra.min(cap)))
            })
            .notify(|err: &LmError, delay: Duration| {
                tracing::warn!(error = %err, delay_ms = delay.as_millis() as u64, "LM call failed; retrying");
            })
            .await
    }
}
