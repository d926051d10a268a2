//! Peak memory (and wall time) of one `Evaluate` run over many synthetic
//! examples, through the real HTTP path: a `question -> answer` Predict
//! program, `LmClient` + `OpenAiProvider`, and the testkit's mock server in
//! the same process (on its own runtime thread, recording nothing).
//!
//! ```sh
//! cargo build --release -p kestrel-benches --bin eval_peak_memory
//! /usr/bin/time -v target/release/eval_peak_memory --examples 100000 --concurrency 128 --cache memory
//! ```
//!
//! Prints the score, the wall time, and the process's peak resident memory
//! (`VmHWM`) before and after the run; `/usr/bin/time -v` reports the same
//! peak as "Maximum resident set size". The in-process server's memory is
//! included, so the figure is an upper bound for the client alone.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use kestrel_benches::{MockHost, arithmetic_devset, http_lm, peak_rss_mib, runtime};
use kestrel_core::Example;
use kestrel_eval::Evaluate;
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::with_lm;
use kestrel_modules::Predict;

/// Which response cache the LM client uses.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum CacheChoice {
    /// The in-memory cache (default capacity: 100,000 responses), no disk.
    Memory,
    /// No cache.
    None,
}

/// Evaluate a Predict program over synthetic examples against an
/// in-process mock OpenAI server and report peak memory.
#[derive(Debug, Parser)]
struct Args {
    /// Number of examples.
    #[arg(long, default_value_t = 100_000)]
    examples: usize,
    /// Examples in flight.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// Simulated latency of every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The LM client's cache.
    #[arg(long, value_enum, default_value_t = CacheChoice::Memory)]
    cache: CacheChoice,
    /// Client runtime worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let host = MockHost::start(Duration::from_millis(args.latency_ms))?;
    let cache = match args.cache {
        CacheChoice::Memory => CacheConfig::memory_only(),
        CacheChoice::None => CacheConfig::disabled(),
    };
    let lm = http_lm(&host, cache)?;
    let devset: Arc<[Example]> = arithmetic_devset(args.examples).into();
    let program = Predict::from_signature("question -> answer")?;
    let before = peak_rss_mib();

    let runtime = runtime(args.workers)?;
    let started = Instant::now();
    let result = runtime.block_on(with_lm(
        lm,
        Evaluate::new(devset).concurrency(args.concurrency)?.run(&program, &AnswerExactMatch::new()),
    ))?;
    let elapsed = started.elapsed();

    println!("{result}");
    println!(
        "{} examples, concurrency {}, {} ms latency, cache {:?}: {:.2} s ({:.0} examples/s), {} requests served",
        args.examples,
        args.concurrency,
        args.latency_ms,
        args.cache,
        elapsed.as_secs_f64(),
        args.examples as f64 / elapsed.as_secs_f64(),
        host.server().request_count(),
    );
    let usage = &result.usage.total;
    println!(
        "usage: {} calls, {} prompt + {} completion tokens, ${:.4}",
        usage.calls, usage.prompt_tokens, usage.completion_tokens, usage.cost_usd
    );
    if let (Some(before), Some(peak)) = (before, peak_rss_mib()) {
        println!("peak RSS: {peak:.1} MiB (before the run, devset built: {before:.1} MiB)");
    }
    if !result.is_complete() || result.errors > 0 {
        return Err(format!("the run did not complete cleanly: {result}").into());
    }
    Ok(())
}
