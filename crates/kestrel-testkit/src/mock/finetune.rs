//! The mock server's OpenAI fine-tuning routes: file upload (multipart,
//! `purpose=fine-tune`), file delete, job create / retrieve / events /
//! cancel. A job is `validating_files` when created and moves forward one
//! step per retrieve, as [`FinetuneBehavior`] says: `queued` for
//! `queued_polls` retrieves, `running` for `running_polls`, then `succeeded`
//! (naming `ft:<base>:kestrel-testkit::<job id>`) or `failed`. Cancelling a
//! job that has not ended makes it `cancelled`; cancelling an ended one is a
//! 400, as OpenAI answers.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use hyper::StatusCode;
use serde_json::{Value, json};

use super::routes::Route;
use super::wire::{Flavor, JsonReply, error, ok, unix_now};

/// How mock fine-tuning jobs end.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FinetuneOutcome {
    /// `succeeded`, with a fine-tuned model name.
    Succeed,
    /// `failed`, with this error message.
    Fail(String),
}

/// The life of each mock fine-tuning job.
#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneBehavior {
    /// Retrieves answered `queued` (after the first, `validating_files`
    /// state of a fresh job).
    pub queued_polls: u32,
    /// Retrieves answered `running` after those.
    pub running_polls: u32,
    /// How the job ends.
    pub outcome: FinetuneOutcome,
    /// `trained_tokens` reported once the job succeeded (per uploaded line).
    pub tokens_per_record: u64,
}

impl Default for FinetuneBehavior {
    fn default() -> Self {
        Self { queued_polls: 1, running_polls: 2, outcome: FinetuneOutcome::Succeed, tokens_per_record: 100 }
    }
}

/// A file uploaded to the mock server.
#[derive(Debug, Clone, PartialEq)]
pub struct MockFile {
    /// `file-…`.
    pub id: String,
    /// The multipart file name.
    pub filename: String,
    /// The `purpose` field.
    pub purpose: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Deleted with `DELETE /v1/files/{id}`.
    pub deleted: bool,
}

/// The fine-tuned model name a succeeded mock job reports.
pub fn fine_tuned_model_name(job: &MockJob) -> String {
    format!("ft:{}:kestrel-testkit::{}", job.model, job.id)
}

/// Called when a mock job succeeds, with the job and its training file: a
/// responder for the fine-tuned model's chat requests (`None`: the server's
/// own responder answers it). See [`super::MockServer::set_finetuned_responder`].
pub type FinetunedHook = std::sync::Arc<dyn Fn(&MockJob, &MockFile) -> Option<super::Responder> + Send + Sync>;

/// A mock fine-tuning job, as the server holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MockJob {
    /// `ftjob-…`.
    pub id: String,
    /// The base model asked for.
    pub model: String,
    /// The training file id.
    pub training_file: String,
    /// The `hyperparameters` sent.
    pub hyperparameters: Value,
    /// Retrieves so far.
    pub polls: u32,
    /// The current status word.
    pub status: String,
    /// The behaviour it was created with.
    behavior: FinetuneBehavior,
    records: u64,
}

/// The fine-tuning state of one server.
#[derive(Debug, Default)]
pub(super) struct FinetuneState {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    behavior: FinetuneBehavior,
    files: Vec<MockFile>,
    jobs: BTreeMap<String, MockJob>,
    next: u64,
}

/// A parsed fine-tuning request.
#[derive(Debug, Clone)]
pub(super) enum Call {
    Upload { filename: String, purpose: String, bytes: Vec<u8> },
    DeleteFile(String),
    Create { model: String, training_file: String, hyperparameters: Value },
    Retrieve(String),
    Events { job: String, limit: usize },
    Cancel(String),
}

