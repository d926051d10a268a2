//! [`ColBertV2`]: a client of DSPy's ColBERTv2 retrieval server API.
//!
//! `GET <url>?query=<q>&k=<k>` (or, with `post_requests`, `POST <url>` with
//! the JSON body `{"query", "k"}`) answers `{"topk": [{"text", "pid",
//! "rank", "score", "prob", ...}]}`; the first `k` entries are kept. As in
//! DSPy 3.4.1: a GET asks for at most [`COLBERT_GET_MAX_K`] passages, GET
//! results get `long_text = text`, a body whose `error` is truthy is the
//! server's error (its `message`), a body without `topk` is unexpected, and
//! requests time out after 10 s.
//!
//! Errors are typed: HTTP statuses map as for the LM providers
//! (`docs/PROVIDERS.md`), a body that is not JSON or not the expected shape
//! is [`LmError::BadResponse`], the server's own error body and a too large
//! `k` are [`LmError::Retrieval`].

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{Passage, Retriever, retrieval_error};
use crate::error::LmError;
use crate::providers::http_errors::json_reply;

/// Largest `k` DSPy sends with a GET ("only k <= 100 is supported for the
/// hosted ColBERTv2 server").
pub const COLBERT_GET_MAX_K: usize = 100;

/// DSPy's request timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A ColBERTv2 server (DSPy's `dspy.ColBERTv2(url, port, post_requests)`).
#[derive(Debug, Clone)]
pub struct ColBertV2 {
    url: String,
    post_requests: bool,
    timeout: Duration,
    name: String,
    http: reqwest::Client,
}

impl ColBertV2 {
    /// A client of the server at `url` (GET requests, 10 s timeout).
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            name: format!("colbertv2 {url}"),
            url,
            post_requests: false,
            timeout: DEFAULT_TIMEOUT,
            http: reqwest::Client::new(),
        }
    }

    /// Append `:port` to the URL (DSPy's `port`).
    pub fn port(self, port: u16) -> Self {
        let url = format!("{}:{port}", self.url);
        Self { name: format!("colbertv2 {url}"), url, ..self }
    }

    /// Send JSON `POST` requests instead of `GET` (DSPy's `post_requests`).
    pub fn post_requests(mut self, post: bool) -> Self {
        self.post_requests = post;
        self
    }

    /// Request timeout (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether requests are POSTs.
    pub fn get_post_requests(&self) -> bool {
        self.post_requests
    }

    fn request(&self, query: &str, k: usize) -> Result<reqwest::RequestBuilder, LmError> {
        let mut url = reqwest::Url::parse(&self.url)
            .map_err(|e| LmError::Config(format!("ColBERTv2 URL `{}` is not a URL: {e}", self.url)))?;
        let builder = if self.post_requests {
            self.http
                .post(url)
                .header("Content-Type", "application/json; charset=utf-8")
                .body(json!({"query": query, "k": k}).to_string())
        } else {
            if k > COLBERT_GET_MAX_K {
                return Err(retrieval_error(
                    &self.name,
                    format!("k = {k}: only k <= {COLBERT_GET_MAX_K} is supported with GET requests"),
                ));
            }
            url.query_pairs_mut().append_pair("query", query).append_pair("k", &k.to_string());
            self.http.get(url)
        };
        Ok(builder.timeout(self.timeout))
    }

    async fn send(&self, query: &str, k: usize) -> Result<Value, LmError> {
        json_reply(self.request(query, k)?.send().await, &self.name).await
    }

    /// Read a 200 body into passages.
    fn passages(&self, body: Value, k: usize) -> Result<Vec<Passage>, LmError> {
        let bad = |message: String| LmError::BadResponse { model: self.name.clone(), message };
        let Value::Object(mut body) = body else {
            return Err(bad(format!("expected a JSON object with `topk`, got {body}")));
        };
        if body.get("error").is_some_and(truthy) {
            let message = match body.get("message") {
                Some(Value::String(m)) => m.clone(),
                Some(other) => other.to_string(),
                None => "Unknown error".to_string(),
            };
            return Err(retrieval_error(&self.name, format!("the server returned an error: {message}")));
        }
        let Some(topk) = body.remove("topk") else {
            return Err(bad(format!("unexpected response (no `topk`): {}", Value::Object(body))));
        };
        let Value::Array(items) = topk else {
            return Err(bad(format!("`topk` must be a list, got {topk}")));
        };
        items
            .into_iter()
            .take(k)
            .enumerate()
            .map(|(i, item)| self.passage(item).map_err(|m| bad(format!("`topk[{i}]`: {m}"))))
            .collect()
    }

    fn passage(&self, item: Value) -> Result<Passage, String> {
        let Value::Object(mut fields) = item else {
            return Err(format!("expected an object, got {item}"));
        };
        let text = match fields.remove("text") {
            Some(Value::String(text)) => text,
            Some(other) => return Err(format!("`text` must be a string, got {other}")),
            None => return Err("no `text`".to_string()),
        };
        // GET results get `long_text = text` (DSPy); POST results keep the
        // server's `long_text` when it sends one.
        let long_text = match fields.remove("long_text") {
            Some(Value::String(long)) if self.post_requests => long,
            Some(Value::String(_)) | None => text.clone(),
            Some(other) => return Err(format!("`long_text` must be a string, got {other}")),
        };
        let score = match fields.remove("score") {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0) as f32,
            None | Some(Value::Null) => 0.0,
            Some(other) => return Err(format!("`score` must be a number, got {other}")),
        };
        let pid = match fields.get("pid") {
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        if pid.is_some() {
            fields.remove("pid");
        }
        fields.insert("text".into(), Value::String(text));
        let mut extra = Map::new();
        extra.extend(fields);
        Ok(Passage { text: long_text, score, pid, extra })
    }
}

/// Python's truthiness of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[async_trait]
impl Retriever for ColBertV2 {
    fn name(&self) -> &str {
        &self.name
    }

    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, LmError> {
        let body = self.send(query, k).await?;
        self.passages(body, k)
    }
}
