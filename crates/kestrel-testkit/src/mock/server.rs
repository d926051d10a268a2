//! [`MockServer`]: binds `127.0.0.1:0`, serves HTTP/1.1 (hyper) on a
//! background tokio task — one task per connection, keep-alive — and stops
//! when the handle is dropped or [`MockServer::shutdown`] is awaited.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::faults::{Fault, FaultPlan};
use super::finetune::{FinetuneBehavior, FinetunedHook, MockFile, MockJob};
use super::record::RecordedRequest;
use super::responder::Responder;
use super::routes::{Route, handle};
use super::state::Shared;
use super::stream::StreamChunking;

/// Pending connections the listener queues (the OS may cap it).
const BACKLOG: u32 = 4096;

/// Pause after a failed `accept` (out of file descriptors...), so the loop
/// does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// Model ids `GET /v1/models` lists by default.
const DEFAULT_MODELS: &[&str] = &["mock-model"];

/// Settings of a server before it starts. Build with [`MockServer::builder`].
#[derive(Debug)]
pub struct MockServerBuilder {
    responder: Responder,
    latency: Duration,
    record: bool,
    models: Vec<String>,
    colbert_corpus: Vec<String>,
    chunking: StreamChunking,
}

impl MockServerBuilder {
    /// Builder: how streamed replies (`"stream": true`) are cut and paced
    /// (default: 4-character pieces, no delay).
    pub fn stream_chunking(mut self, chunking: StreamChunking) -> Self {
        self.chunking = chunking;
        self
    }

    /// Builder: latency added to every response (default none).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Builder: keep every request for [`MockServer::requests`] (default
    /// true). Off, requests are only counted — for benchmarks.
    pub fn record(mut self, on: bool) -> Self {
        self.record = on;
        self
    }

    /// Builder: the model ids `GET /v1/models` lists (default `mock-model`).
    pub fn models<S: Into<String>>(mut self, models: impl IntoIterator<Item = S>) -> Self {
        self.models = models.into_iter().map(Into::into).collect();
        self
    }

    /// Builder: the passages `/colbert` searches (default none: every search
    /// finds nothing). See the `colbert` route for the ranking.
    pub fn colbert_corpus<S: Into<String>>(mut self, corpus: impl IntoIterator<Item = S>) -> Self {
        self.colbert_corpus = corpus.into_iter().map(Into::into).collect();
        self
    }

    /// Bind `127.0.0.1:0` and start serving on a background task of the
    /// current tokio runtime.
    pub async fn start(self) -> io::Result<MockServer> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let listener = socket.listen(BACKLOG)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(self.responder, self.latency, self.record, self.models, self.colbert_corpus));
        shared.set_stream_chunking(self.chunking);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, Arc::clone(&shared), stopped));
        Ok(MockServer { addr, shared, stop, task })
    }
}