/// The id in `path` after `prefix` (`/v1/fine_tuning/jobs/{id}…`).
pub(super) fn path_id<'a>(path: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let id = path.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// Read a fine-tuning request (`bytes`: the raw body; `content_type` for
/// the multipart upload).
pub(super) fn parse(
    route: Route,
    path: &str,
    query: Option<&str>,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<Call, String> {
    let id = |prefix: &str, suffix: &str| {
        path_id(path, prefix, suffix).map(str::to_string).ok_or_else(|| format!("no id in {path}"))
    };
    match route {
        Route::FilesUpload => parse_upload(content_type, bytes),
        Route::FileDelete => Ok(Call::DeleteFile(id("/v1/files/", "")?)),
        Route::FineTuningJobCreate => {
            let body: Value = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON body: {e}"))?;
            let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
            Ok(Call::Create {
                model: field("model").ok_or("missing required parameter: 'model'")?,
                training_file: field("training_file").ok_or("missing required parameter: 'training_file'")?,
                hyperparameters: body.get("hyperparameters").cloned().unwrap_or(json!({})),
            })
        }
        Route::FineTuningJobRetrieve => Ok(Call::Retrieve(id("/v1/fine_tuning/jobs/", "")?)),
        Route::FineTuningJobEvents => {
            let limit = query
                .into_iter()
                .flat_map(|q| q.split('&'))
                .find_map(|kv| kv.strip_prefix("limit=")?.parse().ok())
                .unwrap_or(20);
            Ok(Call::Events { job: id("/v1/fine_tuning/jobs/", "/events")?, limit })
        }
        Route::FineTuningJobCancel => Ok(Call::Cancel(id("/v1/fine_tuning/jobs/", "/cancel")?)),
        _ => Err(format!("not a fine-tuning route: {path}")),
    }
}

fn parse_upload(content_type: Option<&str>, bytes: &[u8]) -> Result<Call, String> {
    let boundary = content_type
        .and_then(|ct| ct.split(';').find_map(|p| p.trim().strip_prefix("boundary=")))
        .map(|b| b.trim_matches('"').to_string())
        .ok_or("expected a multipart/form-data body with a boundary")?;
    let delimiter = format!("--{boundary}");
    let mut filename = None;
    let mut purpose = None;
    let mut file = None;
    for part in split(bytes, delimiter.as_bytes()).into_iter().skip(1) {
        if part.starts_with(b"--") {
            break;
        }
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let Some(end) = find(part, b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&part[..end]).into_owned();
        let mut content = &part[end + 4..];
        content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let name = attribute(&head, "name");
        if name.as_deref() == Some("purpose") {
            purpose = Some(String::from_utf8_lossy(content).into_owned());
        } else if name.as_deref() == Some("file") {
            filename = attribute(&head, "filename");
            file = Some(content.to_vec());
        }
    }
    Ok(Call::Upload {
        filename: filename.unwrap_or_default(),
        purpose: purpose.ok_or("missing required parameter: 'purpose'")?,
        bytes: file.ok_or("missing required parameter: 'file'")?,
    })
}

fn attribute(head: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    head.lines()
        .flat_map(|line| line.split(';'))
        .map(str::trim)
        .find_map(|p| p.strip_prefix(&key)?.strip_suffix('"').map(str::to_string))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut bytes: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = find(bytes, delimiter) {
        parts.push(&bytes[..at]);
        bytes = &bytes[at + delimiter.len()..];
    }
    parts.push(bytes);
    parts
}

impl FinetuneState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn set_behavior(&self, behavior: FinetuneBehavior) {
        self.lock().behavior = behavior;
    }

    pub(super) fn files(&self) -> Vec<MockFile> {
        self.lock().files.clone()
    }

    pub(super) fn jobs(&self) -> Vec<MockJob> {
        self.lock().jobs.values().cloned().collect()
    }

    /// The normal answer to `call`, and the job (with its training file)
    /// when this answer is the one that made it succeed.
    pub(super) fn answer(&self, call: Call) -> (JsonReply, Option<(MockJob, MockFile)>) {
        let mut inner = self.lock();
        let mut succeeded = None;
        let reply = self.answer_locked(&mut inner, call, &mut succeeded);
        let done = succeeded.and_then(|job: MockJob| {
            let file = inner.files.iter().find(|f| f.id == job.training_file)?.clone();
            Some((job, file))
        });
        (reply, done)
    }

    fn answer_locked(&self, inner: &mut Inner, call: Call, succeeded: &mut Option<MockJob>) -> JsonReply {
        let not_found =
            |what: &str, id: &str| error(Flavor::OpenAi, StatusCode::NOT_FOUND, &format!("No such {what}: {id}"));
        match call {
            Call::Upload { filename, purpose, bytes } => {
                inner.next += 1;
                let id = format!("file-mock{:04}", inner.next);
                let reply = json!({
                    "id": id, "object": "file", "bytes": bytes.len(), "created_at": unix_now(),
                    "filename": filename, "purpose": purpose, "status": "processed",
                });
                inner.files.push(MockFile { id, filename, purpose, bytes, deleted: false });
                ok(reply)
            }
            Call::DeleteFile(id) => match inner.files.iter_mut().find(|f| f.id == id && !f.deleted) {
                Some(file) => {
                    file.deleted = true;
                    ok(json!({"id": id, "object": "file", "deleted": true}))
                }
                None => not_found("file", &id),
            },
            Call::Create { model, training_file, hyperparameters } => {
                let Some(file) = inner.files.iter().find(|f| f.id == training_file && !f.deleted) else {
                    let message = format!("invalid training_file: {training_file}");
                    return error(Flavor::OpenAi, StatusCode::BAD_REQUEST, &message);
                };
                let records = file.bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64;
                inner.next += 1;
                let id = format!("ftjob-mock{:04}", inner.next);
                let job = MockJob {
                    id: id.clone(),
                    model,
                    training_file,
                    hyperparameters,
                    polls: 0,
                    status: "validating_files".into(),
                    behavior: inner.behavior.clone(),
                    records,
                };
                let reply = job_json(&job);
                inner.jobs.insert(id, job);
                ok(reply)
            }
            Call::Retrieve(id) => match inner.jobs.get_mut(&id) {
                Some(job) => {
                    job.polls += 1;
                    if !is_terminal(&job.status) {
                        job.status = status_after(&job.behavior, job.polls).into();
                        if job.status == "succeeded" {
                            *succeeded = Some(job.clone());
                        }
                    }
                    ok(job_json(job))
                }
                None => not_found("job", &id),
            },
            Call::Events { job, limit } => match inner.jobs.get(&job) {
                Some(job) => {
                    let mut events = events(job);
                    events.reverse();
                    events.truncate(limit);
                    ok(json!({"object": "list", "data": events, "has_more": false}))
                }
                None => not_found("job", &job),
            },
            Call::Cancel(id) => match inner.jobs.get_mut(&id) {
                Some(job) if is_terminal(&job.status) => {
                    let message = format!("Job {id} has already completed: {}", job.status);
                    error(Flavor::OpenAi, StatusCode::BAD_REQUEST, &message)
                }
                Some(job) => {
                    job.status = "cancelled".into();
                    ok(job_json(job))
                }
                None => not_found("job", &id),
            },
        }
    }
}

