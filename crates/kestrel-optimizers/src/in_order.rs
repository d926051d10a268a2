//! Ordered speculative execution: run jobs `0..n` with a bounded number in
//! flight, but hand their results to the decision logic strictly in index
//! order — so a concurrent run makes exactly the choices a one-at-a-time run
//! makes, only sooner.
//!
//! DSPy's BootstrapFewShot walks the training set one example at a time and
//! stops once it has enough successes. Here up to `window` examples run at
//! once; results are buffered until every earlier one is known; the decider
//! sees them in order and may stop, at which point later jobs (already
//! started: *speculative*) are dropped and their results ignored. A
//! `may_start` check (fed by results seen in any order) stops launching new
//! jobs once the outcome is already certain.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;

/// What the decider wants after seeing one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep going.
    Continue,
    /// Stop: no later result is wanted.
    Stop,
}

/// Counts of one ordered run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RunStats {
    /// Jobs started.
    pub started: usize,
    /// Jobs whose results the decider saw.
    pub decided: usize,
}

impl RunStats {
    /// Jobs started but never needed (the sequential run would not have
    /// made them).
    pub fn speculative(&self) -> usize {
        self.started - self.decided
    }
}

/// Run `job(i)` for `i` in `0..n`, at most `window()` at once (asked again
/// before every start, so the caller can adapt it; and, when a `limiter` is
/// given, each job holds one of its permits while it runs).
/// `peek` sees each result as it completes, in any order, and returns
/// whether new jobs may still be started; `decide` sees results in index
/// order. Returns when `decide` stops or every job is decided.
pub(crate) async fn run_in_order<T, J, Fut>(
    n: usize,
    mut window: impl FnMut() -> usize,
    limiter: Option<Arc<Semaphore>>,
    mut job: J,
    mut peek: impl FnMut(usize, &T) -> bool,
    mut decide: impl FnMut(usize, T) -> Flow,
) -> RunStats
where
    J: FnMut(usize) -> Fut,
    Fut: Future<Output = T>,
{
    let mut stats = RunStats::default();
    let mut in_flight = FuturesUnordered::new();
    let mut ready: BTreeMap<usize, T> = BTreeMap::new();
    let mut next_start = 0usize;
    let mut next_decide = 0usize;
    let mut may_start = true;
    while next_decide < n {
        while may_start && next_start < n && in_flight.len() < window().max(1) {
            let index = next_start;
            let fut = job(index);
            let limiter = limiter.clone();
            in_flight.push(async move {
                let _permit = match &limiter {
                    Some(sem) => Some(sem.acquire().await),
                    None => None,
                };
                (index, fut.await)
            });
            next_start += 1;
            stats.started += 1;
        }
        let Some((index, result)) = in_flight.next().await else {
            // Nothing in flight and nothing may start: the rest is skipped.
            break;
        };
        if !peek(index, &result) {
            may_start = false;
        }
        ready.insert(index, result);
        while let Some(result) = ready.remove(&next_decide) {
            stats.decided += 1;
            let flow = decide(next_decide, result);
            next_decide += 1;
            if flow == Flow::Stop {
                return stats;
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn decisions_come_in_order_and_stop_drops_the_rest() {
        let mut seen = Vec::new();
        let stats = run_in_order(
            10,
            || 4,
            None,
            |i| async move {
                // Later jobs finish first.
                tokio::time::sleep(Duration::from_millis(((10 - i) * 3) as u64)).await;
                i
            },
            |_, _| true,
            |i, value| {
                assert_eq!(i, value);
                seen.push(i);
                if i == 5 { Flow::Stop } else { Flow::Continue }
            },
        )
        .await;
        assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
        assert_eq!(stats.decided, 6);
        // How many later jobs started speculatively depends on timer
        // granularity (jobs 4..=7 finish together); 6..=10 all keep the order.
        assert!(stats.started >= 6 && stats.started <= 10, "{stats:?}");
    }

    #[tokio::test]
    async fn peek_stops_new_starts() {
        let stats = run_in_order(100, || 3, None, |i| async move { i }, |_, &v| v < 4, |_, _| Flow::Continue).await;
        assert!(stats.started < 10, "{stats:?}");
    }
}
