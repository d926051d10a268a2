//! Request handling: match the route ([`Route`]), read and parse the body,
//! record it, wait the latency, then answer normally or with the fault due.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::{Method, Request, Response, StatusCode};
use kestrel_lm::LmRequest;
use serde_json::{Value, json};

use super::faults::Fault;
use super::record::RecordedRequest;
use super::state::Shared;
use super::wire::{Flavor, JsonReply, error, json_response, ok, raw_response, unix_now};
use super::{anthropic, colbert, embeddings, fault_reply, finetune, openai, stream};

/// Largest request body read (bigger ones get a 413).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// An endpoint of the mock server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// `POST /v1/chat/completions` (OpenAI).
    ChatCompletions,
    /// `POST /v1/embeddings` (OpenAI).
    Embeddings,
    /// `POST /v1/messages` (Anthropic).
    Messages,
    /// `GET /v1/models` (OpenAI).
    Models,
    /// `GET /colbert?query=..&k=..` (a ColBERTv2 search server).
    ColbertSearch,
    /// `POST /colbert` with `{"query", "k"}` (DSPy's `post_requests`).
    ColbertSearchPost,
    /// `POST /v1/files` (multipart upload, `purpose=fine-tune`).
    FilesUpload,
    /// `DELETE /v1/files/{id}`.
    FileDelete,
    /// `POST /v1/fine_tuning/jobs`.
    FineTuningJobCreate,
    /// `GET /v1/fine_tuning/jobs/{id}`.
    FineTuningJobRetrieve,
    /// `GET /v1/fine_tuning/jobs/{id}/events?limit=..`.
    FineTuningJobEvents,
    /// `POST /v1/fine_tuning/jobs/{id}/cancel`.
    FineTuningJobCancel,
}

impl Route {
    /// Every route.
    pub const ALL: [Route; 12] = [
        Route::ChatCompletions,
        Route::Embeddings,
        Route::Messages,
        Route::Models,
        Route::ColbertSearch,
        Route::ColbertSearchPost,
        Route::FilesUpload,
        Route::FileDelete,
        Route::FineTuningJobCreate,
        Route::FineTuningJobRetrieve,
        Route::FineTuningJobEvents,
        Route::FineTuningJobCancel,
    ];

    /// The path it is served at.
    pub fn path(self) -> &'static str {
        match self {
            Route::ChatCompletions => "/v1/chat/completions",
            Route::Embeddings => "/v1/embeddings",
            Route::Messages => "/v1/messages",
            Route::Models => "/v1/models",
            Route::ColbertSearch | Route::ColbertSearchPost => "/colbert",
            Route::FilesUpload => "/v1/files",
            Route::FileDelete => "/v1/files/{id}",
            Route::FineTuningJobCreate => "/v1/fine_tuning/jobs",
            Route::FineTuningJobRetrieve => "/v1/fine_tuning/jobs/{id}",
            Route::FineTuningJobEvents => "/v1/fine_tuning/jobs/{id}/events",
            Route::FineTuningJobCancel => "/v1/fine_tuning/jobs/{id}/cancel",
        }
    }

    /// True for the fine-tuning routes (bodies read by `finetune.rs`).
    pub(super) fn is_finetune(self) -> bool {
        matches!(
            self,
            Route::FilesUpload
                | Route::FileDelete
                | Route::FineTuningJobCreate
                | Route::FineTuningJobRetrieve
                | Route::FineTuningJobEvents
                | Route::FineTuningJobCancel
        )
    }

    /// Whether `path` is this route's (an `{id}` segment matches any id).
    fn serves(self, path: &str) -> bool {
        let pattern = self.path();
        match pattern.split_once("{id}") {
            Some((prefix, suffix)) => finetune::path_id(path, prefix, suffix).is_some(),
            None => pattern == path,
        }
    }

    /// The method it answers.
    pub fn method(self) -> Method {
        match self {
            Route::Models | Route::ColbertSearch | Route::FineTuningJobRetrieve | Route::FineTuningJobEvents => {
                Method::GET
            }
            Route::FileDelete => Method::DELETE,
            _ => Method::POST,
        }
    }

    /// Whose error shape it speaks.
    pub(super) fn flavor(self) -> Flavor {
        match self {
            Route::Messages => Flavor::Anthropic,
            _ => Flavor::OpenAi,
        }
    }

    /// The route at `path` answering `method`, else any route at `path`
    /// (answered 405).
    fn for_request(path: &str, method: &Method) -> Option<Route> {
        let at_path = || Route::ALL.into_iter().filter(|route| route.serves(path.trim_end_matches('/')));
        at_path().find(|route| route.method() == method).or_else(|| at_path().next())
    }
}

