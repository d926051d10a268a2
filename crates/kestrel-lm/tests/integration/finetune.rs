//! The fine-tuning interface end to end against the mock server's
//! OpenAI fine-tuning routes: upload, create, poll to success, the trained
//! model answering as an LM; faults retried; a failed job and a cancel as
//! typed errors; DSPy's data checks and file name.

use std::sync::Arc;
use std::time::Duration;

use kestrel_core::Message;
use kestrel_lm::finetune::{FINETUNE_DIR_ENV, OpenAiFinetune, openai_status};
use kestrel_lm::{
    FinetuneJob, LmError, LmRequest, RetryPolicy, SharedFinetuneBackend, TrainDataFormat, TrainingData, TrainingStatus,
    start_finetune,
};
use kestrel_testkit::ScriptedLm;
use kestrel_testkit::mock::{Fault, FinetuneBehavior, FinetuneOutcome, MockServer, Route};
use serde_json::{Map, Value, json};

fn fast_retry() -> RetryPolicy {
    RetryPolicy::default().with_initial_delay(Duration::from_millis(2)).with_max_delay(Duration::from_millis(10))
}

fn records() -> Vec<Value> {
    (0..3)
        .map(|i| {
            json!({"messages": [
                {"role": "system", "content": "Your input fields are:\n1. `question` (str)"},
                {"role": "user", "content": format!("[[ ## question ## ]]\nq{i}")},
                {"role": "assistant", "content": format!("[[ ## answer ## ]]\na{i}\n\n[[ ## completed ## ]]\n")},
            ]})
        })
        .collect()
}

fn backend(server: &MockServer) -> SharedFinetuneBackend {
    Arc::new(OpenAiFinetune::new(server.base_url()).api_key("sk-test-finetune").retry(fast_retry()))
}

const POLL: Duration = Duration::from_millis(1);

#[tokio::test]
async fn a_job_runs_to_a_usable_model() {
    let server = MockServer::start(ScriptedLm::keyed([("q9", "[[ ## answer ## ]]\nfine\n\n[[ ## completed ## ]]")]))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = TrainingData::new(TrainDataFormat::Chat, records()).unwrap();
    let mut kwargs = Map::new();
    kwargs.insert("n_epochs".into(), json!(2));
    let job =
        start_finetune(backend(&server), "openai/gpt-4o-mini", data.clone(), kwargs, Some(dir.path())).await.unwrap();
    assert_eq!(job.progress().status, TrainingStatus::Pending);
    assert_eq!(job.progress().provider_status, "validating_files");
    // The file is where it was said to be, in DSPy's JSONL, named by DSPy's hash.
    assert_eq!(job.data_path(), dir.path().join(data.file_name()));
    let written = std::fs::read(job.data_path()).unwrap();
    assert_eq!(written, data.to_jsonl());
    assert_eq!(written.iter().filter(|b| **b == b'\n').count(), 3);

    let model = job.wait(POLL).await.unwrap();
    let jobs = server.finetune_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].model, "gpt-4o-mini", "the openai/ prefix is the model string's, not the API's");
    assert_eq!(jobs[0].hyperparameters, json!({"n_epochs": 2}));
    let files = server.uploaded_files();
    assert_eq!(files[0].purpose, "fine-tune");
    assert_eq!(files[0].bytes, data.to_jsonl());
    assert_eq!(model.model, format!("ft:gpt-4o-mini:kestrel-testkit::{}", jobs[0].id));
    assert_eq!(model.progress.trained_tokens, Some(300));
    assert!(model.progress.events.iter().any(|e| e.message.contains("successfully completed")));
    // Every request carried the key.
    assert!(server.requests().iter().all(|r| r.header("authorization") == Some("Bearer sk-test-finetune")));

    // The trained model is an LM on the same server.
    assert_eq!(model.lm.model(), format!("openai/{}", model.model));
    // (Per-call cache opt-out: the default client has a disk cache.)
    let mut ask = LmRequest::new(vec![Message::user("q9")]);
    ask.use_cache = false;
    let reply = model.lm.call(ask).await.unwrap();
    assert!(reply.completions[0].text.contains("fine"));
    let chat = server.requests_to(Route::ChatCompletions);
    assert_eq!(chat.last().unwrap().model.as_deref(), Some(model.model.as_str()));
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried_on_every_route() {
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    server.push_fault_for(Route::FilesUpload, Fault::status(503));
    server.push_fault_for(Route::FineTuningJobCreate, Fault::status(429).retry_after_ms(1));
    server.push_fault_for(Route::FineTuningJobRetrieve, Fault::status(500));
    server.push_fault_for(Route::FineTuningJobRetrieve, Fault::DropConnection);
    server.push_fault_for(Route::FineTuningJobEvents, Fault::status(502));
    let dir = tempfile::tempdir().unwrap();
    let data = TrainingData::new(TrainDataFormat::Chat, records()).unwrap();
    let job = start_finetune(backend(&server), "gpt-4o-mini", data, Map::new(), Some(dir.path())).await.unwrap();
    let model = job.wait(POLL).await.unwrap();
    assert!(model.model.starts_with("ft:gpt-4o-mini:"));
    assert_eq!(server.pending_faults(), 0);
    // One file and one job despite the retried POSTs.
    assert_eq!(server.uploaded_files().len(), 1);
    assert_eq!(server.finetune_jobs().len(), 1);
    assert_eq!(server.requests_to(Route::FilesUpload).len(), 2);
    assert_eq!(server.requests_to(Route::FineTuningJobCreate).len(), 2);
}

