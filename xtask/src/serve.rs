//! `cargo xtask serve-sim`: the simulated LM of `bench-compile` served on
//! its own by the testkit's mock server, so that programs in other processes
//! (Python DSPy, a Kestrel bench binary) can be measured against the same
//! server in the same run. Used by `benches/dspy/compare.sh`.
//!
//! It prints `listening on http://127.0.0.1:PORT/v1` (the OpenAI base URL)
//! and `control on http://127.0.0.1:PORT/` (a plain-text side port, served by
//! a std thread, that both benchmark clients read between workloads), then
//! serves until killed. Control routes, all `GET`:
//!
//! - `/stats`: `{"requests": N, "max_in_flight": M, "latency_ms": L}`, the
//!   HTTP requests the LM server received since the last reset;
//! - `/reset`: zero the request count and the in-flight maximum, and
//!   forget the repeat counts of proposal requests ([`Repeats`]: the `k`-th
//!   identical `n = 1` proposal request is answered as choice `k`, as a
//!   sampling model would answer differently; DSPy sends `n` such requests
//!   where Kestrel sends one with `n` choices);
//! - `/latency/MS`: set the latency of every following response.
//!
//! With `--write-dataset PATH` it instead writes generated arithmetic
//! problems (the `bench-compile` generated dataset) as JSONL
//! `{"question", "answer"}` lines and exits, so both clients read the same
//! examples; `--with-feedback` adds each problem's `how`, the
//! problem-dependent tail of the benchmark's feedback text
//! (`simulated::skill::feedback_tail`), for DSPy-side feedback metrics.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use kestrel_lm::LmRequest;
use kestrel_testkit::mock::{MockServer, Responder};

use crate::sim_repeats::Repeats;

/// Which responder answers chat requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResponderKind {
    /// The `bench-compile` simulated LM (deterministic; reads the adapter's prompt).
    Simulated,
    /// The same `question -> answer` reply (`42`) to every request: the cheapest server side.
    Fixed,
}

/// Flags of `cargo xtask serve-sim`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Latency added to every response, in milliseconds (changeable later through `/latency/MS`).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// The responder.
    #[arg(long, value_enum, default_value_t = ResponderKind::Simulated)]
    pub responder: ResponderKind,
    /// Write generated problems as JSONL to this file and exit instead of serving.
    #[arg(long)]
    pub write_dataset: Option<PathBuf>,
    /// Problems to write (with `--write-dataset`).
    #[arg(long, default_value_t = 1_200)]
    pub examples: usize,
    /// Seed of the generated problems (with `--write-dataset`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write each problem's `how` (the feedback text's problem part; with `--write-dataset`).
    #[arg(long)]
    pub with_feedback: bool,
}

/// The reply of [`ResponderKind::Fixed`].
const FIXED_REPLY: &str = "[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]";

/// The simulated LM's reply to one choice of a request, repeats of a
/// proposal request renumbered by `repeats`. This is the one call site of
/// the `bench-compile` simulated LM here.
fn simulated(repeats: &Repeats, request: &LmRequest, index: u32) -> Result<String, String> {
    kestrel_testkit::simulated::respond_choice(request, repeats.choice(request, index))
}

/// The generated dataset as JSONL text, one `{"question", "answer"}` object
/// per line (and `"how"` with `with_feedback`).
fn dataset_jsonl(seed: u64, count: usize, with_feedback: bool) -> Result<String> {
    let mut text = String::new();
    for problem in kestrel_testkit::simulated::generate(seed, count) {
        let mut line = serde_json::json!({"question": problem.render(), "answer": problem.answer().to_string()});
        if with_feedback {
            line["how"] = serde_json::Value::String(kestrel_testkit::simulated::skill::feedback_tail(&problem));
        }
        text.push_str(&serde_json::to_string(&line)?);
        text.push('\n');
    }
    Ok(text)
}

