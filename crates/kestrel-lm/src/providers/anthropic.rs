//! [`AnthropicProvider`]: Anthropic's Messages API over reqwest — one
//! `POST {base}/v1/messages` per completion, no retry (Kestrel's client
//! retries above it), every failure a typed [`LmError`].

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::try_join_all;
use serde_json::Value;

use super::anthropic_stream::read_message_stream;
use super::anthropic_wire::{messages_body, parse_message};
use super::event_stream::EventReader;
use super::http_errors::json_reply;
use super::secret::{check_key, redact};
use super::{DEFAULT_TIMEOUT, check_tls, env_var, host_of};
use crate::error::LmError;
use crate::lm::{Lm, LmCapabilities};
use crate::request::{LmRequest, LmResponse};
use crate::stream::DeltaSink;

/// Anthropic's API.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";

/// The API version header sent.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// `max_tokens` sent when the request sets none (the API requires one).
pub const DEFAULT_ANTHROPIC_MAX_TOKENS: u32 = 4096;

/// An Anthropic Messages API provider.
///
/// `n > 1` sends `n` concurrent requests (the API has no `n`) and merges them
/// into one [`LmResponse`] with usage summed. `response_format` is not sent:
/// structured outputs are off, so the JSON adapter asks in the prompt.
pub struct AnthropicProvider {
    name: String,
    id: String,
    api_key: Option<String>,
    base_url: String,
    timeout: Duration,
    default_max_tokens: u32,
    http: reqwest::Client,
}

impl AnthropicProvider {
    /// A provider for `model` as Anthropic names it
    /// (`claude-3-5-haiku-latest`), with no key, the default timeout (600 s)
    /// and a default `max_tokens` of 4096.
    pub fn new(model: impl Into<String>) -> Self {
        let name = model.into();
        Self {
            id: format!("anthropic/{name}"),
            name,
            api_key: None,
            base_url: ANTHROPIC_BASE_URL.to_string(),
            timeout: DEFAULT_TIMEOUT,
            default_max_tokens: DEFAULT_ANTHROPIC_MAX_TOKENS,
            http: reqwest::Client::new(),
        }
    }

    /// From the environment: `ANTHROPIC_API_KEY` (required for
    /// api.anthropic.com) and `ANTHROPIC_BASE_URL` (default
    /// `https://api.anthropic.com`).
    pub fn from_env(model: impl Into<String>) -> Result<Self, LmError> {
        let mut provider = Self::new(model);
        if let Some(base) = env_var("ANTHROPIC_BASE_URL") {
            provider = provider.base_url(base);
        }
        if let Some(key) = env_var("ANTHROPIC_API_KEY") {
            provider = provider.api_key(key);
        }
        provider.check()?;
        Ok(provider)
    }

    /// Builder: the API key (sent as `x-api-key`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Builder: the base URL, without `/v1` (`http://127.0.0.1:8080`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into().trim().trim_end_matches('/').to_string();
        self
    }

    /// Builder: the time one request may take, body included (default
    /// 600 s); beyond it the call fails with [`LmError::Timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builder: `max_tokens` when the request sets none (default 4096).
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = max_tokens;
        self
    }

    /// The model name sent to the API.
    pub fn model_name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> Result<(), LmError> {
        check_tls(&self.base_url)?;
        if self.api_key.is_none() && host_of(&self.base_url).eq_ignore_ascii_case("api.anthropic.com") {
            return Err(LmError::Config(format!(
                "no API key for {}: set ANTHROPIC_API_KEY (or `.api_key(..)`)",
                self.id
            )));
        }
        if let Some(key) = &self.api_key {
            check_key(&self.id, key)?;
        }
        Ok(())
    }

    /// One request, one completion; the key scrubbed from any failure.
    async fn send_one(&self, body: &Value) -> Result<LmResponse, LmError> {
        self.send_unredacted(body).await.map_err(|e| redact(e, self.api_key.as_deref()))
    }

    async fn send_unredacted(&self, body: &Value) -> Result<LmResponse, LmError> {
        let model = || self.id.clone();
        let request = self.post(body)?;
        let value = json_reply(request.send().await, &self.id).await?;
        parse_message(&self.name, value).map_err(|message| LmError::BadResponse { model: model(), message })
    }

    /// One streamed request as completion `choice`; the key scrubbed from
    /// any failure.
    async fn stream_one(&self, body: &Value, choice: u32, sink: &DeltaSink) -> Result<LmResponse, LmError> {
        let run = async {
            let reader = EventReader::open(self.post(body)?, &self.id).await?;
            read_message_stream(reader, &self.name, &self.id, choice, sink).await
        };
        run.await.map_err(|e| redact(e, self.api_key.as_deref()))
    }

    /// The `POST /v1/messages` request for `body`, headers set.
    fn post(&self, body: &Value) -> Result<reqwest::RequestBuilder, LmError> {
        let mut request = self
            .http
            .post(format!("{}/v1/messages", self.base_url))
            .timeout(self.timeout)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(body);
        if let Some(key) = &self.api_key {
            // Sensitive: reqwest and hyper print it as "Sensitive" in Debug output.
            let mut value = reqwest::header::HeaderValue::from_str(key)
                .map_err(|_| LmError::Config(format!("the API key for {} cannot be sent as a header", self.id)))?;
            value.set_sensitive(true);
            request = request.header("x-api-key", value);
        }
        Ok(request)
    }
}

impl fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("model", &self.id)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .field("default_max_tokens", &self.default_max_tokens)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Lm for AnthropicProvider {
    fn model(&self) -> &str {
        &self.id
    }

    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default().with_function_calling(true).with_streaming(true)
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        self.check()?;
        let body = messages_body(&self.name, &request, self.default_max_tokens);
        if request.n <= 1 {
            return self.send_one(&body).await;
        }
        let responses = try_join_all((0..request.n).map(|_| self.send_one(&body))).await?;
        Ok(self.merge(responses))
    }

    async fn call_streaming(&self, request: LmRequest, sink: &DeltaSink) -> Result<LmResponse, LmError> {
        self.check()?;
        let mut body = messages_body(&self.name, &request, self.default_max_tokens);
        body["stream"] = Value::Bool(true);
        if request.n <= 1 {
            return self.stream_one(&body, 0, sink).await;
        }
        let responses = try_join_all((0..request.n).map(|i| self.stream_one(&body, i, sink))).await?;
        Ok(self.merge(responses))
    }
}

impl AnthropicProvider {
    /// `n` one-completion responses as one, usage summed.
    fn merge(&self, responses: Vec<LmResponse>) -> LmResponse {
        let mut merged = LmResponse::new(Vec::new(), Default::default(), self.name.clone());
        for (i, response) in responses.into_iter().enumerate() {
            if i == 0 {
                merged.model = response.model;
            }
            merged.completions.extend(response.completions);
            merged.usage += response.usage;
        }
        merged
    }
}
