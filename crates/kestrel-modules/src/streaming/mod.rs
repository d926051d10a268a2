//! Streaming a program call (DSPy's `dspy.streamify`): [`streamify`] runs a
//! program on an [`Example`] and returns a [`ProgramStream`] of
//! [`StreamEvent`]s — raw token deltas (without listeners), per-field chunks
//! cut by DSPy's listener for the [`StreamListener`]s given, status messages
//! ([`StatusMessageProvider`]) and, last, the [`Prediction`].
//!
//! The program runs inside the stream: polling the stream drives it, and
//! dropping the stream drops the program's future — the HTTP request in
//! flight is dropped with it and its connection closed. Events pass through
//! a bounded channel (16 events by default, as DSPy's), so a consumer that
//! stops reading makes the LM call wait (back-pressure).

pub mod status;

use std::collections::VecDeque;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::future::{BoxFuture, Either, select};
use futures::stream::{BoxStream, Stream};
use kestrel_core::{Example, Prediction, PredictorId};
use kestrel_lm::stream::{FieldChunk, FieldListener, StreamAdapter, StreamEvent, StreamScope, TokenDelta, with_stream};
use tokio::sync::mpsc;

use crate::error::ModuleError;
use crate::module::{Module, ModuleExt};
use crate::predictor::Predictors;
pub use status::{DefaultStatusMessages, StatusMessageProvider};

/// DSPy's channel size between the program and the stream.
pub const DEFAULT_STREAM_CAPACITY: usize = 16;

/// Which output field to stream, of which predictor (DSPy's
/// `StreamListener`).
#[derive(Debug, Clone)]
pub struct StreamListener {
    field: String,
    predictor: Option<String>,
    allow_reuse: bool,
}

impl StreamListener {
    /// Stream output `field` of the one predictor that has it (an error at
    /// [`streamify`] when none or several have it; then name the predictor).
    pub fn new(field: impl Into<String>) -> Self {
        Self { field: field.into(), predictor: None, allow_reuse: false }
    }

    /// Builder: the predictor's path (`self`, `react`, `extract.predict`).
    pub fn predictor(mut self, path: impl Into<String>) -> Self {
        self.predictor = Some(path.into());
        self
    }

    /// Builder: stream the field again on each later call of the predictor
    /// (DSPy's `allow_reuse`; ReAct's loop calls its predictor many times).
    pub fn allow_reuse(mut self, on: bool) -> Self {
        self.allow_reuse = on;
        self
    }
}

/// Settings of a streamed call.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    listeners: Vec<StreamListener>,
    include_final_prediction: bool,
    status: Arc<dyn StatusMessageProvider>,
    capacity: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            listeners: Vec::new(),
            include_final_prediction: true,
            status: Arc::new(DefaultStatusMessages),
            capacity: DEFAULT_STREAM_CAPACITY,
        }
    }
}

impl StreamOptions {
    /// No listeners (raw token deltas), the prediction last, DSPy's status
    /// messages, a 16-event channel.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: add a field listener. With listeners, only their predictors
    /// stream and only their fields' chunks are yielded (no raw tokens).
    pub fn listener(mut self, listener: StreamListener) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Builder: whether the last event is the [`Prediction`] (default true).
    /// As in DSPy, it is still sent when there are no listeners, when a
    /// listener saw the whole reply at once, or when no listener started.
    pub fn include_final_prediction(mut self, on: bool) -> Self {
        self.include_final_prediction = on;
        self
    }

    /// Builder: the status message texts.
    pub fn status_messages(mut self, provider: impl StatusMessageProvider + 'static) -> Self {
        self.status = Arc::new(provider);
        self
    }

    /// Builder: the channel size in events (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }
}

/// A listener bound to its predictor.
struct Bound {
    id: PredictorId,
    path: String,
    listener: FieldListener,
    adapter: StreamAdapter,
}

/// Resolve each listener's predictor (DSPy's
/// `find_predictor_for_stream_listeners`).
fn bind<M: Predictors + ?Sized>(program: &M, listeners: &[StreamListener]) -> Result<Vec<Bound>, ModuleError> {
    let mut all: Vec<(String, PredictorId, Vec<String>)> = Vec::new();
    program.visit_predictors("", &mut |path, p| {
        let outputs = p.signature().output_fields().map(|f| f.name.clone()).collect();
        all.push((path.to_string(), p.id(), outputs));
    });
    let problem = |field: &str, message: String| ModuleError::StreamListener { field: field.to_string(), message };
    listeners
        .iter()
        .map(|l| {
            let (path, id) = match &l.predictor {
                Some(path) => match all.iter().find(|(p, ..)| p == path) {
                    Some((p, id, _)) => (p.clone(), *id),
                    None => {
                        return Err(ModuleError::UnknownPredictor {
                            path: path.clone(),
                            available: all.iter().map(|(p, ..)| p.clone()).collect(),
                        });
                    }
                },
                None => {
                    let mut having = all.iter().filter(|(.., outputs)| outputs.contains(&l.field));
                    match (having.next(), having.next()) {
                        (Some((p, id, _)), None) => (p.clone(), *id),
                        (None, _) => {
                            return Err(problem(
                                &l.field,
                                "is not an output field of any predictor in the program; check the name or name the \
                                 predictor"
                                    .to_string(),
                            ));
                        }
                        (Some(_), Some(_)) => {
                            return Err(problem(
                                &l.field,
                                "is an output field of several predictors; name the predictor to listen to".to_string(),
                            ));
                        }
                    }
                }
            };
            Ok(Bound { id, path, listener: FieldListener::new(&l.field, l.allow_reuse), adapter: StreamAdapter::Chat })
        })
        .collect()
}