/// What a route's body parsed into.
enum Parsed {
    /// Chat completions or Anthropic messages (boxed: a request is large).
    Lm { model: String, request: Box<LmRequest> },
    /// Embeddings (answered from the body itself).
    Embeddings,
    /// `GET /v1/models`.
    Models,
    /// A ColBERTv2 search (or the reason it is invalid, answered as the
    /// server's error body).
    Colbert(Result<colbert::Search, String>),
    /// A fine-tuning route's request.
    Finetune(finetune::Call),
}

/// The service's error: the connection is closed without a response.
#[derive(Debug)]
pub(super) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mock server fault: connection dropped")
    }
}

impl std::error::Error for DropConnection {}

/// Answer one HTTP request.
pub(super) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Body>, DropConnection> {
    let _in_flight = shared.enter();
    let seq = shared.recorder.count();
    let (head, incoming) = request.into_parts();
    let path = head.uri.path().to_string();
    let headers = || {
        head.headers
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect()
    };
    let route = match Route::for_request(&path, &head.method) {
        Some(route) if route.method() == head.method => route,
        other => {
            shared.recorder.keep(|| RecordedRequest {
                method: head.method.to_string(),
                path: path.clone(),
                route: None,
                headers: headers(),
                body: None,
                model: None,
                lm_request: None,
                fault: None,
            });
            return Ok(json_response(unrouted(other, &head.method, &path)));
        }
    };
    let flavor = route.flavor();
    let declared = head.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        let message = format!("request body larger than {MAX_BODY_BYTES} bytes");
        return Ok(json_response(error(flavor, StatusCode::PAYLOAD_TOO_LARGE, &message)));
    }
    let bytes = match axum::body::to_bytes(Body::new(incoming), MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let message = format!("could not read the request body: {e}");
            return Ok(json_response(error(flavor, StatusCode::BAD_REQUEST, &message)));
        }
    };
    let uri_query = head.uri.query();
    let (body, parsed) = if route.is_finetune() {
        let content_type = head.headers.get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let call = finetune::parse(route, &path, uri_query, content_type, &bytes).map(Parsed::Finetune);
        // The upload is multipart: no JSON body to record.
        let body = match route {
            Route::FineTuningJobCreate => serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
            _ => Ok(Value::Null),
        };
        (body, call)
    } else {
        let body = parse_json(route, &bytes);
        let parsed = body.as_ref().map_err(String::clone).and_then(|body| parse(route, body, uri_query));
        (body, parsed)
    };
    let lm_request = match &parsed {
        Ok(Parsed::Lm { request, .. }) => Some(&**request),
        _ => None,
    };
    let fault = shared.faults.take(route, seq, lm_request);
    // The body's `model` (for LM routes the same string the parse kept).
    let model = || body.as_ref().ok().and_then(|b| b.get("model")?.as_str()).map(str::to_string);
    shared.recorder.keep(|| RecordedRequest {
        method: head.method.to_string(),
        path: path.clone(),
        route: Some(route),
        headers: headers(),
        body: body.as_ref().ok().filter(|b| !b.is_null()).cloned(),
        model: model(),
        lm_request: lm_request.cloned(),
        fault: fault.clone(),
    });
    let latency = shared.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let answer = || match (&parsed, &body) {
        (Ok(parsed), Ok(body)) => answer(&shared, route, parsed, body),
        (Err(message), _) | (_, Err(message)) => error(flavor, StatusCode::BAD_REQUEST, message),
    };
    if let (Ok(Parsed::Lm { model, request }), Ok(body)) = (&parsed, &body)
        && stream::wants_stream(body)
    {
        let mid = match &fault {
            None => None,
            Some(Fault::Delay(delay)) => {
                tokio::time::sleep(*delay).await;
                None
            }
            Some(
                f @ (Fault::TruncatedBody
                | Fault::MalformedBody
                | Fault::MissingFields
                | Fault::StreamCut { .. }
                | Fault::StreamMalformed { .. }),
            ) => Some(f.clone()),
            Some(Fault::DropConnection) => return Err(DropConnection),
            Some(_) => return Ok(before_stream(fault, flavor)),
        };
        return Ok(stream::respond(&shared, flavor, model, request, body, mid).unwrap_or_else(json_response));
    }
    Ok(match fault {
        None => json_response(answer()),
        Some(Fault::Status(status)) => fault_reply::status(flavor, &status),
        Some(Fault::ContextWindowExceeded) => fault_reply::context_window(flavor),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            json_response(answer())
        }
        Some(Fault::DropConnection) => return Err(DropConnection),
        Some(Fault::TruncatedBody | Fault::StreamCut { .. }) => fault_reply::truncated(answer()),
        Some(Fault::MalformedBody | Fault::StreamMalformed { .. }) => fault_reply::malformed(),
        Some(Fault::MissingFields) => fault_reply::missing_fields(route, model(), shared.next_id()),
    })
}

