//! One streamed HTTP answer read as server-sent events: the request sent
//! with reqwest, a non-2xx answer turned into its [`LmError`] (as
//! `http_errors` maps statuses), then the body read piece by piece
//! (`Response::chunk`) through [`SseParser`]. A body that breaks off is
//! [`LmError::Connection`]; one that is not an event stream is
//! [`LmError::BadResponse`]. Dropping the reader drops the response, which
//! closes the connection: that is how a dropped stream stops the request.

use std::collections::VecDeque;

use super::http_errors::{error_chain, retry_after, status_error};
use super::sse::{SseEvent, SseParser};
use crate::error::LmError;

/// Reads the events of one streamed response.
#[derive(Debug)]
pub(crate) struct EventReader {
    model: String,
    response: reqwest::Response,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
    bytes: usize,
    ended: bool,
}

impl EventReader {
    /// Send `request`; `Ok` once a 2xx head arrived.
    pub(crate) async fn open(request: reqwest::RequestBuilder, model: &str) -> Result<Self, LmError> {
        let response = request.send().await.map_err(|e| send_error(&e, model))?;
        let status = response.status();
        if !status.is_success() {
            let header = |h: &str| response.headers().get(h).and_then(|v| v.to_str().ok()).map(str::to_string);
            let wait = retry_after(header("retry-after-ms").as_deref(), header("retry-after").as_deref());
            let body = match response.text().await {
                Ok(text) => text,
                Err(e) => format!("(the error body could not be read: {e})"),
            };
            return Err(status_error(model, status.as_u16(), wait, &body));
        }
        Ok(Self {
            model: model.to_string(),
            response,
            parser: SseParser::default(),
            ready: VecDeque::new(),
            bytes: 0,
            ended: false,
        })
    }

    /// The next event; `None` when the body ended cleanly.
    pub(crate) async fn next(&mut self) -> Result<Option<SseEvent>, LmError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            match self.response.chunk().await {
                Ok(Some(piece)) => {
                    self.bytes += piece.len();
                    let events = self.parser.push(&piece).map_err(|message| self.bad(message))?;
                    self.ready.extend(events);
                }
                Ok(None) => {
                    self.ended = true;
                    if !self.parser.is_clean() {
                        return Err(self.bad("the event stream ended inside a line".to_string()));
                    }
                }
                Err(e) if e.is_timeout() => {
                    return Err(LmError::Timeout { model: self.model.clone(), message: error_chain(&e) });
                }
                Err(e) => {
                    return Err(LmError::Connection {
                        model: self.model.clone(),
                        message: format!("the stream broke off after {} bytes: {}", self.bytes, error_chain(&e)),
                    });
                }
            }
        }
    }

    /// A [`LmError::BadResponse`] about this stream.
    pub(crate) fn bad(&self, message: String) -> LmError {
        LmError::BadResponse { model: self.model.clone(), message }
    }

    /// The stream ended without its final event.
    pub(crate) fn unfinished(&self, what: &str) -> LmError {
        LmError::Connection {
            model: self.model.clone(),
            message: format!("the stream ended after {} bytes without {what}", self.bytes),
        }
    }
}

/// A request that got no response head.
fn send_error(e: &reqwest::Error, model: &str) -> LmError {
    let model = model.to_string();
    if e.is_timeout() {
        LmError::Timeout { model, message: error_chain(e) }
    } else if e.is_builder() {
        LmError::Config(format!("cannot send to {model}: {}", error_chain(e)))
    } else {
        LmError::Connection { model, message: error_chain(e) }
    }
}

/// An event's data as JSON, or a bad-response error quoting it.
pub(crate) fn event_json(reader: &EventReader, event: &SseEvent) -> Result<serde_json::Value, LmError> {
    serde_json::from_str(&event.data).map_err(|e| {
        reader.bad(format!("an event's data is not JSON ({e}): {}", event.data.chars().take(500).collect::<String>()))
    })
}
