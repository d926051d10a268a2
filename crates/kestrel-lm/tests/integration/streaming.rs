//! Streaming in the LM layer: DSPy's field listener replayed against its
//! own recorded outputs ([`listener`]), the providers' server-sent events
//! over real HTTP against the testkit's mock server ([`providers`]: text,
//! usage, `n`, mid-stream faults as typed errors, SSE parse errors,
//! cancellation, back-pressure), and the client's layers ([`client`]: cache
//! replay, no retry once text was sent).

mod client;
mod listener;
mod providers;

use kestrel_lm::stream::{DeltaSink, StreamEvent, TokenDelta};
use tokio::sync::mpsc;

/// Every token delta left in `rx` (the sender side must be gone or done).
pub(crate) fn drain(rx: &mut mpsc::Receiver<StreamEvent>) -> Vec<TokenDelta> {
    let mut out = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if let StreamEvent::Token(delta) = event {
            out.push(delta);
        }
    }
    out
}

/// A sink with room for every test's events.
pub(crate) fn roomy_sink() -> (DeltaSink, mpsc::Receiver<StreamEvent>) {
    DeltaSink::channel(1024)
}
