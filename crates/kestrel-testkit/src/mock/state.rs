//! [`Shared`]: the state every connection of one mock server reads and
//! updates — responder, latency, faults, recorder, in-flight counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use hyper::StatusCode;
use kestrel_lm::LmRequest;

use super::faults::FaultQueue;
use super::finetune::{FinetuneState, FinetunedHook, MockFile, MockJob, fine_tuned_model_name};
use super::record::Recorder;
use super::reply::MockReply;
use super::responder::Responder;
use super::stream::StreamChunking;
use super::wire::{Flavor, JsonReply, error};

/// One server's state, behind an `Arc`.
#[derive(Debug)]
pub(super) struct Shared {
    responder: RwLock<Responder>,
    ids: AtomicU64,
    latency_nanos: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    streams: [AtomicUsize; 3],
    chunking: RwLock<StreamChunking>,
    pub(super) recorder: Recorder,
    pub(super) faults: FaultQueue,
    pub(super) models: Vec<String>,
    pub(super) colbert_corpus: Vec<String>,
    pub(super) finetune: FinetuneState,
    /// Responders for single models (`model` of the request body).
    model_responders: RwLock<HashMap<String, Responder>>,
    finetuned_hook: RwLock<Hook>,
}

/// The fine-tuned-model hook (a closure: `Debug` by hand).
#[derive(Default)]
struct Hook(Option<FinetunedHook>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Hook(set)" } else { "Hook(none)" })
    }
}

impl Shared {
    pub(super) fn new(
        responder: Responder,
        latency: Duration,
        record: bool,
        models: Vec<String>,
        colbert_corpus: Vec<String>,
    ) -> Self {
        let shared = Self {
            responder: RwLock::new(responder),
            ids: AtomicU64::new(0),
            latency_nanos: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            streams: Default::default(),
            chunking: RwLock::new(StreamChunking::default()),
            recorder: Recorder::new(record),
            faults: FaultQueue::default(),
            models,
            colbert_corpus,
            finetune: FinetuneState::default(),
            model_responders: RwLock::default(),
            finetuned_hook: RwLock::default(),
        };
        shared.set_latency(latency);
        shared
    }

    /// A fresh number for response ids.
    pub(super) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The responder's text for choice `index` of `request`, or the 500 (in
    /// `flavor`'s error shape) naming why it has none.
    pub(super) fn reply(&self, flavor: Flavor, request: &LmRequest, index: u32) -> Result<MockReply, JsonReply> {
        // Clone the (Arc-backed) responder out so the lock is not held while
        // user code runs: a responder may itself call `set_responder`.
        let responder = self.responder.read().unwrap_or_else(PoisonError::into_inner).clone();
        responder.reply_turn(request, index).map_err(|problem| {
            let message = format!("mock server: the responder has no reply: {problem}");
            error(flavor, StatusCode::INTERNAL_SERVER_ERROR, &message)
        })
    }

    /// [`Shared::reply`] with the responder set for `model`, if any.
    pub(super) fn reply_for_model(
        &self,
        flavor: Flavor,
        model: &str,
        request: &LmRequest,
        index: u32,
    ) -> Result<MockReply, JsonReply> {
        let own = self.model_responders.read().unwrap_or_else(PoisonError::into_inner).get(model).cloned();
        let Some(responder) = own else { return self.reply(flavor, request, index) };
        responder.reply_turn(request, index).map_err(|problem| {
            let message = format!("mock server: the responder of {model} has no reply: {problem}");
            error(flavor, StatusCode::INTERNAL_SERVER_ERROR, &message)
        })
    }

    pub(super) fn set_model_responder(&self, model: String, responder: Option<Responder>) {
        let mut map = self.model_responders.write().unwrap_or_else(PoisonError::into_inner);
        match responder {
            Some(r) => map.insert(model, r),
            None => map.remove(&model),
        };
    }

    pub(super) fn set_finetuned_hook(&self, hook: Option<FinetunedHook>) {
        *self.finetuned_hook.write().unwrap_or_else(PoisonError::into_inner) = Hook(hook);
    }

    /// A job just succeeded: give its model the hook's responder.
    pub(super) fn finetuned(&self, job: &MockJob, file: &MockFile) {
        let hook = self.finetuned_hook.read().unwrap_or_else(PoisonError::into_inner).0.clone();
        if let Some(responder) = hook.and_then(|hook| hook(job, file)) {
            self.set_model_responder(fine_tuned_model_name(job), Some(responder));
        }
    }

    pub(super) fn set_responder(&self, responder: Responder) {
        *self.responder.write().unwrap_or_else(PoisonError::into_inner) = responder;
    }

    pub(super) fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    pub(super) fn set_latency(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_nanos.store(nanos, Ordering::Relaxed);
    }

    /// How streamed replies are cut.
    pub(super) fn stream_chunking(&self) -> StreamChunking {
        self.chunking.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(super) fn set_stream_chunking(&self, chunking: StreamChunking) {
        *self.chunking.write().unwrap_or_else(PoisonError::into_inner) = chunking;
    }

    pub(super) fn stream_started(&self) {
        self.streams[0].fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn stream_completed(&self) {
        self.streams[1].fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn stream_cancelled(&self) {
        self.streams[2].fetch_add(1, Ordering::SeqCst);
    }

    /// Streams started, completed and cancelled so far.
    pub(super) fn stream_counts(&self) -> [usize; 3] {
        [0, 1, 2].map(|i| self.streams[i].load(Ordering::SeqCst))
    }

    /// Count a request as in flight until the guard is dropped (also when
    /// its future is cancelled).
    pub(super) fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight { shared: self }
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub(super) fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Restart the maximum from the current in-flight count.
    pub(super) fn reset_max_in_flight(&self) {
        self.max_in_flight.store(self.in_flight(), Ordering::SeqCst);
    }
}

/// A request in flight (see [`Shared::enter`]).
#[derive(Debug)]
pub(super) struct InFlight<'a> {
    shared: &'a Shared,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
