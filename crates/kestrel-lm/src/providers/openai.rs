//! [`OpenAiProvider`]: chat completions and embeddings on any OpenAI-compatible
//! server, over async-openai's bring-your-own-types (`byot`) calls — the body
//! is exactly what [`super::openai_wire`] builds, the answer is read as JSON
//! Kestrel controls — through a transport that never retries
//! ([`super::openai_http`]).

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_trait::async_trait;
use serde_json::Value;

use super::event_stream::EventReader;
use super::openai_http::{map_openai_error, no_retry_client};
use super::openai_stream::{read_chat_stream, stream_body};
use super::openai_wire::{
    chat_body, embeddings_body, openai_supports_structured_outputs, parse_chat_response, parse_embeddings,
};
use super::secret::{check_key, redact};
use super::{DEFAULT_TIMEOUT, check_tls, env_var, host_of};
use crate::embed::Embedder;
use crate::error::LmError;
use crate::lm::{Lm, LmCapabilities};
use crate::request::{LmRequest, LmResponse};
use crate::stream::DeltaSink;

/// OpenAI's own API.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// Sent as the key to servers that need none (as llama.cpp's docs suggest),
/// since the OpenAI wire format always carries an `Authorization` header.
const NO_KEY: &str = "sk-no-key-required";

/// An OpenAI-compatible chat-completions (and embeddings) provider.
///
/// ```no_run
/// # use kestrel_lm::providers::OpenAiProvider;
/// let local = OpenAiProvider::new("llama3.1").base_url("http://localhost:11434/v1");
/// ```
pub struct OpenAiProvider {
    name: String,
    id: String,
    api_key: Option<String>,
    base_url: String,
    timeout: Duration,
    structured_outputs: Option<bool>,
    client: OnceLock<Client<OpenAIConfig>>,
    /// Plain reqwest for streamed calls (made on first use).
    http: OnceLock<reqwest::Client>,
}

impl OpenAiProvider {
    /// A provider for `model` as the server names it (`gpt-4o-mini`; no
    /// `openai/` prefix: that is the model string's, see
    /// [`super::provider_for_model`]), on OpenAI's API, with no key, the
    /// default timeout (600 s) and structured outputs as known for the model.
    pub fn new(model: impl Into<String>) -> Self {
        let name = model.into();
        Self {
            id: format!("openai/{name}"),
            name,
            api_key: None,
            base_url: OPENAI_BASE_URL.to_string(),
            timeout: DEFAULT_TIMEOUT,
            structured_outputs: None,
            client: OnceLock::new(),
            http: OnceLock::new(),
        }
    }

    /// From the environment: `OPENAI_API_KEY` (required for api.openai.com,
    /// optional for other servers) and `OPENAI_BASE_URL` (default
    /// `https://api.openai.com/v1`).
    pub fn from_env(model: impl Into<String>) -> Result<Self, LmError> {
        let mut provider = Self::new(model);
        if let Some(base) = env_var("OPENAI_BASE_URL") {
            provider = provider.base_url(base);
        }
        if let Some(key) = env_var("OPENAI_API_KEY") {
            provider = provider.api_key(key);
        }
        provider.check()?;
        Ok(provider)
    }

