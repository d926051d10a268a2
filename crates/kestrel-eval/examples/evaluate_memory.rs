//! Peak memory and throughput of `Evaluate` over many examples, on an
//! in-process scripted LM (no network).
//!
//! `cargo run --release -p kestrel-eval --example evaluate_memory -- [examples] [concurrency] [latency_ms] [--progress] [--ctrl-c]`
//! (defaults: 100000 examples, concurrency 128, 0 ms). Prints the wall time,
//! the time per example and the process's peak resident memory (Linux
//! `VmHWM`). `--progress` shows the progress bar (on a terminal);
//! `--ctrl-c` lets Ctrl-C stop the run and print the partial result.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use kestrel_core::Example;
use kestrel_eval::Evaluate;
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_lm::{Lm, LmError, LmRequest, LmResponse, with_lm};
use kestrel_modules::Predict;
use kestrel_testkit::{Reply, ScriptedLm};

/// The scripted LM behind a fixed latency.
#[derive(Debug)]
struct Delayed {
    inner: ScriptedLm,
    latency: Duration,
}

#[async_trait]
impl Lm for Delayed {
    fn model(&self) -> &str {
        self.inner.model()
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        self.inner.call(request).await
    }
}

fn status_mb(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let mut numbers = args.iter().filter(|a| !a.starts_with("--"));
    let n: usize = numbers.next().map(|a| a.parse()).transpose()?.unwrap_or(100_000);
    let concurrency: usize = numbers.next().map(|a| a.parse()).transpose()?.unwrap_or(128);
    let latency_ms: u64 = numbers.next().map(|a| a.parse()).transpose()?.unwrap_or(0);

    let devset: Vec<Example> = (0..n)
        .map(|i| {
            Example::from_pairs([
                ("id", format!("example-{i:06}")),
                ("question", format!("Question number {i}: which city is the capital of France, and why?")),
                ("answer", "Paris".to_string()),
            ])
            .with_inputs(["question"])
        })
        .collect();
    let before = status_mb("VmHWM:");

    let scripted = ScriptedLm::keyed([("", Reply::fields([("answer", "Paris")]))]).without_recording();
    let lm = Delayed { inner: scripted, latency: Duration::from_millis(latency_ms) };
    let program = Predict::from_signature("question -> answer")?;
    let mut eval = Evaluate::new(devset).concurrency(concurrency)?.display_progress(flag("--progress"));
    if flag("--ctrl-c") {
        eval = eval.cancel_on_ctrl_c();
    }
    let started = Instant::now();
    let result = with_lm(lm, eval.run(&program, &AnswerExactMatch::new())).await?;
    let elapsed = started.elapsed();

    println!("{result}");
    println!(
        "{n} examples, concurrency {concurrency}, latency {latency_ms} ms: {:.2} s, {:.1} µs per example",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / n as f64
    );
    if let (Some(before), Some(peak), Some(now)) = (before, status_mb("VmHWM:"), status_mb("VmRSS:")) {
        println!("peak RSS: {peak:.1} MB (devset alone: {before:.1} MB; holding the result: {now:.1} MB)");
    }
    Ok(())
}