fn is_terminal(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "cancelled")
}

fn status_after(behavior: &FinetuneBehavior, polls: u32) -> &'static str {
    if polls <= behavior.queued_polls {
        "queued"
    } else if polls <= behavior.queued_polls + behavior.running_polls {
        "running"
    } else {
        match behavior.outcome {
            FinetuneOutcome::Succeed => "succeeded",
            FinetuneOutcome::Fail(_) => "failed",
        }
    }
}

fn job_json(job: &MockJob) -> Value {
    let succeeded = job.status == "succeeded";
    let error = match (&job.behavior.outcome, job.status.as_str()) {
        (FinetuneOutcome::Fail(message), "failed") => {
            json!({"code": "invalid_training_file", "message": message, "param": "training_file"})
        }
        _ => Value::Null,
    };
    json!({
        "id": job.id,
        "object": "fine_tuning.job",
        "model": job.model,
        "created_at": unix_now(),
        "status": job.status,
        "training_file": job.training_file,
        "hyperparameters": job.hyperparameters,
        "fine_tuned_model": if succeeded { Value::from(fine_tuned_model_name(job)) } else { Value::Null },
        "trained_tokens": if succeeded { Value::from(job.records * job.behavior.tokens_per_record) } else { Value::Null },
        "error": error,
        "estimated_finish": Value::Null,
    })
}

/// The job's events so far, oldest first.
fn events(job: &MockJob) -> Vec<Value> {
    let mut messages = vec![format!("Created fine-tuning job: {}", job.id)];
    if job.status != "validating_files" {
        messages.push(format!("Validated training file: {}", job.training_file));
    }
    if matches!(job.status.as_str(), "running" | "succeeded" | "failed") {
        messages.push("Fine-tuning job started".into());
    }
    match job.status.as_str() {
        "succeeded" => messages.push("The job has successfully completed".into()),
        "failed" => messages.push("The job failed".into()),
        "cancelled" => messages.push("Fine-tuning job cancelled".into()),
        _ => {}
    }
    messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| json!({"id": format!("ftevent-{}-{i}", job.id), "object": "fine_tuning.job.event", "created_at": unix_now(), "level": "info", "message": m}))
        .collect()
}
