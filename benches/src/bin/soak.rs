//! The load-and-soak run of issue 13 (item 5): 100,000 LM calls through
//! `Evaluate` at 512 in flight against the testkit's mock server with 5% of
//! the requests given a fault of one of eleven kinds (see
//! `kestrel_benches::soak`). Prints the figures as Markdown and fails if any
//! example was lost, duplicated, paid twice or ended untyped, or if a
//! descriptor was left open.
//!
//! ```sh
//! cargo build --release -p kestrel-benches --bin soak
//! flock /work/bench.lock target/release/soak --examples 100000 --concurrency 512
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kestrel_benches::soak::{self, SoakConfig};

/// Soak `Evaluate` against the faulty mock server.
#[derive(Debug, Parser)]
struct Args {
    /// Examples (each at least one LM call; the cache is off).
    #[arg(long, default_value_t = 100_000)]
    examples: usize,
    /// Examples in flight.
    #[arg(long, default_value_t = 512)]
    concurrency: usize,
    /// Split the examples into this many evaluations run one after the
    /// other (each result dropped before the next).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Share of requests given a fault.
    #[arg(long, default_value_t = 0.05)]
    fault_rate: f64,
    /// Seed of the fault plan.
    #[arg(long, default_value_t = 13)]
    seed: u64,
    /// The server's latency on every response, in milliseconds.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// The provider's timeout in milliseconds (stalls last twice this).
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Client runtime worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = SoakConfig {
        examples: args.examples,
        concurrency: args.concurrency,
        rounds: args.rounds,
        fault_rate: args.fault_rate,
        seed: args.seed,
        latency: Duration::from_millis(args.latency_ms),
        timeout: Duration::from_millis(args.timeout_ms),
        workers: args.workers,
        ..SoakConfig::default()
    };
    match soak::run(&config) {
        Ok(report) => {
            println!("{}", report.markdown());
            let problems = report.problems();
            if problems.is_empty() {
                println!(
                    "clean: every example scored or ended with a typed error; none lost, duplicated or paid twice; no descriptor left open"
                );
                ExitCode::SUCCESS
            } else {
                for problem in problems {
                    eprintln!("problem: {problem}");
                }
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
