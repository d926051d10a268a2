//! Seed-ordered scheduling of random-search candidates under one shared
//! limit on program calls in flight.
//!
//! DSPy builds and scores its candidates one after another and, with
//! `stop_at_score`, never starts the ones after the first that reaches it.
//! Here candidates start in seed order, a later one only when the running
//! ones leave capacity of the shared limiter unused (a permit free after
//! they have all been polled), so the limit stays busy without starting
//! everything at once. Results are decided strictly in seed order. Once a
//! result ends the search (`ends`), no later candidate starts and the ones
//! already running past it are cancelled (their futures dropped).

use std::collections::BTreeMap;
use std::future::{Future, poll_fn};
use std::task::Poll;

use futures::future::{AbortHandle, Abortable};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;

use crate::in_order::Flow;

/// What happened to the candidates of one scheduled run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ScheduleStats {
    /// Candidates started.
    pub started: usize,
    /// Candidates whose results were decided.
    pub decided: usize,
    /// Candidates never started because an earlier one ended the search.
    pub not_started: usize,
}

impl ScheduleStats {
    /// Candidates started but not needed: cancelled while running, or
    /// finished and discarded.
    pub fn cancelled(&self) -> usize {
        self.started - self.decided
    }
}

enum Event<T> {
    Finished(usize, Option<T>),
    Start,
    /// Nothing runs and nothing may start.
    Idle,
}

/// Run `job(i)` for `i` in `0..n` as described in the module docs. `ends`
/// sees each result when it completes (in any order) and says whether it
/// ends the search; `decide` sees results in index order.
pub(crate) async fn run_seed_ordered<T, J, Fut>(
    n: usize,
    limiter: &Semaphore,
    mut job: J,
    mut ends: impl FnMut(&T) -> bool,
    mut decide: impl FnMut(usize, T) -> Flow,
) -> ScheduleStats
where
    J: FnMut(usize) -> Fut,
    Fut: Future<Output = T>,
{
    let mut stats = ScheduleStats::default();
    let mut running = FuturesUnordered::new();
    let mut handles: BTreeMap<usize, AbortHandle> = BTreeMap::new();
    let mut ready: BTreeMap<usize, T> = BTreeMap::new();
    let (mut next_start, mut next_decide) = (0usize, 0usize);
    // Candidates at or past `limit` are never started (or are cancelled).
    let mut limit = n;
    // Free capacity must be seen on two polls in a row before a start: a
    // running candidate that was woken but not yet polled gets to claim it.
    let mut free_seen = false;
    while next_decide < limit {
        let event = poll_fn(|cx| {
            if let Poll::Ready(Some((index, result))) = running.poll_next_unpin(cx) {
                return Poll::Ready(Event::Finished(index, result));
            }
            match (next_start < limit, running.is_empty()) {
                (false, true) => return Poll::Ready(Event::Idle),
                (false, false) => return Poll::Pending,
                (true, true) => return Poll::Ready(Event::Start),
                (true, false) => {}
            }
            if limiter.available_permits() == 0 {
                free_seen = false;
                return Poll::Pending;
            }
            if free_seen {
                free_seen = false;
                return Poll::Ready(Event::Start);
            }
            free_seen = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
        match event {
            Event::Idle => break,
            Event::Start => {
                let index = next_start;
                let (handle, registration) = AbortHandle::new_pair();
                let fut = Abortable::new(job(index), registration);
                running.push(async move { (index, fut.await.ok()) });
                handles.insert(index, handle);
                next_start += 1;
                stats.started += 1;
            }
            // Cancelled: its result is not wanted.
            Event::Finished(_, None) => {}
            Event::Finished(index, Some(result)) => {
                handles.remove(&index);
                if index < limit && ends(&result) {
                    limit = index + 1;
                    for (_, handle) in handles.split_off(&limit) {
                        handle.abort();
                    }
                    ready.retain(|&i, _| i < limit);
                }
                if index < limit {
                    ready.insert(index, result);
                }
                while let Some(result) = ready.remove(&next_decide) {
                    stats.decided += 1;
                    next_decide += 1;
                    if decide(next_decide - 1, result) == Flow::Stop {
                        for handle in handles.values() {
                            handle.abort();
                        }
                        stats.not_started = n - next_start;
                        return stats;
                    }
                }
            }
        }
    }
    stats.not_started = n - next_start;
    stats
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A job that holds one permit for `ms` milliseconds, `steps` times.
    async fn work(limiter: Arc<Semaphore>, steps: usize, ms: u64, count: Arc<AtomicUsize>) {
        for _ in 0..steps {
            let _permit = limiter.acquire().await;
            count.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    #[tokio::test]
    async fn a_full_limiter_starts_candidates_one_after_another() {
        let limiter = Arc::new(Semaphore::new(1));
        let count = Arc::new(AtomicUsize::new(0));
        let mut order = Vec::new();
        let stats = run_seed_ordered(
            6,
            &limiter,
            |i| {
                let (limiter, count) = (Arc::clone(&limiter), Arc::clone(&count));
                async move {
                    work(limiter, 3, 1, count).await;
                    i
                }
            },
            |&i| i == 2,
            |i, v| {
                assert_eq!(i, v);
                order.push(i);
                Flow::Continue
            },
        )
        .await;
        assert_eq!(order, [0, 1, 2]);
        // Only as many starts as a sequential run, at most one ahead.
        assert!(stats.started <= 4, "{stats:?}");
        assert_eq!(stats.decided, 3);
        assert_eq!(stats.not_started, 6 - stats.started);
        assert!(count.load(Ordering::SeqCst) <= 3 * 3 + 1);
    }

    #[tokio::test]
    async fn free_capacity_starts_later_candidates_and_a_stop_cancels_them() {
        let limiter = Arc::new(Semaphore::new(8));
        let count = Arc::new(AtomicUsize::new(0));
        let mut decided = Vec::new();
        let stats = run_seed_ordered(
            20,
            &limiter,
            |i| {
                let (limiter, count) = (Arc::clone(&limiter), Arc::clone(&count));
                async move {
                    // Seed 1 is quick and ends the search.
                    work(limiter, 1, if i == 1 { 10 } else { 30 }, count).await;
                    i
                }
            },
            |&i| i == 1,
            |i, _| {
                decided.push(i);
                Flow::Continue
            },
        )
        .await;
        assert_eq!(decided, [0, 1]);
        // Up to 8 ran at once; none started after seed 1 ended the search.
        assert!(stats.started > 2 && stats.started < 20, "{stats:?}");
        assert_eq!(stats.cancelled(), stats.started - 2);
        assert_eq!(stats.not_started, 20 - stats.started);
    }
}