/// Run `serve-sim`.
pub fn run(args: ServeArgs) -> Result<()> {
    if let Some(path) = &args.write_dataset {
        let text = dataset_jsonl(args.seed, args.examples, args.with_feedback)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {} problems (seed {}) to {}", args.examples, args.seed, path.display());
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(async {
        let repeats = Arc::new(Repeats::default());
        let responder = match args.responder {
            ResponderKind::Simulated => {
                let repeats = Arc::clone(&repeats);
                Responder::from_choice_fn(move |request, index| simulated(&repeats, request, index))
            }
            ResponderKind::Fixed => Responder::from_fn(|_: &LmRequest| Ok(FIXED_REPLY.to_string())),
        };
        let server = MockServer::builder(responder)
            .latency(Duration::from_millis(args.latency_ms))
            .record(false)
            .models(["gpt-4o-mini", kestrel_testkit::simulated::MODEL])
            .start()
            .await
            .context("starting the mock server on 127.0.0.1")?;
        let server = Arc::new(server);
        let control = TcpListener::bind("127.0.0.1:0").context("binding the control port")?;
        let control_addr = control.local_addr()?;
        let shared = Arc::clone(&server);
        std::thread::spawn(move || serve_control(&control, &shared, &repeats));
        println!("listening on {}", server.base_url());
        println!("control on http://{control_addr}/");
        std::io::stdout().flush()?;
        // Serve until the process is killed.
        std::future::pending::<()>().await;
        Ok(())
    })
}

/// Answer control requests one at a time until the listener fails.
fn serve_control(listener: &TcpListener, server: &MockServer, repeats: &Repeats) {
    for stream in listener.incoming().flatten() {
        // A client that hangs up early is its own problem; keep serving.
        let _ = handle_control(stream, server, repeats);
    }
}

fn handle_control(mut stream: TcpStream, server: &MockServer, repeats: &Repeats) -> std::io::Result<()> {
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = control_reply(path, server, repeats);
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

/// The status line and JSON body for a control path.
fn control_reply(path: &str, server: &MockServer, repeats: &Repeats) -> (&'static str, String) {
    if path == "/reset" {
        server.clear_requests();
        server.reset_max_in_flight();
        repeats.reset();
    } else if let Some(ms) = path.strip_prefix("/latency/") {
        match ms.parse::<u64>() {
            Ok(ms) => server.set_latency(Duration::from_millis(ms)),
            Err(_) => return ("400 Bad Request", format!("{{\"error\": \"not a latency in ms: {ms:?}\"}}")),
        }
    } else if path != "/stats" {
        return ("404 Not Found", "{\"error\": \"routes: /stats, /reset, /latency/MS\"}".to_string());
    }
    let stats = serde_json::json!({
        "requests": server.request_count(),
        "max_in_flight": server.max_in_flight(),
        "latency_ms": u64::try_from(server.latency().as_millis()).unwrap_or(u64::MAX),
    });
    ("200 OK", stats.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dataset_is_seeded_jsonl_the_simulated_lm_reads() {
        let text = dataset_jsonl(7, 5, false).unwrap();
        assert_eq!(text, dataset_jsonl(7, 5, false).unwrap());
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 5);
        for line in &lines {
            let question = line["question"].as_str().unwrap();
            let problem = kestrel_testkit::simulated::Problem::parse(question).unwrap();
            assert_eq!(line["answer"], problem.answer().to_string());
            assert!(line.get("how").is_none());
        }
        // With feedback: `how` completes the verdict into the feedback text.
        let with = dataset_jsonl(7, 5, true).unwrap();
        for line in with.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()) {
            let problem = kestrel_testkit::simulated::Problem::parse(line["question"].as_str().unwrap()).unwrap();
            let verdict = format!("No number was given; the right answer is {}.", problem.answer());
            let text = verdict + line["how"].as_str().unwrap();
            assert_eq!(text, kestrel_testkit::simulated::skill::feedback(&problem, Some("n/a")));
        }
    }

    #[tokio::test]
    async fn control_routes_count_reset_and_set_latency() {
        let server = MockServer::builder(Responder::from_fn(|_: &LmRequest| Ok(FIXED_REPLY.to_string())))
            .record(false)
            .start()
            .await
            .unwrap();
        let repeats = Repeats::default();
        let client = reqwest_free_post(&server.url("/v1/chat/completions")).await;
        assert!(client.contains("42"), "{client}");
        let (status, body) = control_reply("/stats", &server, &repeats);
        assert_eq!((status, body.as_str()), ("200 OK", r#"{"requests":1,"max_in_flight":1,"latency_ms":0}"#));
        let (_, body) = control_reply("/latency/25", &server, &repeats);
        assert!(body.contains(r#""latency_ms":25"#), "{body}");
        assert_eq!(server.latency(), Duration::from_millis(25));
        let (_, body) = control_reply("/reset", &server, &repeats);
        assert!(body.contains(r#""requests":0"#), "{body}");
        assert_eq!(control_reply("/latency/x", &server, &repeats).0, "400 Bad Request");
        assert_eq!(control_reply("/other", &server, &repeats).0, "404 Not Found");
    }

    /// One chat completion POSTed over a plain TCP stream (the xtask has no HTTP client by default).
    async fn reqwest_free_post(url: &str) -> String {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let request = format!(
            "POST /{path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        tokio::task::spawn_blocking({
            let host = host.to_string();
            move || {
                let mut stream = TcpStream::connect(host).unwrap();
                stream.write_all(request.as_bytes()).unwrap();
                let mut text = String::new();
                std::io::Read::read_to_string(&mut stream, &mut text).unwrap();
                text
            }
        })
        .await
        .unwrap()
    }
}
