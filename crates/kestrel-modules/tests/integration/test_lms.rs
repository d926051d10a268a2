//! Test LMs beyond `ScriptedLm`: one whose context window overflows, and one
//! that answers by rollout id (with a delay, so concurrent attempts finish
//! out of order).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kestrel_lm::{Completion, Lm, LmCapabilities, LmError, LmRequest, LmResponse};
use kestrel_testkit::ScriptedLm;

/// Delegates to a `ScriptedLm`, but rejects (as a context-window error) any
/// request whose last message holds `limit` or more trajectory steps.
#[derive(Debug, Clone)]
pub struct WindowLm {
    pub inner: ScriptedLm,
    pub limit: usize,
    pub rejected: Arc<Mutex<usize>>,
}

impl WindowLm {
    pub fn new(inner: ScriptedLm, limit: usize) -> Self {
        Self { inner, limit, rejected: Arc::default() }
    }
}

#[async_trait]
impl Lm for WindowLm {
    fn model(&self) -> &str {
        "test/window"
    }
    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default().uncacheable()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let last = request.messages.last().map(|m| m.content.as_str()).unwrap_or("");
        if last.matches("[[ ## thought_").count() >= self.limit {
            *self.rejected.lock().unwrap() += 1;
            return Err(LmError::ContextWindowExceeded { model: "test/window".into(), message: "too long".into() });
        }
        self.inner.call(request).await
    }
}

/// Answers each request with the reply for its rollout id, after a delay
/// that is longer for lower ids; records every request.
#[derive(Debug, Clone, Default)]
pub struct RolloutLm {
    pub replies: HashMap<u64, String>,
    pub delay_ms: u64,
    pub requests: Arc<Mutex<Vec<LmRequest>>>,
}

impl RolloutLm {
    pub fn new(replies: impl IntoIterator<Item = (u64, String)>, delay_ms: u64) -> Self {
        Self { replies: replies.into_iter().collect(), delay_ms, requests: Arc::default() }
    }

    pub fn requests(&self) -> Vec<LmRequest> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait]
impl Lm for RolloutLm {
    fn model(&self) -> &str {
        "test/rollout"
    }
    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default().uncacheable()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        self.requests.lock().unwrap().push(request.clone());
        let id = request.rollout_id.unwrap_or(u64::MAX);
        if self.delay_ms > 0 {
            let slower_first = self.delay_ms * (10u64.saturating_sub(id.min(10)));
            tokio::time::sleep(Duration::from_millis(slower_first)).await;
        }
        match self.replies.get(&id) {
            Some(text) => Ok(LmResponse::new(vec![Completion::stop(text.clone())], Default::default(), "test/rollout")),
            None => {
                Err(LmError::Provider { model: "test/rollout".into(), message: format!("no reply for rollout {id}") })
            }
        }
    }
}
