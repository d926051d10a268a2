//! Shared set-up for Kestrel's criterion benches (in `benches/` beside this
//! file) and the `eval_peak_memory` binary: the testkit's mock
//! OpenAI-compatible server on a runtime thread of its own (so it stands
//! apart from the client like a separate process) answering as the
//! testkit's simulated LM in oracle mode (every generated word problem
//! right), devsets of the testkit's generated word problems, and LM clients
//! that go through the real HTTP provider path (`LmClient` + `OpenAiProvider`).
//!
//! It also holds what the like-for-like runners against Python DSPy
//! (`src/bin/*_compare.rs`) share ([`compare`] for the optimizer runners).
//!
//! Run the benches with `cargo bench -p kestrel-benches`; see
//! `docs/PERFORMANCE.md` for the figures and what each one measures.

pub mod compare;
pub mod soak;

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use kestrel_core::Example;
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{LmBuilder, LmError, SharedLm};
use kestrel_testkit::mock::{MockServer, Responder};
use kestrel_testkit::simulated::{Problem, SimulatedLm, generate};
use tokio::runtime::Runtime;

/// The model the provider asks for. With the `openai/` prefix the client
/// adds, the price lookup is `openai/gpt-4o-mini`, as in DSPy's setup.
pub const MODEL: &str = "gpt-4o-mini";

/// Environment variable that turns on the slow bench cases (see
/// `docs/PERFORMANCE.md`).
pub const FULL_ENV: &str = "KESTREL_BENCH_FULL";

/// True when [`FULL_ENV`] is set to anything but empty or `0`.
pub fn full_run() -> bool {
    std::env::var(FULL_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// True when criterion runs the benches as tests (`cargo test --benches`:
/// each bench runs once), by criterion's own rule: no `--bench` flag, or
/// `--test`.
pub fn criterion_test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test")
}

/// A multi-thread tokio runtime with `workers` worker threads, timers and
/// I/O on.
pub fn runtime(workers: usize) -> io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()
}

/// A mock server running on its own single-worker runtime.
///
/// Dropping it stops the server, then the runtime.
#[derive(Debug)]
pub struct MockHost {
    // Field order matters: the server stops before its runtime goes.
    server: MockServer,
    _runtime: Runtime,
}

impl MockHost {
    /// Start a server answering with [`arithmetic_responder`], adding
    /// `latency` to every response and recording nothing.
    pub fn start(latency: Duration) -> io::Result<Self> {
        Self::start_with(arithmetic_responder(), latency)
    }

    /// Start a server answering with `responder`, adding `latency` to every
    /// response and recording nothing (only counting).
    pub fn start_with(responder: impl Into<Responder>, latency: Duration) -> io::Result<Self> {
        let runtime = runtime(1)?;
        let server = runtime.block_on(MockServer::builder(responder).latency(latency).record(false).start())?;
        Ok(Self { server, _runtime: runtime })
    }

    /// The server (latency, request count, in-flight counters, recording).
    pub fn server(&self) -> &MockServer {
        &self.server
    }
}

/// The OpenAI provider pointed at `host`, wrapped in an `LmClient` with the
/// given cache and default retries, limits, prices and history.
pub fn http_lm(host: &MockHost, cache: CacheConfig) -> Result<SharedLm, LmError> {
    let provider = OpenAiProvider::new(MODEL).base_url(host.server().base_url()).api_key("sk-bench");
    Ok(SharedLm::new(LmBuilder::new(provider).cache(cache).build()?))
}

/// Seed of every bench's generated word problems.
pub const SEED: u64 = 0;

/// The first `n` generated word problems of [`SEED`].
pub fn problems(n: usize) -> Vec<Problem> {
    generate(SEED, n)
}

/// The question of problem `i`.
pub fn question(i: usize) -> String {
    problems(i + 1)[i].render()
}

/// `n` examples `{question, answer}` (input key `question`): generated word
/// problems, which the [`arithmetic_responder`] answers right.
pub fn arithmetic_devset(n: usize) -> Vec<Example> {
    problems(n).iter().map(Problem::to_example).collect()
}

/// The simulated LM in oracle mode: every generated word problem answered
/// right, in the adapter's reply format (with `reasoning` when the
/// signature asks for it).
pub fn arithmetic_responder() -> Responder {
    SimulatedLm::oracle().into()
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// POST `body` as JSON with a bearer key, as async-openai does, and read the
/// whole response: the raw HTTP round trip Kestrel's calls are compared with.
pub async fn raw_post(http: &reqwest::Client, url: &str, body: &[u8]) -> Result<usize, reqwest::Error> {
    let response = http
        .post(url)
        .bearer_auth("sk-bench")
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec())
        .send()
        .await?
        .error_for_status()?;
    Ok(response.bytes().await?.len())
}

/// End a like-for-like runner: print `RESULT {json}` (the result with
/// `side`, `version` and `fields` added) on stdout for the driver, or the
/// error on stderr; the process's exit code.
pub fn emit_result(
    result: Result<serde_json::Value, Box<dyn std::error::Error>>,
    fields: impl IntoIterator<Item = (&'static str, serde_json::Value)>,
) -> ExitCode {
    match result {
        Ok(mut result) => {
            result["side"] = serde_json::json!("kestrel");
            result["version"] = serde_json::json!(env!("CARGO_PKG_VERSION"));
            for (key, value) in fields {
                result[key] = value;
            }
            println!("RESULT {result}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use kestrel_core::{Adapter, ChatAdapter, SignatureSpec};
    use kestrel_lm::LmRequest;

    use super::*;

    #[test]
    fn responder_answers_the_devset() {
        let responder = arithmetic_responder();
        let signature = SignatureSpec::parse("question -> answer").unwrap_or_else(|e| panic!("{e}"));
        for example in arithmetic_devset(50) {
            let messages = ChatAdapter.format(&signature, &[], &example.inputs()).unwrap_or_else(|e| panic!("{e}"));
            let reply = responder.reply(&LmRequest::new(messages)).unwrap_or_default();
            let parsed = ChatAdapter.parse(&signature, &reply).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed.get("answer"), example.get("answer"));
        }
    }

    #[test]
    fn responder_rejects_what_is_not_a_prompt() {
        let request = LmRequest::new(vec![kestrel_core::Message::user("[[ ## question ## ]]\nWhy?\n\n")]);
        assert!(arithmetic_responder().reply(&request).is_err());
    }
}
