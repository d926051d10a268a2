//! The secret scan (issue 13, item 4): a full compile with a known API key
//! — Evaluate, BootstrapFewShot, Evaluate again, through the
//! OpenAI-compatible provider against the testkit's mock server, with the
//! disk cache in a temporary folder, the history kept and every tracing
//! event captured — then every file the run wrote, every log line, the
//! history, the `Debug` output of the client, builder and providers, and
//! every error message (a 401 that echoes the key, 500s that echo it and are
//! retried with a warning, a key a header cannot carry, the Anthropic
//! provider's 401) are searched for the key. The key must be found 0 times;
//! a program whose saved predictor `lm` carries the key is loaded and
//! saved again. The test also checks that the key was really sent (so the scan scans a
//! run that used it). Its own binary: it installs a global tracing
//! subscriber.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use kestrel::lm::cache::CacheConfig;
use kestrel::lm::providers::{AnthropicProvider, OpenAiProvider};
use kestrel::lm::{LmBuilder, LmClient, RetryPolicy};
use kestrel::prelude::*;
use kestrel_testkit::mock::{Fault, MockServer, Responder};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The known key (looks like a real one, and occurs in nothing else).
const KEY: &str = "sk-proj-KESTRELsecret7f3a9c1e5b2d8064";

/// Every tracing event and span field of the process, as text.
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A subscriber that keeps every event and span, at every level.
struct Capture {
    next_id: AtomicU64,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut fields = Fields(format!("span {}", attributes.metadata().name()));
        attributes.record(&mut fields);
        LOG.lock().unwrap().push(fields.0);
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut fields = Fields("record".into());
        values.record(&mut fields);
        LOG.lock().unwrap().push(fields.0);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(format!("{} {}", event.metadata().level(), event.metadata().target()));
        event.record(&mut fields);
        LOG.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Add the two numbers.
#[derive(Signature)]
struct Add {
    #[input]
    question: String,
    #[output]
    answer: String,
}

fn problem(a: u64, b: u64) -> Example {
    Example::from_pairs([("question", format!("What is {a} + {b}?")), ("answer", (a + b).to_string())])
        .with_inputs(["question"])
}

/// Right unless the sum is a multiple of 3 and the prompt has no demos.
fn simulated(request: &kestrel::lm::LmRequest) -> Result<String, String> {
    let last = request.messages.last().map(|m| m.content.as_str()).unwrap_or("");
    let question = last.rsplit("[[ ## question ## ]]\n").next().unwrap_or("").split("\n\n").next().unwrap_or("");
    let nums: Vec<u64> = question.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let [a, b] = nums[..] else { return Err(format!("no numbers in {question:?}")) };
    let has_demos = request.messages.iter().any(|m| m.role == kestrel::core::Role::Assistant);
    let answer = if has_demos || (a + b) % 3 != 0 { a + b } else { a + b + 1 };
    Ok(format!("[[ ## reasoning ## ]]\nAdding.\n\n[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"))
}

fn exact(example: &Example, prediction: &Prediction, _trace: Option<&Trace>) -> bool {
    example.get("answer") == prediction.get("answer")
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
}

/// Where `KEY` occurs in `text` (`what` names the text).
fn leaks(what: &str, text: &str) -> Vec<String> {
    if text.contains(KEY) { vec![what.to_string()] } else { Vec::new() }
}

/// A 401 that echoes the key, as a proxy or a misbehaving server might.
fn echo_401() -> Fault {
    Fault::status(401).message(format!("Incorrect API key provided: {KEY}")).code("invalid_api_key").into()
}

fn client(server: &MockServer, cache: &Path) -> (LmClient, String) {
    let provider = OpenAiProvider::new("gpt-4o-mini").base_url(server.base_url()).api_key(KEY);
    let builder = LmBuilder::new(provider)
        .cache(CacheConfig::default().with_dir(cache.into()))
        .retry(RetryPolicy::default().num_retries(2).with_initial_delay(std::time::Duration::from_millis(1)))
        .history_size(10_000);
    let builder_debug = format!("{builder:?}");
    (builder.build().unwrap(), builder_debug)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_compile_leaves_the_key_nowhere() {
    tracing::subscriber::set_global_default(Capture { next_id: AtomicU64::new(0) }).unwrap();
    let server = MockServer::builder(Responder::from_fn(simulated)).start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (lm, builder_debug) = client(&server, &dir.path().join("cache"));
    let shared: SharedLm = lm.clone().into();

    // The compile, with two echoing 500s on the way (retried, each with a warning).
    let trainset: Vec<Example> = (0..10).map(|i| problem(i, 2 * i + 1)).collect();
    let devset: Vec<Example> = (0..12).map(|i| problem(20 + i, i)).collect();
    let program = ChainOfThought::<Add>::new();
    let evaluate = Evaluate::new(devset.clone()).display_progress(false).concurrency(4).unwrap();
    server.push_faults([
        Fault::status(500).message(format!("upstream rejected key {KEY}")),
        Fault::status(503).message(format!("key={KEY}")),
    ]);
    let run = async {
        let before = evaluate.run(&program, &exact).await?;
        let compiled = BootstrapFewShot::new(exact).max_bootstrapped_demos(2).compile(&program, &trainset).await?;
        let after = evaluate.run(&compiled.program, &exact).await?;
        Ok::<_, kestrel::Error>((before, compiled, after))
    };
    let (before, compiled, after) = with_lm(shared.clone(), run).await.unwrap();
    assert_eq!(after.score, 100.0, "the compile worked: {after}");
    assert_eq!(server.pending_faults(), 0, "both echoing faults were served");
    let sent = server.requests();
    assert!(sent.iter().all(|r| r.header("authorization") == Some(&format!("Bearer {KEY}")[..])), "key sent");
    let warnings = LOG.lock().unwrap().iter().filter(|l| l.contains("retrying")).count();
    assert!(warnings >= 2, "the retries were logged");
    compiled.save(dir.path().join("program.json")).unwrap();
    // A DSPy-style file whose predictor `lm` carries the key: loaded, then saved again.
    let mut state = compiled.dump_state();
    let mut planted = 0;
    for entry in state.as_object_mut().unwrap().values_mut() {
        if let Some(lm) = entry.get_mut("lm") {
            *lm = serde_json::json!({"model": "openai/gpt-4o-mini", "api_key": KEY, "temperature": 0.0});
            planted += 1;
        }
    }
    assert!(planted > 0, "{state}");
    let mut reloaded = ChainOfThought::<Add>::new();
    reloaded.load_state(&state).unwrap();
    reloaded.save(dir.path().join("reloaded.json")).unwrap();
    let reloaded_debug = format!("{reloaded:?}");
    compiled.report.write_html(dir.path().join("report.html"), &program, &compiled.program).unwrap();

    // Error paths: a 401 echoing the key (no retry), on a call and in an evaluation.
    server.push_fault(echo_401());
    let error = with_lm(shared.clone(), Predict::<Add>::new().call(AddInput { question: "What is 1 + 99?".into() }))
        .await
        .unwrap_err();
    let mut errors = vec![format!("{error}"), format!("{error:?}")];
    server.set_fault_always(Some(echo_401()));
    let failing = Evaluate::new(vec![problem(500, 1), problem(501, 1)]).display_progress(false);
    let failed = with_lm(shared.clone(), failing.run(&program, &exact)).await.unwrap();
    assert_eq!(failed.errors, 2);
    errors.push(format!("{failed} {failed:?}"));
    server.set_fault_always(None);
    // A key a header cannot carry: refused before sending, without quoting it.
    let newline = OpenAiProvider::new("gpt-4o-mini").base_url(server.base_url()).api_key(format!("{KEY}\n"));
    let bad = LmBuilder::new(newline).cache(CacheConfig::disabled()).build().unwrap();
    let error =
        with_lm(bad, Predict::<Add>::new().call(AddInput { question: "What is 2 + 2?".into() })).await.unwrap_err();
    assert!(format!("{error:?}").contains("Config(") && error.to_string().contains("API key"), "{error}");
    errors.push(format!("{error} {error:?}"));
    // The Anthropic provider's 401, echoing the key.
    server.push_fault(Fault::status(401).message(format!("invalid x-api-key: {KEY}")));
    let anthropic =
        AnthropicProvider::new("claude-3-5-haiku-latest").base_url(server.anthropic_base_url()).api_key(KEY);
    let anthropic_debug = format!("{anthropic:?}");
    let anthropic =
        LmBuilder::new(anthropic).cache(CacheConfig::disabled()).retry(RetryPolicy::none()).build().unwrap();
    let error = with_lm(anthropic, Predict::<Add>::new().call(AddInput { question: "What is 3 + 3?".into() }))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("authentication"), "{error}");
    errors.push(format!("{error} {error:?}"));

    // The scan.
    let mut written = Vec::new();
    files(dir.path(), &mut written);
    let cache_entries = written.iter().filter(|(p, _)| p.contains("cache")).count();
    assert!(cache_entries >= 10, "the disk cache was written: {cache_entries} files");
    let mut found = Vec::new();
    for (path, bytes) in &written {
        found.extend(leaks(path, &String::from_utf8_lossy(bytes)));
    }
    let log = LOG.lock().unwrap().clone();
    assert!(!log.is_empty());
    for (i, line) in log.iter().enumerate() {
        found.extend(leaks(&format!("log line {i}: {line}"), line));
    }
    let history = lm.history(10_000);
    assert!(history.len() > 20, "the history kept the run: {}", history.len());
    found.extend(leaks("history", &format!("{history:?}")));
    found.extend(leaks("history text", &lm.history_text(10_000)));
    found.extend(leaks("client Debug", &format!("{lm:?} {shared:?}")));
    found.extend(leaks("builder Debug", &builder_debug));
    found.extend(leaks("anthropic Debug", &anthropic_debug));
    found.extend(leaks("reloaded program Debug", &reloaded_debug));
    found.extend(leaks("results", &format!("{before:?} {after:?} {:?}", compiled.report)));
    for (i, text) in errors.iter().enumerate() {
        assert!(text.contains("[REDACTED]") || i == 3, "error {i} shows where the key was: {text}");
        found.extend(leaks(&format!("error {i}: {text}"), text));
    }
    eprintln!(
        "secret scan: {} files ({} bytes), {} log lines, {} history entries, {} error messages; key found {} times",
        written.len(),
        written.iter().map(|(_, b)| b.len()).sum::<usize>(),
        log.len(),
        history.len(),
        errors.len(),
        found.len()
    );
    assert!(found.is_empty(), "the key leaked into: {found:#?}");
}
