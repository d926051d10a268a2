//! Single flight: concurrent misses of one key share one fetch.
//!
//! The first caller to [`Flights::join`] a key becomes its [`Leader`]; the
//! others get a [`Waiter`] on a `tokio::sync::watch` channel the leader
//! publishes the outcome on. The leader's entry leaves the map when the
//! leader is dropped — after it finishes, or when its future is cancelled.
//! A cancelled leader publishes nothing, so its channel closes and every
//! waiter's [`Waiter::wait`] returns `None`: they join again and one of them
//! leads the next fetch.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use tokio::sync::watch;

use super::key::CacheKey;
use crate::error::LmError;
use crate::request::LmResponse;

/// What a flight delivers to its waiters.
pub(crate) type Outcome = Result<LmResponse, LmError>;

type Slot = Option<Outcome>;

/// The flights in progress, by key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    map: DashMap<CacheKey, (u64, watch::Receiver<Slot>)>,
    next_id: AtomicU64,
}

/// The role of a caller that joined a flight.
#[derive(Debug)]
pub(crate) enum Joined<'a> {
    /// Fetch, then [`Leader::publish`].
    Leader(Leader<'a>),
    /// Wait for the leader.
    Waiter(Waiter),
}

impl Flights {
    /// Lead the flight of `key`, or wait for the one in progress.
    pub(crate) fn join(&self, key: CacheKey) -> Joined<'_> {
        match self.map.entry(key) {
            Entry::Occupied(entry) => Joined::Waiter(Waiter(entry.get().1.clone())),
            Entry::Vacant(entry) => {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let (tx, rx) = watch::channel(None);
                entry.insert((id, rx));
                Joined::Leader(Leader { flights: self, key, id, tx })
            }
        }
    }

    /// Number of flights in progress.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// The caller that fetches for a key. Dropping it ends the flight.
#[derive(Debug)]
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: CacheKey,
    id: u64,
    tx: watch::Sender<Slot>,
}

impl Leader<'_> {
    /// Give every waiter (present and arriving until this leader is
    /// dropped) `outcome`.
    pub(crate) fn publish(&self, outcome: Outcome) {
        self.tx.send_replace(Some(outcome));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        // Leave the map first; `tx` drops after this body, closing the
        // channel, so waiters of an unpublished flight retry and find no
        // stale leader.
        self.flights.map.remove_if(&self.key, |_, (id, _)| *id == self.id);
    }
}

/// A caller waiting for another's fetch.
#[derive(Debug)]
pub(crate) struct Waiter(watch::Receiver<Slot>);

impl Waiter {
    /// The leader's outcome, or `None` if the leader was dropped without
    /// publishing one (cancelled).
    pub(crate) async fn wait(mut self) -> Option<Outcome> {
        let published = self.0.wait_for(Option::is_some).await;
        match published {
            Ok(slot) => slot.clone(),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn a_dropped_leader_releases_its_waiters_and_the_key() {
        let flights = Flights::default();
        let key = CacheKey::from_bytes([7; 32]);
        let Joined::Leader(leader) = flights.join(key) else { panic!("first caller leads") };
        let Joined::Waiter(waiter) = flights.join(key) else { panic!("second caller waits") };
        drop(leader);
        assert!(waiter.wait().await.is_none());
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join(key), Joined::Leader(_)));
    }

    #[tokio::test]
    async fn a_published_outcome_reaches_late_waiters() {
        let flights = Flights::default();
        let key = CacheKey::from_bytes([8; 32]);
        let Joined::Leader(leader) = flights.join(key) else { panic!("first caller leads") };
        leader.publish(Err(LmError::NotConfigured));
        let Joined::Waiter(waiter) = flights.join(key) else { panic!("second caller waits") };
        drop(leader);
        assert!(matches!(waiter.wait().await, Some(Err(LmError::NotConfigured))));
    }
}
