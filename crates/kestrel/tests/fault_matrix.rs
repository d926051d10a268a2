//! The fault matrix (issue 13, item 8): every fault the testkit's mock
//! server can inject, at every layer it can reach — one provider call, the
//! client with retries (fault once, fault on every attempt), a `Predict`
//! (ChatAdapter with its JSON fallback) — and the disk cache's own faults
//! (a corrupt entry, a folder that cannot be written). Each cell records
//! what happened: recovered (after how many requests), a typed error (which
//! `LmError`, after how many requests) or degraded with a warning.
//!
//! The table is written to `target/fault-matrix.md` and must equal the one
//! between the `fault-matrix` markers in `docs/RELIABILITY.md`: the test
//! fails on drift. `KESTREL_UPDATE_FAULT_MATRIX=1 cargo test -p kestrel
//! --test fault_matrix` rewrites the doc's table. Its own binary: it installs
//! a global tracing subscriber to see the warnings.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kestrel::lm::cache::CacheConfig;
use kestrel::lm::providers::OpenAiProvider;
use kestrel::lm::{Lm, LmBuilder, LmError, LmRequest, RetryPolicy, SharedLm, with_lm};
use kestrel::prelude::*;
use kestrel_testkit::mock::{Fault, MockServer, Responder};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Warning messages of the whole process, in order.
static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps the `message` of every WARN event.
struct Warnings;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Warnings {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if *event.metadata().level() == Level::WARN {
            let mut message = Message(String::new());
            event.record(&mut message);
            WARNINGS.lock().unwrap().push(message.0);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The provider's timeout; a stall lasts three times as long.
const TIMEOUT: Duration = Duration::from_millis(200);

/// Retries the client makes after the first attempt.
const RETRIES: u32 = 2;

/// A right reply in the ChatAdapter's or the JSONAdapter's format.
const CHAT_REPLY: &str = "[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]";
const JSON_REPLY: &str = r#"{"answer": "4"}"#;

/// A reply that follows neither adapter's format.
const GARBLED: &str = "I would rather not follow the output format today.";

/// The fault kinds, each a row: a server fault, or `None` for the garbled
/// reply the responder gives.
fn kinds() -> Vec<(&'static str, Option<Fault>)> {
    vec![
        ("429 + `Retry-After: 0`", Some(Fault::status(429).retry_after_secs(0).into())),
        ("500", Some(Fault::status(500).into())),
        ("503 + `retry-after-ms: 10`", Some(Fault::status(503).retry_after_ms(10).into())),
        ("stall past the timeout", Some(Fault::Delay(TIMEOUT * 3))),
        ("connection reset", Some(Fault::DropConnection)),
        ("truncated body", Some(Fault::TruncatedBody)),
        ("malformed JSON", Some(Fault::MalformedBody)),
        ("missing fields", Some(Fault::MissingFields)),
        ("400 context window", Some(Fault::ContextWindowExceeded)),
        ("401 auth", Some(Fault::status(401).into())),
        ("garbled reply", None),
    ]
}

/// The server under test: answers right, except that `garble` replies (or
/// every reply while it is negative) are garbled.
struct Bench {
    server: MockServer,
    garble: Arc<AtomicI64>,
}

impl Bench {
    async fn start() -> Self {
        let garble = Arc::new(AtomicI64::new(0));
        let left = garble.clone();
        let responder = Responder::from_fn(move |request: &LmRequest| {
            let n = left.load(Ordering::SeqCst);
            if n < 0 || (n > 0 && left.fetch_sub(1, Ordering::SeqCst) > 0) {
                return Ok(GARBLED.to_string());
            }
            let json = request.response_format.is_some()
                || request.messages.first().is_some_and(|m| m.content.contains("JSON object"));
            Ok(if json { JSON_REPLY } else { CHAT_REPLY }.to_string())
        });
        Self { server: MockServer::start(responder).await.unwrap(), garble }
    }

    fn provider(&self) -> OpenAiProvider {
        OpenAiProvider::new("gpt-4o-mini").base_url(self.server.base_url()).api_key("sk-matrix").timeout(TIMEOUT)
    }