/// A fault answered before a stream starts (an error status, the
/// context-window error, a dropped connection).
fn before_stream(fault: Option<Fault>, flavor: Flavor) -> Response<Body> {
    match fault {
        Some(Fault::Status(status)) => fault_reply::status(flavor, &status),
        Some(Fault::ContextWindowExceeded) => fault_reply::context_window(flavor),
        _ => raw_response(StatusCode::INTERNAL_SERVER_ERROR, "mock server: no such stream fault"),
    }
}

/// The body as JSON (`GET` routes take none).
fn parse_json(route: Route, bytes: &Bytes) -> Result<Value, String> {
    if route.method() == Method::GET && bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes)
        .map_err(|e| format!("We could not parse the JSON body of your request ({e}). The body must be a JSON object."))
}

fn parse(route: Route, body: &Value, uri_query: Option<&str>) -> Result<Parsed, String> {
    match route {
        Route::ChatCompletions => {
            openai::parse_chat(body).map(|(model, request)| Parsed::Lm { model, request: Box::new(request) })
        }
        Route::Messages => {
            anthropic::parse_messages(body).map(|(model, request)| Parsed::Lm { model, request: Box::new(request) })
        }
        Route::Embeddings => Ok(Parsed::Embeddings),
        Route::Models => Ok(Parsed::Models),
        Route::ColbertSearch => Ok(Parsed::Colbert(colbert::from_query_string(uri_query))),
        Route::ColbertSearchPost => Ok(Parsed::Colbert(colbert::from_body(body))),
        _ => Err(format!("{} is not answered here", route.path())),
    }
}

/// The normal answer to a parsed request.
fn answer(shared: &Shared, route: Route, parsed: &Parsed, body: &Value) -> JsonReply {
    match parsed {
        Parsed::Lm { model, request } if route == Route::Messages => anthropic::messages(shared, model, request),
        Parsed::Lm { model, request } => openai::chat(shared, model, request),
        Parsed::Embeddings => embeddings::embeddings(body),
        Parsed::Colbert(search) => colbert::answer(&shared.colbert_corpus, search.clone()),
        Parsed::Finetune(call) => {
            let (reply, succeeded) = shared.finetune.answer(call.clone());
            if let Some((job, file)) = succeeded {
                shared.finetuned(&job, &file);
            }
            reply
        }
        Parsed::Models => ok(json!({
            "object": "list",
            "data": shared.models.iter().map(|id| json!({
                "id": id, "object": "model", "created": unix_now(), "owned_by": "kestrel-testkit",
            })).collect::<Vec<_>>(),
        })),
    }
}

/// 404 (OpenAI's shape) for an unknown path, 405 for a known path with the
/// wrong method.
fn unrouted(route: Option<Route>, method: &Method, path: &str) -> JsonReply {
    match route {
        Some(route) => error(
            route.flavor(),
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{method} is not allowed on {path}; use {}", route.method()),
        ),
        None => error(
            Flavor::OpenAi,
            StatusCode::NOT_FOUND,
            &format!("Unknown request URL: {method} {path}. Please check the URL for typos."),
        ),
    }
}
