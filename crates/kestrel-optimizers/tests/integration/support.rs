//! A deterministic arithmetic LM whose answers depend only on the question
//! (never on call order), with per-question delays that reorder
//! completions, and a training set of "What is a + b?" questions.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use kestrel_core::{Example, Prediction, Role, Usage};
use kestrel_lm::{Completion, Lm, LmCapabilities, LmError, LmRequest, LmResponse, SharedLm};
use kestrel_modules::Trace;

/// Answers `What is a + b?` correctly unless `(a + b) % wrong_every == 0`;
/// fails with a provider error when the question contains `FAIL`.
#[derive(Debug)]
pub struct ArithmeticLm {
    pub wrong_every: u64,
    pub calls: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub delay: bool,
    /// With any demo in the prompt every answer is right.
    pub demos_help: bool,
    /// Requests whose demos hold the very question being asked.
    pub self_demo_seen: AtomicUsize,
}

impl ArithmeticLm {
    pub fn new(wrong_every: u64) -> Arc<Self> {
        Arc::new(Self {
            wrong_every,
            calls: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            delay: true,
            demos_help: false,
            self_demo_seen: AtomicUsize::new(0),
        })
    }

    /// The same LM, but always right once the prompt has a demo.
    pub fn helped_by_demos(wrong_every: u64) -> Arc<Self> {
        let mut lm = Self::new(wrong_every);
        if let Some(inner) = Arc::get_mut(&mut lm) {
            inner.demos_help = true;
        }
        lm
    }

    pub fn shared(self: &Arc<Self>) -> SharedLm {
        SharedLm::from_arc(self.clone())
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// The text after `[[ ## question ## ]]` in the last message.
pub fn question_of(request: &LmRequest) -> String {
    let last = request.messages.last().map(|m| m.content.as_str()).unwrap_or("");
    let after = last.rsplit("[[ ## question ## ]]\n").next().unwrap_or("");
    after.split("\n\n").next().unwrap_or("").to_string()
}

/// `a` and `b` of "What is a + b?".
pub fn operands(question: &str) -> Option<(u64, u64)> {
    let body = question.strip_prefix("What is ")?.strip_suffix('?')?;
    let (a, b) = body.split_once(" + ")?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

#[async_trait]
impl Lm for ArithmeticLm {
    fn model(&self) -> &str {
        "test/arithmetic"
    }
    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default().uncacheable()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let question = question_of(&request);
        if self.delay {
            let jitter = question.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) % 4;
            tokio::time::sleep(Duration::from_millis(1 + jitter)).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if question.contains("FAIL") {
            return Err(LmError::Provider {
                model: "test/arithmetic".into(),
                message: format!("cannot do {question}"),
            });
        }
        let marker = format!("[[ ## question ## ]]\n{question}\n");
        if request.messages.iter().filter(|m| m.content.contains(&marker)).count() > 1 {
            self.self_demo_seen.fetch_add(1, Ordering::SeqCst);
        }
        let has_demos = request
            .messages
            .iter()
            .filter(|m| m.role == Role::User && m.content.contains("[[ ## question ## ]]"))
            .count()
            > 1;
        // A later bootstrap round (fresh rollout at temperature 1.0) is
        // always right, so rounds can be tested.
        let fresh_rollout = request.temperature == Some(1.0) && request.rollout_id.is_some();
        let always_right = fresh_rollout || (self.demos_help && has_demos);
        let answer = match operands(&question) {
            Some((a, b)) if always_right || (a + b) % self.wrong_every != 0 => a + b,
            Some((a, b)) => a + b + 1,
            None => 0,
        };
        let text = format!("[[ ## reasoning ## ]]\nAdd them.\n\n[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]");
        Ok(LmResponse::new(
            vec![Completion::stop(text)],
            Usage { prompt_tokens: 10, completion_tokens: 5 },
            "test/arithmetic",
        ))
    }
}

/// `n` examples "What is i + (i+1)?" with their sums, inputs marked.
pub fn trainset(n: u64) -> Vec<Example> {
    (0..n).map(|i| example(i, i + 1)).collect()
}

pub fn example(a: u64, b: u64) -> Example {
    Example::from_pairs([
        ("question", serde_json::Value::from(format!("What is {a} + {b}?"))),
        ("answer", serde_json::Value::from((a + b).to_string())),
    ])
    .with_inputs(["question"])
}

/// Exact match of `answer` as text.
pub fn exact(ex: &Example, pred: &Prediction, _trace: Option<&Trace>) -> bool {
    let text = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => s.trim().to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    text(ex.get("answer")) == text(pred.get("answer"))
}

/// Whether the arithmetic LM answers example `i` of [`trainset`] correctly.
pub fn lm_is_right(i: u64, wrong_every: u64) -> bool {
    (2 * i + 1) % wrong_every != 0
}
