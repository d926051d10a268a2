//! Test support: a fake LM that answers `question -> answer` prompts after a
//! delay chosen by the question, fails on request, and counts the calls in
//! flight; plus small devset builders.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kestrel_core::{Example, Usage};
use kestrel_lm::{Completion, Lm, LmError, LmRequest, LmResponse};

/// Answers `[[ ## answer ## ]]` with the text after `=>` in the question
/// (`"q3 => Paris"` answers `Paris`), after `delay_ms=<n>` milliseconds if
/// the question says so; a question containing `FAIL` is a provider error
/// (bad request), one containing `RATELIMIT` a rate limit.
#[derive(Debug, Clone, Default)]
pub struct FakeLm {
    pub counters: Arc<Counters>,
    pub model: &'static str,
}

/// Calls seen, in flight now, and the most in flight at once.
#[derive(Debug, Default)]
pub struct Counters {
    pub calls: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// Questions in the order their answers were sent.
    pub completed: Mutex<Vec<String>>,
}

impl Counters {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

struct InFlight<'a>(&'a Counters);

impl<'a> InFlight<'a> {
    fn enter(counters: &'a Counters) -> Self {
        counters.calls.fetch_add(1, Ordering::SeqCst);
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(counters)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FakeLm {
    pub fn new() -> Self {
        Self { counters: Arc::default(), model: "fake/echo" }
    }

    /// Same LM under a model name with a known price.
    pub fn priced() -> Self {
        Self { counters: Arc::default(), model: "openai/gpt-4o-mini" }
    }
}

/// The value of the `question` block of a ChatAdapter user message.
pub fn question_of(request: &LmRequest) -> String {
    let last = request.messages.last().map(|m| m.content.as_str()).unwrap_or_default();
    let start = last.find("[[ ## question ## ]]\n").map(|i| i + "[[ ## question ## ]]\n".len()).unwrap_or(0);
    let rest = &last[start..];
    rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string()
}

#[async_trait]
impl Lm for FakeLm {
    fn model(&self) -> &str {
        self.model
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let _guard = InFlight::enter(&self.counters);
        let question = question_of(&request);
        if let Some(ms) = question.split("delay_ms=").nth(1).and_then(|s| s.split_whitespace().next()) {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        }
        if question.contains("RATELIMIT") {
            return Err(LmError::RateLimited {
                model: self.model.to_string(),
                message: "slow down".to_string(),
                retry_after: None,
            });
        }
        if question.contains("FAIL") {
            return Err(LmError::BadRequest {
                model: self.model.to_string(),
                status: 400,
                message: format!("refused: {question}"),
            });
        }
        self.counters.completed.lock().unwrap().push(question.clone());
        let answer = question.split("=> ").nth(1).unwrap_or("").trim();
        let text = format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]");
        Ok(LmResponse::new(
            vec![Completion::stop(text)],
            Usage { prompt_tokens: 100, completion_tokens: 10 },
            self.model,
        ))
    }
}

/// A `question -> answer` example whose question makes the fake LM answer
/// `reply`, with gold `gold`.
pub fn qa(question: impl Into<String>, reply: &str, gold: &str) -> Example {
    Example::from_pairs([("question", format!("{} => {reply}", question.into())), ("answer", gold.to_string())])
        .with_inputs(["question"])
}
