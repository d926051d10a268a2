//! [`RuleLm`]: the rule-scripted LM of the DSPy `optimizer_call` fixtures.
//!
//! A reply is a pure function of the request, given as ordered rules: the
//! first rule whose `contains` strings all occur in the whole conversation
//! (every message's content joined by blank lines), whose `last_contains`
//! strings all occur in the last message and whose `options` all equal the
//! request's generation options answers; choice `i` of an `n`-choice request
//! gets `replies[i % len]`. No rule matching means the `default` replies.
//!
//! Several named LMs can share one [`RequestLog`], so a test sees every
//! request of a whole optimizer run in order, with the LM that got it and
//! the options DSPy would have recorded (`lm_kwargs`).

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use kestrel_core::{Message, Usage};
use kestrel_lm::{Completion, Lm, LmCapabilities, LmError, LmRequest, LmResponse};
use serde_json::{Map, Value};

/// One rule of a [`RuleLm`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rule {
    /// Substrings of the whole conversation that must all occur.
    pub contains: Vec<String>,
    /// Substrings of the last message that must all occur.
    pub last_contains: Vec<String>,
    /// Generation options that must be present with these values.
    pub options: Map<String, Value>,
    /// Replies, one per choice (cycled).
    pub replies: Vec<String>,
}

impl Rule {
    fn matches(&self, text: &str, last: &str, options: &Map<String, Value>) -> bool {
        self.contains.iter().all(|s| text.contains(s.as_str()))
            && self.last_contains.iter().all(|s| last.contains(s.as_str()))
            && self.options.iter().all(|(k, v)| options.get(k).is_some_and(|o| options_equal(o, v)))
    }
}

/// Numbers compare by value (`1` equals `1.0`, as in Python); everything
/// else exactly.
fn options_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// One request as a [`RuleLm`] saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRequest {
    /// The name of the LM that got it.
    pub lm: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// The generation options, as DSPy records its `lm_kwargs`.
    pub lm_kwargs: Map<String, Value>,
    /// The reply text of each choice.
    pub replies: Vec<String>,
}

/// Requests of one or more [`RuleLm`]s, in the order they arrived.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<Vec<LoggedRequest>>>);

impl RequestLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything logged so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn push(&self, request: LoggedRequest) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(request);
    }
}

/// A rule-scripted LM (see the module docs).
#[derive(Debug, Clone)]
pub struct RuleLm {
    name: String,
    rules: Vec<Rule>,
    default: Vec<String>,
    log: RequestLog,
}

impl RuleLm {
    /// An LM named `name` answering by `rules`, else by `default`.
    pub fn new(name: impl Into<String>, rules: Vec<Rule>, default: Vec<String>, log: RequestLog) -> Self {
        Self { name: name.into(), rules, default, log }
    }

    /// Build from a fixture's `lms.NAME` object
    /// (`{"rules": [{"contains", "last_contains", "options", "replies"}], "default": {"replies"}}`).
    pub fn from_fixture(name: impl Into<String>, spec: &Value, log: RequestLog) -> Result<Self, String> {
        let strings = |v: Option<&Value>, what: &str| -> Result<Vec<String>, String> {
            match v {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|s| s.as_str().map(str::to_string).ok_or_else(|| format!("{what}: not a string: {s}")))
                    .collect(),
                Some(other) => Err(format!("{what}: not a list: {other}")),
            }
        };
        let rules = spec
            .get("rules")
            .and_then(Value::as_array)
            .ok_or("lm spec has no `rules` list")?
            .iter()
            .map(|r| {
                Ok(Rule {
                    contains: strings(r.get("contains"), "contains")?,
                    last_contains: strings(r.get("last_contains"), "last_contains")?,
                    options: r.get("options").and_then(Value::as_object).cloned().unwrap_or_default(),
                    replies: strings(r.get("replies"), "replies")?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let default = strings(spec.get("default").and_then(|d| d.get("replies")), "default.replies")?;
        Ok(Self::new(name, rules, default, log))
    }

    /// The options of `request` as DSPy records its `lm_kwargs`: `n` when
    /// more than one choice is asked for or the caller set it (even to 1,
    /// `LmRequest::n_explicit`), `temperature`, `max_tokens`, `stop` and
    /// `rollout_id` when set.
    pub fn lm_kwargs(request: &LmRequest) -> Map<String, Value> {
        let mut kwargs = Map::new();
        if request.n > 1 || request.n_explicit {
            kwargs.insert("n".into(), Value::from(request.n));
        }
        if let Some(t) = request.temperature {
            // The shortest text of the f32 (`1.4`), read back as a double.
            let value = t.to_string().parse::<f64>().map(Value::from).unwrap_or(Value::Null);
            kwargs.insert("temperature".into(), value);
        }
        if let Some(m) = request.max_tokens {
            kwargs.insert("max_tokens".into(), Value::from(m));
        }
        if !request.stop.is_empty() {
            kwargs.insert("stop".into(), Value::from(request.stop.clone()));
        }
        if let Some(r) = request.rollout_id {
            kwargs.insert("rollout_id".into(), Value::from(r));
        }
        kwargs
    }

    fn reply(&self, text: &str, last: &str, options: &Map<String, Value>, choice: usize) -> Option<String> {
        let replies = self.rules.iter().find(|r| r.matches(text, last, options)).map_or(&self.default, |r| &r.replies);
        if replies.is_empty() { None } else { Some(replies[choice % replies.len()].clone()) }
    }
}

#[async_trait]
impl Lm for RuleLm {
    fn model(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default().uncacheable()
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let text = request.messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n\n");
        let last = request.messages.last().map_or("", |m| m.content.as_str());
        let lm_kwargs = Self::lm_kwargs(&request);
        let replies = (0..request.n.max(1) as usize)
            .map(|i| self.reply(&text, last, &lm_kwargs, i))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| LmError::Provider {
                model: self.name.clone(),
                message: "no rule and no default reply for this request".into(),
            })?;
        self.log.push(LoggedRequest {
            lm: self.name.clone(),
            messages: request.messages.clone(),
            lm_kwargs,
            replies: replies.clone(),
        });
        let completions = replies.into_iter().map(Completion::stop).collect();
        Ok(LmResponse::new(completions, Usage::default(), self.name.clone()))
    }
}