    /// Builder: the API key (sent as `Authorization: Bearer …`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self.client = OnceLock::new();
        self
    }

    /// Builder: the base URL, up to and including `/v1`
    /// (`http://localhost:8000/v1`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into().trim().trim_end_matches('/').to_string();
        self.client = OnceLock::new();
        self
    }

    /// Builder: the time one call may take, body included (default 600 s);
    /// beyond it the call fails with [`LmError::Timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builder: whether the server accepts strict JSON-schema
    /// `response_format` (default: true for OpenAI's gpt-4o*, gpt-4.1*,
    /// gpt-5* and o-series models on api.openai.com, false elsewhere).
    pub fn structured_outputs(mut self, on: bool) -> Self {
        self.structured_outputs = Some(on);
        self
    }

    /// The model name sent to the server.
    pub fn model_name(&self) -> &str {
        &self.name
    }

    /// The base URL (as set by [`OpenAiProvider::base_url`]).
    pub fn get_base_url(&self) -> &str {
        &self.base_url
    }

    fn is_openai_host(&self) -> bool {
        host_of(&self.base_url).eq_ignore_ascii_case("api.openai.com")
    }

    /// Settings that can be wrong before anything is sent.
    fn check(&self) -> Result<(), LmError> {
        check_tls(&self.base_url)?;
        if self.api_key.is_none() && self.is_openai_host() {
            return Err(LmError::Config(format!(
                "no API key for {}: set OPENAI_API_KEY (or `.api_key(..)`); for a local OpenAI-compatible server set \
                 OPENAI_BASE_URL",
                self.id
            )));
        }
        if let Some(key) = &self.api_key {
            check_key(&self.id, key)?;
        }
        Ok(())
    }

    fn client(&self) -> &Client<OpenAIConfig> {
        self.client.get_or_init(|| {
            let key = self.api_key.clone().unwrap_or_else(|| NO_KEY.to_string());
            no_retry_client(OpenAIConfig::new().with_api_base(&self.base_url).with_api_key(key))
        })
    }

    /// Run one async-openai call under the timeout, mapping every failure.
    async fn send<F>(&self, call: F) -> Result<Value, LmError>
    where
        F: Future<Output = Result<Value, OpenAIError>>,
    {
        self.check()?;
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(redact(map_openai_error(&self.id, e), self.api_key.as_deref())),
            Err(_) => Err(LmError::Timeout {
                model: self.id.clone(),
                message: format!("no complete response within {:.1}s", self.timeout.as_secs_f64()),
            }),
        }
    }
}

impl OpenAiProvider {
    /// The streamed `POST {base}/chat/completions`, key as a bearer token.
    fn stream_request(&self, request: &LmRequest) -> Result<reqwest::RequestBuilder, LmError> {
        let key = self.api_key.as_deref().unwrap_or(NO_KEY);
        let mut bearer = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| LmError::Config(format!("the API key for {} cannot be sent as a header", self.id)))?;
        bearer.set_sensitive(true);
        Ok(self
            .http
            .get_or_init(reqwest::Client::new)
            .post(format!("{}/chat/completions", self.base_url))
            .timeout(self.timeout)
            .header(reqwest::header::AUTHORIZATION, bearer)
            .json(&stream_body(&self.name, request)))
    }
}

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("model", &self.id)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .field("structured_outputs", &self.structured_outputs)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Lm for OpenAiProvider {
    fn model(&self) -> &str {
        &self.id
    }

    fn capabilities(&self) -> LmCapabilities {
        let default = self.is_openai_host() && openai_supports_structured_outputs(&self.name);
        LmCapabilities::default()
            .with_structured_outputs(self.structured_outputs.unwrap_or(default))
            .with_function_calling(true)
            .with_streaming(true)
    }

    async fn call_streaming(&self, request: LmRequest, sink: &DeltaSink) -> Result<LmResponse, LmError> {
        self.check()?;
        let run = async {
            let reader = EventReader::open(self.stream_request(&request)?, &self.id).await?;
            read_chat_stream(reader, &self.name, &self.id, sink).await
        };
        run.await.map_err(|e| redact(e, self.api_key.as_deref()))
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let body = chat_body(&self.name, &request);
        let value = self.send(self.client().chat().create_byot::<Value, Value>(body)).await?;
        let response = parse_chat_response(&self.name, value).map_err(|message| {
            redact(LmError::BadResponse { model: self.id.clone(), message }, self.api_key.as_deref())
        })?;
        if response.completions.is_empty() {
            return Err(LmError::EmptyResponse { model: self.id.clone() });
        }
        Ok(response)
    }
}

#[async_trait]
impl Embedder for OpenAiProvider {
    fn model(&self) -> &str {
        &self.id
    }

    async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, LmError> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let body = embeddings_body(&self.name, inputs);
        let value = self.send(self.client().embeddings().create_byot::<Value, Value>(body)).await?;
        parse_embeddings(value, inputs.len()).map_err(|message| {
            redact(LmError::BadResponse { model: self.id.clone(), message }, self.api_key.as_deref())
        })
    }
}
