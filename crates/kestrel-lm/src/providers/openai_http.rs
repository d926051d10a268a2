//! The HTTP transport installed into async-openai: one attempt, no retry.
//!
//! async-openai's default executor wraps reqwest in its own retry layer
//! (429/5xx/connection errors, with backoff). Kestrel retries once, above the
//! provider, so [`no_retry_client`] replaces that executor through
//! `Client::with_http_service` with [`OnceService`]: it executes the request
//! exactly once with async-openai's plain `ReqwestService` and, for a non-2xx
//! answer, reads the status, `Retry-After`/`retry-after-ms` and body itself
//! and fails with an [`HttpFailure`] — so async-openai never parses the error
//! and the provider maps it to [`LmError`] precisely.
//!
//! Where a failure surfaces tells what it is: transport errors before a
//! response are [`HttpFailure::Timeout`]/[`HttpFailure::Connection`]; a body
//! that breaks off or does not parse after a 2xx head reaches the provider as
//! `OpenAIError::Reqwest`/`JSONDeserialize` and is a bad response.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use tower::{Service, ServiceExt};

use super::http_errors::{error_chain, retry_after, status_error};
use crate::error::LmError;

/// The response type of async-openai's transport (`reqwest::Response`).
type HttpResponse = <ReqwestService as Service<HttpRequestFactory>>::Response;

/// An async-openai client whose HTTP executor never retries.
pub(crate) fn no_retry_client(config: OpenAIConfig) -> Client<OpenAIConfig> {
    Client::with_config(config).with_http_service(OnceService { transport: ReqwestService::default() })
}

/// A failure [`OnceService`] saw, carried through async-openai as
/// `OpenAIError::Boxed`.
#[derive(Debug)]
pub(crate) enum HttpFailure {
    /// A non-2xx answer.
    Status {
        /// HTTP status.
        status: u16,
        /// `retry-after-ms` or `Retry-After`, if sent.
        retry_after: Option<Duration>,
        /// The body, as text.
        body: String,
    },
    /// The transport timed out before a response.
    Timeout(String),
    /// No response: refused, reset or dropped connection.
    Connection(String),
    /// The request could not be built (bad URL, unsupported scheme).
    Request(String),
}

impl fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpFailure::Status { status, body, .. } => write!(f, "HTTP {status}: {body}"),
            HttpFailure::Timeout(m) | HttpFailure::Connection(m) | HttpFailure::Request(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for HttpFailure {}

/// Execute once; turn a non-2xx answer into [`HttpFailure::Status`].
#[derive(Debug, Clone)]
pub(crate) struct OnceService {
    transport: ReqwestService,
}

impl Service<HttpRequestFactory> for OnceService {
    type Response = HttpResponse;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, OpenAIError>> + Send + 'static>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let transport = self.transport.clone();
        Box::pin(async move {
            let response = match transport.oneshot(request).await {
                Ok(response) => response,
                Err(OpenAIError::Reqwest(e)) => {
                    let failure = if e.is_timeout() {
                        HttpFailure::Timeout(e.to_string())
                    } else if e.is_builder() {
                        HttpFailure::Request(e.to_string())
                    } else {
                        HttpFailure::Connection(error_chain(&e))
                    };
                    return Err(OpenAIError::Boxed(Box::new(failure)));
                }
                Err(other) => return Err(other),
            };
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let retry_after = retry_after(header("retry-after-ms").as_deref(), header("retry-after").as_deref());
            let body = match response.bytes().await {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => format!("(the error body could not be read: {e})"),
            };
            Err(OpenAIError::Boxed(Box::new(HttpFailure::Status { status: status.as_u16(), retry_after, body })))
        })
    }
}

/// The [`LmError`] of a failed async-openai call for `model`.
pub(crate) fn map_openai_error(model: &str, error: OpenAIError) -> LmError {
    let model_s = model.to_string();
    match error {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpFailure>() {
            Ok(failure) => match *failure {
                HttpFailure::Status { status, retry_after, body } => status_error(model, status, retry_after, &body),
                HttpFailure::Timeout(message) => LmError::Timeout { model: model_s, message },
                HttpFailure::Connection(message) => LmError::Connection { model: model_s, message },
                HttpFailure::Request(message) => LmError::Config(format!("cannot send to {model}: {message}")),
            },
            Err(other) => LmError::Provider { model: model_s, message: other.to_string() },
        },
        // After a 2xx head: the body broke off or did not arrive in time.
        OpenAIError::Reqwest(e) if e.is_timeout() => LmError::Timeout { model: model_s, message: error_chain(&e) },
        OpenAIError::Reqwest(e) => {
            LmError::BadResponse { model: model_s, message: format!("reading the body failed: {}", error_chain(&e)) }
        }
        OpenAIError::JSONDeserialize(e, content) => LmError::BadResponse {
            model: model_s,
            message: format!("invalid JSON ({e}): {}", content.chars().take(500).collect::<String>()),
        },
        OpenAIError::ApiError(api) => status_error(
            model,
            api.status_code.as_u16(),
            None,
            &serde_json::json!({"error": api.api_error}).to_string(),
        ),
        OpenAIError::InvalidArgument(message) => LmError::Config(format!("{model}: {message}")),
        other => LmError::Provider { model: model_s, message: other.to_string() },
    }
}