/// An OpenAI- and Anthropic-compatible HTTP server on `127.0.0.1`, for
/// tests and benchmarks. See the [module docs](super) for routes and faults.
///
/// Every method takes `&self`; share the server with `Arc` if several tasks
/// steer it. Dropping it stops the server: the listener closes and open
/// connections are cut.
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Sent or dropped, it stops the accept loop.
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl MockServer {
    /// Start a server answering from `responder` (a [`crate::ScriptedLm`],
    /// a [`super::ReplyFn`], or a [`Responder`]) with no latency, recording
    /// every request.
    pub async fn start(responder: impl Into<Responder>) -> io::Result<MockServer> {
        Self::builder(responder).start().await
    }

    /// Settings first, then [`MockServerBuilder::start`].
    pub fn builder(responder: impl Into<Responder>) -> MockServerBuilder {
        MockServerBuilder {
            responder: responder.into(),
            latency: Duration::ZERO,
            record: true,
            models: DEFAULT_MODELS.iter().map(|m| m.to_string()).collect(),
            colbert_corpus: Vec::new(),
            chunking: StreamChunking::default(),
        }
    }

    /// How fine-tuning jobs created from now on behave (default: one
    /// `queued` and two `running` retrieves, then `succeeded`).
    pub fn set_finetune_behavior(&self, behavior: FinetuneBehavior) {
        self.shared.finetune.set_behavior(behavior);
    }

    /// Answer chat requests for `model` (the body's `model`) with
    /// `responder` instead of the server's own (`None` removes it).
    pub fn set_model_responder(&self, model: &str, responder: Option<Responder>) {
        self.shared.set_model_responder(model.to_string(), responder);
    }

    /// When a fine-tuning job succeeds, `hook` may give its fine-tuned model
    /// a responder of its own (a simulated "better" model; see
    /// `docs/BENCH_COMPILE.md`). `None` removes the hook.
    pub fn set_finetuned_responder(&self, hook: Option<FinetunedHook>) {
        self.shared.set_finetuned_hook(hook);
    }

    /// Files uploaded with `POST /v1/files`, in upload order.
    pub fn uploaded_files(&self) -> Vec<MockFile> {
        self.shared.finetune.files()
    }

    /// Fine-tuning jobs created, by id.
    pub fn finetune_jobs(&self) -> Vec<MockJob> {
        self.shared.finetune.jobs()
    }

    /// The address it listens on (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI-style base URL, `http://127.0.0.1:<port>/v1` (for
    /// `OpenAiProvider::base_url` / `OPENAI_BASE_URL`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The Anthropic-style base URL, `http://127.0.0.1:<port>` without `/v1`
    /// (for `AnthropicProvider::base_url` / `ANTHROPIC_BASE_URL`).
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The full URL of `path` (`/v1/models` → `http://127.0.0.1:<port>/v1/models`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Replace the responder for the requests that follow.
    pub fn set_responder(&self, responder: impl Into<Responder>) {
        self.shared.set_responder(responder.into());
    }

    /// The latency added to every response.
    pub fn latency(&self) -> Duration {
        self.shared.latency()
    }

    /// Change the latency for the requests that follow.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.set_latency(latency);
    }

    /// Change how streamed replies are cut and paced.
    pub fn set_stream_chunking(&self, chunking: StreamChunking) {
        self.shared.set_stream_chunking(chunking);
    }

    /// Streamed answers started so far.
    pub fn streams_started(&self) -> usize {
        self.shared.stream_counts()[0]
    }

    /// Streamed answers sent to their end.
    pub fn streams_completed(&self) -> usize {
        self.shared.stream_counts()[1]
    }

    /// Streamed answers abandoned before their end because the client
    /// closed the connection (a cut fault is not counted here).
    pub fn streams_cancelled(&self) -> usize {
        self.shared.stream_counts()[2]
    }

    /// Turn request recording on or off (requests are always counted).
    pub fn set_recording(&self, on: bool) {
        self.shared.recorder.set_on(on);
    }

    /// Queue `fault` for the next request to any route. Queued faults are
    /// used first in, first out, one per request.
    pub fn push_fault(&self, fault: impl Into<Fault>) {
        self.shared.faults.push(None, fault.into());
    }

    /// Queue `fault` for the next request to `route` only.
    pub fn push_fault_for(&self, route: Route, fault: impl Into<Fault>) {
        self.shared.faults.push(Some(route), fault.into());
    }

    /// Queue several faults, in order, for the next requests to any route.
    pub fn push_faults<F: Into<Fault>>(&self, faults: impl IntoIterator<Item = F>) {
        for fault in faults {
            self.push_fault(fault);
        }
    }

    /// Apply `fault` to every request that no queued fault claims, until
    /// [`MockServer::clear_faults`]; `None` stops it.
    pub fn set_fault_always(&self, fault: Option<Fault>) {
        self.shared.faults.set_always(fault);
    }

    /// Let `plan` choose the fault of every request that neither a queued
    /// fault nor the always-fault claims (random faults at a rate, for
    /// soaks); `None` removes it.
    pub fn set_fault_plan(&self, plan: Option<FaultPlan>) {
        self.shared.faults.set_plan(plan);
    }

    /// Drop every queued fault, the always-fault and the fault plan.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Queued faults not yet used.
    pub fn pending_faults(&self) -> usize {
        self.shared.faults.pending()
    }

    /// Every recorded request, in arrival order (empty while recording is
    /// off).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorder.all()
    }

    /// The recorded requests to `route`.
    pub fn requests_to(&self, route: Route) -> Vec<RecordedRequest> {
        self.requests().into_iter().filter(|r| r.route == Some(route)).collect()
    }

    /// Requests received (counted even while recording is off), any route.
    pub fn request_count(&self) -> usize {
        self.shared.recorder.total()
    }

    /// Forget the recorded requests and reset [`MockServer::request_count`].
    pub fn clear_requests(&self) {
        self.shared.recorder.clear();
    }

    /// Requests being handled right now (latency and delays included).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
    }

    /// The most requests ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight()
    }

    /// Restart [`MockServer::max_in_flight`] from the current count.
    pub fn reset_max_in_flight(&self) {
        self.shared.reset_max_in_flight();
    }

    /// Stop serving and wait until the listener and every connection are
    /// closed.
    pub async fn shutdown(self) {
        let MockServer { stop, task, .. } = self;
        let _ = stop.send(());
        let _ = task.await;
    }
}

/// The accept loop: one task per connection until `stopped` fires (a send,
/// or the sender dropped with the [`MockServer`]); then the listener closes
/// and every connection task is aborted.
async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// Serve one connection (HTTP/1.1, keep-alive) until the client closes it
/// or a fault drops it.
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // Small responses must not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| handle(Arc::clone(&shared), request));
    // An error here is a client gone or a dropped-connection fault: either
    // way the connection is over.
    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
}
