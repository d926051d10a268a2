//! Shared set-up for Kestrel's criterion benches (in `benches/` beside this
//! file) and the `eval_peak_memory` binary: the testkit's mock
//! OpenAI-compatible server on a runtime thread of its own (so it stands
//! apart from the client like a separate process), a simulated LM that
//! answers arithmetic questions, synthetic devsets, and LM clients that go
//! through the real HTTP provider path (`LmClient` + `OpenAiProvider`).
//!
//! Run the benches with `cargo bench -p kestrel-benches`; see
//! `docs/PERFORMANCE.md` for the figures and what each one measures.

use std::io;
use std::time::Duration;

use kestrel_core::Example;
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{LmBuilder, LmError, LmRequest, SharedLm};
use kestrel_testkit::mock::{MockServer, Responder};
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

/// The arithmetic question of example `i`.
pub fn question(i: usize) -> String {
    let (a, b) = operands(i);
    format!("What is {a} + {b}?")
}

fn operands(i: usize) -> (usize, usize) {
    (i % 997, (i * 7) % 1_009)
}

/// `n` examples `{question, answer}` (input key `question`) whose answers
/// the [`arithmetic_responder`] gets right.
pub fn arithmetic_devset(n: usize) -> Vec<Example> {
    (0..n)
        .map(|i| {
            let (a, b) = operands(i);
            Example::from_pairs([("question", question(i)), ("answer", (a + b).to_string())]).with_inputs(["question"])
        })
        .collect()
}

/// A simulated LM for `question -> answer` programs (Predict or
/// ChainOfThought): reads `What is A + B?` from the question field of the
/// last message and replies in ChatAdapter format with the sum (and a
/// `reasoning` field when the system message asks for one).
pub fn arithmetic_responder() -> Responder {
    Responder::from_fn(|request: &LmRequest| {
        let last = request.messages.last().map(|m| m.content.as_str()).unwrap_or_default();
        let question = field_text(last, "question").ok_or("no question field in the last message")?;
        let sum = parse_sum(question).ok_or_else(|| format!("not an addition question: {question:?}"))?;
        let wants_reasoning = request.messages.first().is_some_and(|m| m.content.contains("`reasoning`"));
        let mut reply = String::new();
        if wants_reasoning {
            reply.push_str(&format!("[[ ## reasoning ## ]]\nAdding the two numbers gives {sum}.\n\n"));
        }
        reply.push_str(&format!("[[ ## answer ## ]]\n{sum}\n\n[[ ## completed ## ]]"));
        Ok(reply)
    })
}

/// The text of `[[ ## name ## ]]` in a ChatAdapter user message, up to the
/// next blank line.
pub fn field_text<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let header = format!("[[ ## {name} ## ]]\n");
    let start = message.find(&header)? + header.len();
    let rest = &message[start..];
    Some(rest.split("\n\n").next().unwrap_or(rest).trim())
}

/// `What is A + B?` → `A + B`.
fn parse_sum(question: &str) -> Option<u64> {
    let expr = question.strip_prefix("What is ")?.strip_suffix('?')?;
    let (a, b) = expr.split_once(" + ")?;
    Some(a.trim().parse::<u64>().ok()? + b.trim().parse::<u64>().ok()?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_core::Message;

    #[test]
    fn responder_answers_the_devset() {
        let responder = arithmetic_responder();
        for example in arithmetic_devset(50) {
            let q = example.get_str("question").unwrap_or_default();
            let user = format!("[[ ## question ## ]]\n{q}\n\nRespond with the corresponding output fields.");
            let request =
                LmRequest::new(vec![Message::system("Your output fields are: `answer`"), Message::user(user)]);
            let reply = responder.reply(&request).unwrap_or_default();
            let gold = example.get_str("answer").unwrap_or_default();
            assert_eq!(reply, format!("[[ ## answer ## ]]\n{gold}\n\n[[ ## completed ## ]]"));
        }
    }

    #[test]
    fn responder_rejects_other_questions() {
        let request = LmRequest::new(vec![Message::user("[[ ## question ## ]]\nWhy?\n\n")]);
        assert!(arithmetic_responder().reply(&request).is_err());
    }
}
