//! Streaming: the events a streamed program call yields ([`StreamEvent`]),
//! the sink providers push token deltas into ([`DeltaSink`]), the task-local
//! scope that turns streaming on for the calls inside it ([`scope`]), and
//! DSPy's `StreamListener` ([`listener`]), which cuts one output field's
//! chunks out of the token stream.
//!
//! The LM layer streams by pushing: [`crate::Lm::call_streaming`] sends each
//! delta to the sink as it arrives and still returns the whole
//! [`crate::LmResponse`], so cache, retries, limits, budgets and parsing
//! stay exactly those of [`crate::Lm::call`]. The sink is a bounded channel:
//! a slow consumer makes the provider wait (back-pressure). Programs are
//! streamed by `kestrel_modules::streamify`, which owns the receiving end.

pub mod listener;
mod partial_json;
pub mod scope;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kestrel_core::{Prediction, PredictorId};
use tokio::sync::mpsc;

use crate::request::LmResponse;

pub use listener::{FieldListener, StreamAdapter};
pub use scope::{StreamScope, current_stream, emit_status, streaming, with_stream};

/// How many pieces a cached reply is replayed in.
pub const CACHE_REPLAY_PIECES: usize = 4;

/// One event of a streamed program call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// A raw token delta from the LM (streamed when no field listener is
    /// set, as DSPy yields the provider's chunks).
    Token(TokenDelta),
    /// A chunk of one output field, cut from the token stream by a
    /// listener (DSPy's `StreamResponse`).
    Field(FieldChunk),
    /// A status message from a module (DSPy's `StatusMessage`), such as
    /// ReAct's "Calling tool search...".
    Status(String),
    /// The program's result: always the last event of a successful call.
    Prediction(Prediction),
}

/// A piece of a completion's text as the provider sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDelta {
    /// The predictor whose call produced it (`None` for a call made outside
    /// any predictor).
    pub predictor: Option<PredictorId>,
    /// The adapter that formatted the request, when a predictor made it.
    pub adapter: Option<StreamAdapter>,
    /// Which of the `n` completions it belongs to.
    pub choice: u32,
    /// The text.
    pub text: String,
}

/// A chunk of one output field (DSPy's `StreamResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChunk {
    /// The predictor's path in the program (`self`, `react`, `extract.predict`).
    pub predictor: String,
    /// The output field.
    pub field: String,
    /// The text (may be empty on the last chunk).
    pub chunk: String,
    /// True on the field's last chunk.
    pub is_last_chunk: bool,
}

/// Where a provider sends the deltas of one streamed call.
///
/// Cheap to clone; clones count into the same total ([`DeltaSink::sent`]).
#[derive(Debug, Clone)]
pub struct DeltaSink {
    tx: mpsc::Sender<StreamEvent>,
    predictor: Option<PredictorId>,
    adapter: Option<StreamAdapter>,
    sent: Arc<AtomicUsize>,
}

impl DeltaSink {
    /// A sink and the receiving end of its bounded channel (`capacity` ≥ 1
    /// events; a full channel makes [`DeltaSink::send`] wait).
    pub fn channel(capacity: usize) -> (DeltaSink, mpsc::Receiver<StreamEvent>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (DeltaSink::new(tx, None), rx)
    }

    pub(crate) fn new(tx: mpsc::Sender<StreamEvent>, predictor: Option<PredictorId>) -> Self {
        Self { tx, predictor, adapter: None, sent: Arc::default() }
    }

    /// The same sink, tagging its deltas with `adapter`.
    pub fn with_adapter(&self, adapter: StreamAdapter) -> Self {
        Self { adapter: Some(adapter), ..self.clone() }
    }

    /// Send one delta of completion `choice`, waiting while the channel is
    /// full. Empty text is not sent. Returns false when nobody listens any
    /// more (the stream was dropped).
    pub async fn send(&self, choice: u32, text: impl Into<String>) -> bool {
        let text = text.into();
        if text.is_empty() {
            return true;
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        let delta = TokenDelta { predictor: self.predictor, adapter: self.adapter, choice, text };
        self.tx.send(StreamEvent::Token(delta)).await.is_ok()
    }

    /// Deltas sent through this sink and its clones so far.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// Send every completion of a whole `response` as `pieces` deltas each
    /// (split at character boundaries into near-equal parts): a cache hit
    /// replayed as a stream, or the single chunk of a provider that cannot
    /// stream.
    pub async fn replay(&self, response: &LmResponse, pieces: usize) {
        for (choice, completion) in response.completions.iter().enumerate() {
            let choice = u32::try_from(choice).unwrap_or(u32::MAX);
            for piece in split_pieces(&completion.text, pieces) {
                if !self.send(choice, piece).await {
                    return;
                }
            }
        }
    }
}

/// `text` in `pieces` near-equal parts, cut at character boundaries.
pub fn split_pieces(text: &str, pieces: usize) -> Vec<&str> {
    // Byte offset of every character start, and the end.
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len())).collect();
    let chars = bounds.len() - 1;
    let pieces = pieces.clamp(1, chars.max(1));
    let mut out = Vec::with_capacity(pieces);
    let mut start = 0;
    for k in 1..=pieces {
        let end = bounds.get(chars * k / pieces).copied().unwrap_or(text.len());
        out.push(&text[start..end]);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split_pieces;

    #[test]
    fn pieces_cover_the_text_at_char_boundaries() {
        assert_eq!(split_pieces("abcdefgh", 4), ["ab", "cd", "ef", "gh"]);
        assert_eq!(split_pieces("héllo wörld", 3).concat(), "héllo wörld");
        assert_eq!(split_pieces("ab", 4), ["a", "b"]);
        assert_eq!(split_pieces("", 4), [""]);
        assert_eq!(split_pieces("abc", 1), ["abc"]);
    }
}