/// The events of one streamed program call; ends after the
/// [`StreamEvent::Prediction`] or after an error.
pub struct ProgramStream<'a> {
    /// In a `Mutex` only to be `Sync`: polling takes `&mut self`, so it is
    /// reached with `get_mut` and never locked.
    inner: Mutex<BoxStream<'a, Result<StreamEvent, ModuleError>>>,
}

impl Stream for ProgramStream<'_> {
    type Item = Result<StreamEvent, ModuleError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let inner = self.get_mut().inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for ProgramStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgramStream(..)")
    }
}

/// Run `program` on `inputs` as a stream of events (DSPy's
/// `dspy.streamify(program)(**inputs)`). Fails at once when a listener's
/// predictor cannot be found.
pub fn streamify<'a, M>(
    program: &'a M,
    inputs: &Example,
    options: StreamOptions,
) -> Result<ProgramStream<'a>, ModuleError>
where
    M: Module + ?Sized,
{
    let bound = bind(program, &options.listeners)?;
    let (tx, rx) = mpsc::channel(options.capacity);
    let only = (!bound.is_empty()).then(|| bound.iter().map(|b| b.id).collect());
    let inputs = inputs.clone();
    let call = async move { program.call_example(&inputs).await };
    let future: BoxFuture<'a, Result<Prediction, ModuleError>> =
        Box::pin(with_stream(StreamScope::new(tx, only), status::with_provider(options.status, call)));
    let run = Run {
        future: Some(future),
        rx,
        listeners: bound,
        pending: VecDeque::new(),
        done: false,
        include_final_prediction: options.include_final_prediction,
    };
    let inner = futures::stream::unfold(run, |mut run| async move {
        let item = run.next().await?;
        Some((item, run))
    });
    Ok(ProgramStream { inner: Mutex::new(Box::pin(inner)) })
}

/// What one wait gave.
enum Step {
    Event(StreamEvent),
    Done(Result<Prediction, ModuleError>),
}

/// The state behind a [`ProgramStream`].
struct Run<'a> {
    future: Option<BoxFuture<'a, Result<Prediction, ModuleError>>>,
    rx: mpsc::Receiver<StreamEvent>,
    listeners: Vec<Bound>,
    pending: VecDeque<Result<StreamEvent, ModuleError>>,
    done: bool,
    include_final_prediction: bool,
}

impl Run<'_> {
    async fn next(&mut self) -> Option<Result<StreamEvent, ModuleError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            let future = self.future.as_mut()?;
            // Events first: the program may be waiting for room in the channel.
            let step = {
                let received = pin!(self.rx.recv());
                match select(received, future.as_mut()).await {
                    Either::Left((Some(event), _)) => Step::Event(event),
                    // Every sender gone before the program ended: wait for it.
                    Either::Left((None, future)) => Step::Done(future.await),
                    Either::Right((outcome, _)) => Step::Done(outcome),
                }
            };
            let outcome = match step {
                Step::Event(event) => {
                    self.take(event);
                    continue;
                }
                Step::Done(outcome) => outcome,
            };
            // The program is over: its scope (and sender) dropped with it.
            self.future = None;
            while let Ok(event) = self.rx.try_recv() {
                self.take(event);
            }
            self.finish(outcome);
        }
    }

    /// Route one event from the program.
    fn take(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::Token(delta) if !self.listeners.is_empty() => self.listen(&delta),
            other => self.pending.push_back(Ok(other)),
        }
    }

    /// Give a token to the listeners of its predictor (first completion only).
    fn listen(&mut self, delta: &TokenDelta) {
        if delta.choice != 0 {
            return;
        }
        for bound in self.listeners.iter_mut().filter(|b| Some(b.id) == delta.predictor) {
            bound.adapter = delta.adapter.unwrap_or(StreamAdapter::Chat);
            if let Some((chunk, is_last_chunk)) = bound.listener.receive(bound.adapter, &delta.text) {
                let field = bound.listener.field().to_string();
                let chunk = FieldChunk { predictor: bound.path.clone(), field, chunk, is_last_chunk };
                self.pending.push_back(Ok(StreamEvent::Field(chunk)));
            }
        }
    }

    /// Flush the listeners, then the prediction (or the error).
    fn finish(&mut self, outcome: Result<Prediction, ModuleError>) {
        self.done = true;
        let prediction = match outcome {
            Ok(prediction) => prediction,
            Err(e) => {
                self.pending.push_back(Err(e));
                return;
            }
        };
        for bound in &mut self.listeners {
            if let Some((chunk, is_last_chunk)) = bound.listener.finalize(bound.adapter) {
                let field = bound.listener.field().to_string();
                let chunk = FieldChunk { predictor: bound.path.clone(), field, chunk, is_last_chunk };
                self.pending.push_back(Ok(StreamEvent::Field(chunk)));
            }
        }
        let listeners = &self.listeners;
        let send = self.include_final_prediction
            || listeners.is_empty()
            || listeners.iter().any(|b| b.listener.cache_hit())
            || !listeners.iter().any(|b| b.listener.started());
        if send {
            self.pending.push_back(Ok(StreamEvent::Prediction(prediction)));
        }
    }
}