    fn client(&self, cache: CacheConfig) -> SharedLm {
        let retry = RetryPolicy::default().num_retries(RETRIES).with_initial_delay(Duration::from_millis(1));
        SharedLm::new(LmBuilder::new(self.provider()).cache(cache).retry(retry).build().unwrap())
    }

    /// Inject `fault` once (or on every request when `always`).
    fn inject(&self, fault: &Option<Fault>, always: bool) {
        self.server.clear_faults();
        self.garble.store(0, Ordering::SeqCst);
        match (fault, always) {
            (Some(fault), false) => self.server.push_fault(fault.clone()),
            (Some(fault), true) => self.server.set_fault_always(Some(fault.clone())),
            (None, false) => self.garble.store(1, Ordering::SeqCst),
            (None, true) => self.garble.store(-1, Ordering::SeqCst),
        }
    }
}

/// `LmError`'s variant name.
fn variant(error: &LmError) -> String {
    let debug = format!("{error:?}");
    debug.split([' ', '(', '{']).next().unwrap_or("?").to_string()
}

fn requests(n: usize) -> String {
    if n == 1 { "1 request".to_string() } else { format!("{n} requests") }
}

/// A cell: what a call that made `n` requests ended with.
fn cell<T>(outcome: &Result<T, String>, n: usize, warned: usize) -> String {
    let warned = match warned {
        0 => String::new(),
        1 => ", 1 warning".to_string(),
        w => format!(", {w} warnings"),
    };
    match outcome {
        Ok(_) if n == 0 => format!("ok from the cache (0 requests{warned})"),
        Ok(_) if n == 1 => format!("ok ({}{warned})", requests(n)),
        Ok(_) => format!("**recovered** ({}{warned})", requests(n)),
        Err(kind) => format!("typed `{kind}` ({}{warned})", requests(n)),
    }
}

fn ask() -> LmRequest {
    LmRequest::new(vec![kestrel::core::Message::user("What is 2 + 2?")])
}

/// Run `call` with the server's request count and the warnings measured.
async fn measure<T, F: std::future::Future<Output = Result<T, String>>>(bench: &Bench, call: F) -> String {
    let before = bench.server.request_count();
    WARNINGS.lock().unwrap().clear();
    let outcome = call.await;
    let n = bench.server.request_count() - before;
    let warned = WARNINGS.lock().unwrap().len();
    cell(&outcome, n, warned)
}

async fn predict(lm: SharedLm) -> Result<Prediction, String> {
    let program = Predict::from_signature("question -> answer").unwrap();
    let inputs = Example::from_pairs([("question", "What is 2 + 2?")]).with_inputs(["question"]);
    with_lm(lm, program.forward_example(&inputs, None)).await.map_err(|e| match e {
        kestrel::modules::ModuleError::Lm(lm) => variant(&lm),
        other => format!("ModuleError: {other}"),
    })
}

async fn provider_rows(bench: &Bench, out: &mut String) {
    let _ = writeln!(
        out,
        "| fault | provider call (1 attempt) | client, fault once ({RETRIES} retries) | client, fault on every attempt | `Predict` (ChatAdapter + JSON fallback), fault once | `Predict`, fault on every attempt |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (name, fault) in kinds() {
        let provider = bench.provider();
        bench.inject(&fault, false);
        let raw = measure(bench, async { provider.call(ask()).await.map_err(|e| variant(&e)) }).await;
        bench.inject(&fault, false);
        let lm = bench.client(CacheConfig::disabled());
        let once = measure(bench, async { lm.call(ask()).await.map_err(|e| variant(&e)) }).await;
        bench.inject(&fault, true);
        let every = measure(bench, async { lm.call(ask()).await.map_err(|e| variant(&e)) }).await;
        bench.inject(&fault, false);
        let module = measure(bench, predict(lm.clone())).await;
        bench.inject(&fault, true);
        let module_every = measure(bench, predict(lm.clone())).await;
        bench.inject(&None, false);
        bench.garble.store(0, Ordering::SeqCst);
        let _ = writeln!(out, "| {name} | {raw} | {once} | {every} | {module} | {module_every} |");
    }
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

async fn cache_rows(bench: &Bench, out: &mut String) {
    bench.inject(&None, false);
    bench.garble.store(0, Ordering::SeqCst);
    let _ =
        writeln!(out, "\n| cache fault | a call through the client | the same call again (new client, same folder) |");
    let _ = writeln!(out, "|---|---|---|");

    // A corrupt entry: written by one client, overwritten with junk, read by
    // a fresh client (empty memory level).
    let dir = tempfile::tempdir().unwrap();
    let config = || CacheConfig::default().with_dir(dir.path().into());
    let first = measure(bench, async { bench.client(config()).call(ask()).await.map_err(|e| variant(&e)) }).await;
    for _ in 0..200 {
        if !files(dir.path()).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let entries = files(dir.path());
    assert!(!entries.is_empty(), "the disk cache wrote no entry");
    for path in &entries {
        std::fs::write(path, b"{ not an entry").unwrap();
    }
    let again = measure(bench, async { bench.client(config()).call(ask()).await.map_err(|e| variant(&e)) }).await;
    let _ = writeln!(out, "| entry corrupted on disk before the second call | {first} | {again} |");

    // The healthy case, for comparison: the second call is a disk hit.
    let dir = tempfile::tempdir().unwrap();
    let config = || CacheConfig::default().with_dir(dir.path().into());
    let first = measure(bench, async { bench.client(config()).call(ask()).await.map_err(|e| variant(&e)) }).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = measure(bench, async { bench.client(config()).call(ask()).await.map_err(|e| variant(&e)) }).await;
    let _ = writeln!(out, "| none (for comparison) | {first} | {again} |");

    // A cache folder that cannot be created (its parent is a file): the
    // client refuses to build, before any call.
    let parent = tempfile::NamedTempFile::new().unwrap();
    let blocked: PathBuf = parent.path().join("cache");
    let config = || CacheConfig::default().with_dir(blocked.clone());
    let build = |c: CacheConfig| {
        let retry = RetryPolicy::default().num_retries(RETRIES).with_initial_delay(Duration::from_millis(1));
        LmBuilder::new(bench.provider()).cache(c).retry(retry).build().map(SharedLm::new).map_err(|e| variant(&e))
    };
    let first = measure(bench, async { build(config())?.call(ask()).await.map_err(|e| variant(&e)) }).await;
    let again = measure(bench, async { build(config())?.call(ask()).await.map_err(|e| variant(&e)) }).await;
    let _ = writeln!(
        out,
        "| folder cannot be created (its parent is a file): the client's build fails | {first} | {again} |"
    );
}

/// The table between the markers of `docs/RELIABILITY.md`.
const BEGIN: &str = "<!-- fault-matrix:begin (generated by crates/kestrel/tests/fault_matrix.rs) -->\n";
const END: &str = "<!-- fault-matrix:end -->";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_matrix_matches_the_doc() {
    tracing::subscriber::set_global_default(Warnings).unwrap();
    let bench = Bench::start().await;
    let mut table = String::new();
    provider_rows(&bench, &mut table).await;
    cache_rows(&bench, &mut table).await;

    // Every cell is an outcome: never a panic, never an untyped failure.
    assert!(!table.contains("ModuleError:"), "an untyped module error:\n{table}");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = root.join("target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("fault-matrix.md"), &table).unwrap();
    let doc_path = root.join("docs/RELIABILITY.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let start = doc.find(BEGIN).expect("docs/RELIABILITY.md has the fault-matrix begin marker") + BEGIN.len();
    let end = doc[start..].find(END).expect("docs/RELIABILITY.md has the fault-matrix end marker") + start;
    if std::env::var_os("KESTREL_UPDATE_FAULT_MATRIX").is_some() {
        let updated = format!("{}{table}{}", &doc[..start], &doc[end..]);
        std::fs::write(&doc_path, updated).unwrap();
        return;
    }
    assert_eq!(
        doc[start..end],
        table,
        "docs/RELIABILITY.md's fault matrix differs from what the test produces (target/fault-matrix.md); \
         rerun with KESTREL_UPDATE_FAULT_MATRIX=1 to rewrite it"
    );
}
