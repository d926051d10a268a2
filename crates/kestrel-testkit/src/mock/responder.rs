//! [`Responder`]: where the mock server's reply texts come from — a
//! [`ScriptedLm`] script or any closure from the parsed [`LmRequest`] to the
//! reply text (a simulated LM computing answers from the prompt).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kestrel_lm::LmRequest;

use super::reply::MockReply;
use crate::ScriptedLm;

/// A closure answering one parsed request with the reply text, or with a
/// message the server sends back as a 500 in the provider's error shape.
pub type ReplyFn = Arc<dyn Fn(&LmRequest) -> Result<String, String> + Send + Sync>;

/// A closure answering one choice of a parsed request: the request and the
/// choice index (`0..n`), so the `n` choices of one request can differ.
pub type ChoiceFn = Arc<dyn Fn(&LmRequest, u32) -> Result<String, String> + Send + Sync>;

/// A closure answering one choice of a parsed request with a full
/// [`MockReply`] (text and tool calls).
pub type TurnFn = Arc<dyn Fn(&LmRequest, u32) -> Result<MockReply, String> + Send + Sync>;

/// The source of every reply text the mock server sends.
///
/// For chat completions the responder is asked once per choice (`n` times,
/// with the choice index), for Anthropic once per request (choice 0; the
/// provider sends `n` requests).
/// Embeddings never reach it (they are derived from the input text, see
/// [`super::embed`]).
#[derive(Clone)]
pub enum Responder {
    /// A script (sequence, keyed, follow-the-demos), through
    /// [`ScriptedLm::reply_for`]. The script's own request log is not used;
    /// the server records requests itself.
    Scripted(ScriptedLm),
    /// A closure: deterministic simulated LMs, echo servers, anything that
    /// computes the answer from the prompt.
    Fn(ReplyFn),
    /// A closure that also sees the choice index (the simulated LM: the `n`
    /// choices of a proposal request differ).
    Choices(ChoiceFn),
    /// A closure giving full replies: text and tool calls (native function
    /// calling).
    Turns(TurnFn),
}

impl Responder {
    /// A responder from a closure.
    pub fn from_fn<F>(reply: F) -> Self
    where
        F: Fn(&LmRequest) -> Result<String, String> + Send + Sync + 'static,
    {
        Responder::Fn(Arc::new(reply))
    }

    /// A responder from a closure that also takes the choice index.
    pub fn from_choice_fn<F>(reply: F) -> Self
    where
        F: Fn(&LmRequest, u32) -> Result<String, String> + Send + Sync + 'static,
    {
        Responder::Choices(Arc::new(reply))
    }

    /// A responder from a closure giving full replies (text and tool calls).
    pub fn from_turn_fn<F>(reply: F) -> Self
    where
        F: Fn(&LmRequest, u32) -> Result<MockReply, String> + Send + Sync + 'static,
    {
        Responder::Turns(Arc::new(reply))
    }

    /// A responder giving these replies in order, one per choice asked for
    /// (a request with `n` choices takes `n`); running out is an error
    /// reply naming the request.
    pub fn replies(replies: impl IntoIterator<Item = MockReply>) -> Self {
        let replies: Vec<MockReply> = replies.into_iter().collect();
        let next = AtomicUsize::new(0);
        Self::from_turn_fn(move |_, _| {
            let i = next.fetch_add(1, Ordering::SeqCst);
            replies
                .get(i)
                .cloned()
                .ok_or_else(|| format!("the mock has {} scripted replies and got request #{}", replies.len(), i + 1))
        })
    }

    /// The full reply of choice `index` of `request`.
    pub fn reply_turn(&self, request: &LmRequest, index: u32) -> Result<MockReply, String> {
        match self {
            Responder::Turns(reply) => caught(|| reply(request, index)),
            other => other.reply_choice(request, index).map(MockReply::text),
        }
    }

    /// The reply text for `request` (its first choice). A closure that
    /// panics is an `Err` naming the panic, never a crashed server.
    pub fn reply(&self, request: &LmRequest) -> Result<String, String> {
        self.reply_choice(request, 0)
    }

    /// The reply text of choice `index` of `request`. Scripts and
    /// [`Responder::Fn`] closures give every choice the same text.
    pub fn reply_choice(&self, request: &LmRequest, index: u32) -> Result<String, String> {
        match self {
            Responder::Scripted(script) => script.reply_for(request),
            Responder::Fn(reply) => caught(|| reply(request)),
            Responder::Choices(reply) => caught(|| reply(request, index)),
            Responder::Turns(reply) => caught(|| reply(request, index)).map(|r| r.text),
        }
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Responder::Scripted(script) => f.debug_tuple("Scripted").field(script).finish(),
            Responder::Fn(_) => f.write_str("Fn(..)"),
            Responder::Choices(_) => f.write_str("Choices(..)"),
            Responder::Turns(_) => f.write_str("Turns(..)"),
        }
    }
}

/// Run a closure, turning a panic into an `Err` naming it.
fn caught<T>(reply: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(reply)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string payload".to_string());
        Err(format!("the responder panicked: {what}"))
    })
}

impl From<ScriptedLm> for Responder {
    fn from(script: ScriptedLm) -> Self {
        Responder::Scripted(script)
    }
}

impl From<ReplyFn> for Responder {
    fn from(reply: ReplyFn) -> Self {
        Responder::Fn(reply)
    }
}
