//! The LM permits of one GEPA compile: `concurrency` of them, shared by
//! every program run (with its metric) and reflection call, handed out by
//! priority — the lowest first, first come first served among equals. The
//! engine gives a reflective iteration its index and a full validation
//! evaluation the lowest priority, so the iterations that decide what
//! happens next (the oldest first) are never queued behind a validation
//! run that only has to finish before the next decision.
//!
//! A waiter dropped before its turn (an iteration dropped while queued) is
//! skipped; one dropped right after being handed a permit gives it back.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

/// The priority of a full validation evaluation: after every iteration.
pub(crate) const VALIDATION: u64 = u64::MAX;

/// A priority semaphore.
#[derive(Debug)]
pub(crate) struct Permits {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    free: usize,
    /// Waiters by (priority, arrival).
    waiting: BTreeMap<(u64, u64), oneshot::Sender<()>>,
    arrivals: u64,
}

/// One permit, given back when dropped.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    permits: Option<&'a Permits>,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(permits) = self.permits {
            permits.release();
        }
    }
}

impl Permits {
    /// `n` permits.
    pub fn new(n: usize) -> Self {
        Self { inner: Mutex::new(Inner { free: n, waiting: BTreeMap::new(), arrivals: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait for a permit; lower `priority` values are served first.
    pub async fn acquire(&self, priority: u64) -> Permit<'_> {
        let rx = {
            let mut inner = self.lock();
            if inner.free > 0 {
                inner.free -= 1;
                return Permit { permits: Some(self) };
            }
            let (tx, rx) = oneshot::channel();
            let arrival = inner.arrivals;
            inner.arrivals += 1;
            inner.waiting.insert((priority, arrival), tx);
            rx
        };
        Waiter { permits: self, rx: Some(rx) }.await
    }

    /// Hand a permit to the first waiter still there, or free it.
    fn release(&self) {
        let mut inner = self.lock();
        while let Some((_, tx)) = inner.waiting.pop_first() {
            if tx.send(()).is_ok() {
                return;
            }
        }
        inner.free += 1;
    }
}

/// A queued `acquire`.
struct Waiter<'a> {
    permits: &'a Permits,
    rx: Option<oneshot::Receiver<()>>,
}

impl<'a> Future for Waiter<'a> {
    type Output = Permit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'a>> {
        let permits = self.permits;
        let Some(rx) = self.rx.as_mut() else { return Poll::Ready(Permit { permits: None }) };
        match Pin::new(rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(handed) => {
                self.rx = None;
                // The sender lives in `Permits` until it hands a permit over;
                // without one (never) the run goes ahead unlimited.
                Poll::Ready(Permit { permits: handed.is_ok().then_some(permits) })
            }
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.permits.release();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_lowest_priority_value_is_served_first_and_dropped_waiters_give_back() {
        let permits = Permits::new(1);
        let held = permits.acquire(5).await;
        let mut late = Box::pin(permits.acquire(VALIDATION));
        let mut first = Box::pin(permits.acquire(2));
        let mut gone = Box::pin(permits.acquire(1));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for f in [&mut late, &mut first, &mut gone] {
            assert!(f.as_mut().poll(&mut cx).is_pending());
        }
        // Priority 1 is handed the permit, then dropped before taking it.
        drop(held);
        drop(gone);
        let Poll::Ready(p) = first.as_mut().poll(&mut cx) else { panic!("priority 2 is next") };
        assert!(late.as_mut().poll(&mut cx).is_pending());
        drop(p);
        assert!(late.as_mut().poll(&mut cx).is_ready());
    }
}