#[tokio::test]
async fn retries_give_up_with_the_typed_error() {
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    server.set_fault_always(Some(Fault::status(503).into()));
    let dir = tempfile::tempdir().unwrap();
    let data = TrainingData::new(TrainDataFormat::Chat, records()).unwrap();
    let backend: SharedFinetuneBackend =
        Arc::new(OpenAiFinetune::new(server.base_url()).retry(fast_retry().num_retries(2)));
    let err = start_finetune(backend, "gpt-4o-mini", data, Map::new(), Some(dir.path())).await.unwrap_err();
    assert!(matches!(err, LmError::Server { status: 503, .. }), "{err:?}");
    assert_eq!(server.request_count(), 3, "the first attempt and two retries");
}

#[tokio::test]
async fn a_failed_job_is_a_typed_error_with_the_providers_message() {
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    server.set_finetune_behavior(FinetuneBehavior {
        outcome: FinetuneOutcome::Fail("Training file has too few examples".into()),
        ..FinetuneBehavior::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let data = TrainingData::new(TrainDataFormat::Chat, records()).unwrap();
    let job = start_finetune(backend(&server), "gpt-4o-mini", data, Map::new(), Some(dir.path())).await.unwrap();
    let id = job.id().to_string();
    match job.wait(POLL).await.unwrap_err() {
        LmError::Finetune { job_id, status, message, .. } => {
            assert_eq!(job_id, id);
            assert_eq!(status, "failed");
            assert_eq!(message, "Training file has too few examples");
        }
        other => panic!("expected LmError::Finetune, got {other:?}"),
    }
}

#[tokio::test]
async fn cancel_stops_a_running_job_and_deletes_its_file() {
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    server.set_finetune_behavior(FinetuneBehavior { running_polls: 100, ..FinetuneBehavior::default() });
    let dir = tempfile::tempdir().unwrap();
    let data = TrainingData::new(TrainDataFormat::Chat, records()).unwrap();
    let backend = backend(&server);
    let mut job = start_finetune(backend.clone(), "gpt-4o-mini", data, Map::new(), Some(dir.path())).await.unwrap();
    job.poll().await.unwrap();
    assert_eq!(job.poll().await.unwrap().status, TrainingStatus::Running);
    // A fault on the cancel itself is retried.
    server.push_fault_for(Route::FineTuningJobCancel, Fault::status(500));
    assert_eq!(job.cancel().await.unwrap().status, TrainingStatus::Cancelled);
    assert!(server.uploaded_files()[0].deleted, "DSPy deletes the uploaded file of a cancelled job");
    // Waiting on it now is the typed error; cancelling again is refused.
    let mut again = FinetuneJob::resume(backend.clone(), job.id());
    assert!(matches!(again.cancel().await.unwrap_err(), LmError::Finetune { .. }));
    match job.wait(POLL).await.unwrap_err() {
        LmError::Finetune { status, .. } => assert_eq!(status, "cancelled"),
        other => panic!("expected LmError::Finetune, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_job_is_a_bad_request() {
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    let mut job = FinetuneJob::resume(backend(&server), "ftjob-nope");
    assert!(matches!(job.poll().await.unwrap_err(), LmError::BadRequest { status: 404, .. }));
}

#[test]
fn data_is_checked_as_dspy_checks_it() {
    let bad_role = json!({"messages": [{"role": "tool", "content": "x"}]});
    let err = TrainingData::new(TrainDataFormat::Chat, vec![records()[0].clone(), bad_role]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("record 1: Error in message at index 0: Expected Roles"), "{text}");
    let extra_key = json!({"messages": [], "extra": 1});
    assert!(TrainingData::new(TrainDataFormat::Chat, vec![extra_key]).is_err());
    let completion = json!({"prompt": "p", "completion": "c"});
    assert!(TrainingData::new(TrainDataFormat::Completion, vec![completion.clone()]).is_ok());
    assert!(TrainingData::new(TrainDataFormat::Chat, vec![completion]).is_err());
}

#[test]
fn openai_statuses_map_as_in_dspy() {
    assert_eq!(openai_status("validating_files"), Some(TrainingStatus::Pending));
    assert_eq!(openai_status("queued"), Some(TrainingStatus::Pending));
    assert_eq!(openai_status("running"), Some(TrainingStatus::Running));
    assert_eq!(openai_status("succeeded"), Some(TrainingStatus::Succeeded));
    assert_eq!(openai_status("failed"), Some(TrainingStatus::Failed));
    assert_eq!(openai_status("cancelled"), Some(TrainingStatus::Cancelled));
    assert_eq!(openai_status("paused"), None);
    assert_eq!(FINETUNE_DIR_ENV, "DSPY_FINETUNEDIR");
}

#[tokio::test]
async fn a_fine_tuned_model_can_answer_with_its_own_responder() {
    let server = MockServer::start(ScriptedLm::keyed([("q", "base")])).await.unwrap();
    server.set_finetuned_responder(Some(Arc::new(
        |job: &kestrel_testkit::mock::MockJob, file: &kestrel_testkit::mock::MockFile| {
            let lines = file.bytes.iter().filter(|b| **b == b'\n').count();
            let reply = format!("tuned {} on {lines}", job.model);
            Some(ScriptedLm::keyed([("q", reply)]).into())
        },
    )));
    let dir = tempfile::tempdir().unwrap();
    let data = TrainingData::new(TrainDataFormat::Chat, records()).unwrap();
    let job = start_finetune(backend(&server), "gpt-4o-mini", data, Map::new(), Some(dir.path())).await.unwrap();
    let model = job.wait(POLL).await.unwrap();
    let ask = || {
        let mut request = LmRequest::new(vec![Message::user("q")]);
        request.use_cache = false;
        request
    };
    assert_eq!(model.lm.call(ask()).await.unwrap().completions[0].text, "tuned gpt-4o-mini on 3");
    let base = kestrel_lm::providers::OpenAiProvider::new("gpt-4o-mini").base_url(server.base_url());
    assert_eq!(kestrel_lm::Lm::call(&base, ask()).await.unwrap().completions[0].text, "base");
    // The upload kept DSPy's file name.
    assert_eq!(
        server.uploaded_files()[0].filename,
        TrainingData::new(TrainDataFormat::Chat, records()).unwrap().file_name()
    );
}

/// A backend with no HTTP, as a local trainer would be: the trait is all
/// `start_finetune` and `FinetuneJob` need.
#[derive(Debug, Default)]
struct InProcess {
    polls: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl kestrel_lm::FinetuneBackend for InProcess {
    fn name(&self) -> &str {
        "in-process"
    }
    fn supports(&self, format: TrainDataFormat) -> bool {
        format == TrainDataFormat::Chat
    }
    async fn start(&self, request: &kestrel_lm::FinetuneRequest) -> Result<kestrel_lm::JobProgress, LmError> {
        let id = format!("local-{}", request.data.len());
        Ok(kestrel_lm::JobProgress::new(id, TrainingStatus::Running, "training"))
    }
    async fn poll(&self, job_id: &str) -> Result<kestrel_lm::JobProgress, LmError> {
        let n = self.polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut p = kestrel_lm::JobProgress::new(job_id, TrainingStatus::Running, "training");
        p.events.push(kestrel_lm::JobEvent { id: n.to_string(), created_at: None, message: format!("step {n}") });
        if n >= 2 {
            p.status = TrainingStatus::Succeeded;
            p.fine_tuned_model = Some(format!("adapters/{job_id}"));
        }
        Ok(p)
    }
    async fn cancel(&self, job_id: &str) -> Result<kestrel_lm::JobProgress, LmError> {
        Ok(kestrel_lm::JobProgress::new(job_id, TrainingStatus::Cancelled, "cancelled"))
    }
    fn finetuned_lm(&self, model: &str) -> Result<kestrel_lm::SharedLm, LmError> {
        Ok(kestrel_lm::SharedLm::new(ScriptedLm::sequence([model.to_string()])))
    }
}

#[tokio::test]
async fn a_backend_without_http_implements_the_same_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let backend: SharedFinetuneBackend = Arc::new(InProcess::default());
    let data = TrainingData::new(TrainDataFormat::Chat, records()).unwrap();
    let job = start_finetune(backend.clone(), "local/smollm2", data, Map::new(), Some(dir.path())).await.unwrap();
    assert!(job.data_path().exists());
    let model = job.wait(POLL).await.unwrap();
    assert_eq!(model.model, "adapters/local-3");
    assert_eq!(model.progress.events.len(), 1);
    let reply = model.lm.call(LmRequest::new(vec![Message::user("hi")])).await.unwrap();
    assert_eq!(reply.completions[0].text, "adapters/local-3");
    // A format the backend does not take is refused before anything is written.
    let completion = TrainingData::new(TrainDataFormat::Completion, vec![json!({"prompt": "p", "completion": "c"})]);
    let err =
        start_finetune(backend, "local/smollm2", completion.unwrap(), Map::new(), Some(dir.path())).await.unwrap_err();
    assert!(matches!(err, LmError::FinetuneData(_)), "{err:?}");
}

#[tokio::test]
async fn the_key_never_reaches_an_error_or_debug_output() {
    const KEY: &str = "sk-test-finetune";
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    server.push_fault_for(Route::FilesUpload, Fault::status(401).message(format!("Incorrect API key provided: {KEY}")));
    let dir = tempfile::tempdir().unwrap();
    let data = TrainingData::new(TrainDataFormat::Chat, records()).unwrap();
    let backend = backend(&server);
    assert!(!format!("{backend:?}").contains(KEY));
    let err = start_finetune(backend, "gpt-4o-mini", data, Map::new(), Some(dir.path())).await.unwrap_err();
    assert!(matches!(err, LmError::Auth { .. }), "{err:?}");
    assert!(!err.to_string().contains(KEY) && !format!("{err:?}").contains(KEY), "{err}");
    // A key a header cannot carry is a configuration error that does not quote it.
    let bad: SharedFinetuneBackend = Arc::new(OpenAiFinetune::new(server.base_url()).api_key(format!("{KEY}\n")));
    let data = TrainingData::new(TrainDataFormat::Chat, records()).unwrap();
    let err = start_finetune(bad, "gpt-4o-mini", data, Map::new(), Some(dir.path())).await.unwrap_err();
    assert!(matches!(err, LmError::Config(_)) && !err.to_string().contains(KEY), "{err}");
}
