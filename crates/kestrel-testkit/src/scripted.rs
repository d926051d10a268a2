//! [`ScriptedLm`]: answers from a script, records requests.
//!
//! Three modes, as DSPy's `DummyLM`:
//! - **sequence**: the i-th request gets the i-th reply;
//! - **keyed**: the first reply whose key is a substring of the last
//!   message's content;
//! - **follow the demos**: the reply is the assistant turn of the demo whose
//!   user turn carries the same input fields as the final user message.
//!
//! A request the script cannot answer is an [`LmError::Provider`], never a
//! panic.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use kestrel_core::adapter::format_user_message_content;
use kestrel_core::{Example, FieldSpec, FieldType, Fields, SignatureSpec, Usage};
use kestrel_lm::{Completion, Lm, LmCapabilities, LmError, LmRequest, LmResponse};
use serde_json::Value;

use crate::simulated::PromptView;

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Send this text as is.
    Text(String),
    /// Send these fields as `[[ ## name ## ]]` blocks (see [`format_fields`]).
    Fields(Fields),
}

impl Reply {
    /// A reply of (field, value) pairs.
    pub fn fields<K: Into<String>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Reply::Fields(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// The reply text.
    pub fn render(&self) -> String {
        match self {
            Reply::Text(t) => t.clone(),
            Reply::Fields(f) => format_fields(f),
        }
    }
}

impl From<&str> for Reply {
    fn from(text: &str) -> Self {
        Reply::Text(text.to_string())
    }
}

impl From<String> for Reply {
    fn from(text: String) -> Self {
        Reply::Text(text)
    }
}

/// `[[ ## name ## ]]\nvalue` blocks joined by blank lines, as DSPy's
/// `DummyLM` writes its answers (`format_field_with_value` on untyped
/// output fields): strings as they are, lists and dicts as JSON, other
/// values as Python's `str()` (`True`, `None`, `2.0`). Core's prompt
/// rendering writes them ([`format_user_message_content`] over `Any`
/// fields). Field names must be identifiers, as in a signature; a reply
/// with another name is a `[[ ## error ## ]]` block saying so, which no
/// adapter accepts as an answer.
pub fn format_fields(fields: &Fields) -> String {
    let specs = fields.keys().map(|name| FieldSpec::input(name.clone(), FieldType::Any)).collect();
    match SignatureSpec::new(specs, Some(String::new())) {
        Ok(signature) => format_user_message_content(&signature, &Example::from_fields(fields.clone())),
        Err(e) => format!("[[ ## error ## ]]\nthe scripted reply's field names are not a signature's: {e}"),
    }
}

#[derive(Debug, Clone)]
enum Script {
    Sequence(Vec<Reply>),
    Keyed(Vec<(String, Reply)>),
    FollowDemos,
}

#[derive(Debug)]
struct Inner {
    model: String,
    script: Script,
    next: AtomicUsize,
    requests: Mutex<Vec<LmRequest>>,
    record: bool,
    capabilities: LmCapabilities,
}

/// A scripted, recording LM. Clones share the script position and the
/// recorded requests.
#[derive(Debug, Clone)]
pub struct ScriptedLm {
    inner: Arc<Inner>,
}

impl ScriptedLm {
    fn with_script(script: Script) -> Self {
        ScriptedLm {
            inner: Arc::new(Inner {
                model: "scripted/dummy".to_string(),
                script,
                next: AtomicUsize::new(0),
                requests: Mutex::new(Vec::new()),
                record: true,
                // Replies depend on call order: a cache would change them.
                capabilities: LmCapabilities::default().uncacheable(),
            }),
        }
    }

    /// Answer the i-th request with the i-th reply.
    pub fn sequence<R: Into<Reply>>(replies: impl IntoIterator<Item = R>) -> Self {
        Self::with_script(Script::Sequence(replies.into_iter().map(Into::into).collect()))
    }

    /// Answer with the first reply whose key occurs in the last message.
    pub fn keyed<K: Into<String>, R: Into<Reply>>(pairs: impl IntoIterator<Item = (K, R)>) -> Self {
        Self::with_script(Script::Keyed(pairs.into_iter().map(|(k, r)| (k.into(), r.into())).collect()))
    }

    /// Answer each request with the demo whose inputs match the final user
    /// message (ChatAdapter prompts).
    pub fn follow_demos() -> Self {
        Self::with_script(Script::FollowDemos)
    }

    /// Report structured-output support (the JSON adapter then sends a
    /// `response_format`). Call before cloning.
    pub fn with_structured_outputs(mut self, on: bool) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.capabilities = inner.capabilities.with_structured_outputs(on);
        }
        self
    }

    /// Stop recording requests (benchmarks make millions of calls). Call
    /// before cloning.
    pub fn without_recording(mut self) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.record = false;
        }
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<LmRequest> {
        self.inner.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.inner.requests.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// The scripted reply text for `request` (advancing the sequence), without
    /// recording it. The mock HTTP server uses this to serve a script.
    pub fn reply_for(&self, request: &LmRequest) -> Result<String, String> {
        match &self.inner.script {
            Script::Sequence(replies) => {
                let i = self.inner.next.fetch_add(1, Ordering::SeqCst);
                replies
                    .get(i)
                    .map(Reply::render)
                    .ok_or_else(|| format!("scripted LM has {} replies and got request #{}", replies.len(), i + 1))
            }
            Script::Keyed(pairs) => {
                let last = request.messages.last().map(|m| m.content.as_str()).unwrap_or("");
                pairs
                    .iter()
                    .find(|(key, _)| last.contains(key.as_str()))
                    .map(|(_, r)| r.render())
                    .ok_or_else(|| "scripted LM has no reply whose key occurs in the last message".to_string())
            }
            Script::FollowDemos => follow_demos(request),
        }
    }
}

/// DSPy's `follow_examples`: the assistant turn of the first demo whose
/// inputs are the final user message's ([`PromptView::matching_demo`], the
/// simulated LM's "memorized" rule).
fn follow_demos(request: &LmRequest) -> Result<String, String> {
    let view = PromptView::parse(request)?;
    view.matching_demo()
        .map(|demo| demo.reply.clone())
        .ok_or_else(|| "no demo in the prompt has these inputs".to_string())
}

fn rough_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[async_trait]
impl Lm for ScriptedLm {
    fn model(&self) -> &str {
        &self.inner.model
    }

    fn capabilities(&self) -> LmCapabilities {
        self.inner.capabilities
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        if self.inner.record {
            self.inner.requests.lock().unwrap_or_else(PoisonError::into_inner).push(request.clone());
        }
        let mut completions = Vec::with_capacity(request.n as usize);
        for _ in 0..request.n.max(1) {
            let text = self
                .reply_for(&request)
                .map_err(|message| LmError::Provider { model: self.inner.model.clone(), message })?;
            completions.push(Completion::stop(text));
        }
        let usage = Usage {
            prompt_tokens: request.messages.iter().map(|m| rough_tokens(&m.content)).sum(),
            completion_tokens: completions.iter().map(|c| rough_tokens(&c.text)).sum(),
        };
        Ok(LmResponse::new(completions, usage, self.inner.model.clone()))
    }
}
