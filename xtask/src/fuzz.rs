//! `cargo xtask fuzz [--seconds N] [--target T,...] [--json PATH]`: build
//! the fuzz targets in `fuzz/` with libFuzzer's coverage instrumentation on
//! the *stable* toolchain (`-C passes=sancov-module` and LLVM's
//! sanitizer-coverage options, which stable rustc accepts; cargo-fuzz's
//! `-Z sanitizer` needs nightly, so no sanitizer is used) and run each
//! target for N seconds on its corpus (`fuzz/corpus/<target>`, grown from
//! the committed seeds in `fuzz/seeds/<target>`). Prints executions,
//! executions per second, corpus size and crashes per target; fails when
//! any target crashed, leaving the input in `fuzz/artifacts/<target>/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;

/// The fuzz targets (binaries of `fuzz/Cargo.toml`).
pub const TARGETS: [&str; 5] = ["signature", "adapters", "program_state", "http", "datasets"];

/// RUSTFLAGS of the instrumented build: libFuzzer's inline 8-bit counters,
/// PC table and comparison tracing, as cargo-fuzz sets them.
const FLAGS: &str = "-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing";

/// Flags of `cargo xtask fuzz`.
#[derive(Debug, Clone, Args)]
pub struct FuzzArgs {
    /// Seconds each target runs.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Targets to run (comma-separated or repeated) [default: all].
    #[arg(long, value_delimiter = ',')]
    pub target: Vec<String>,
    /// Also write the figures as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// One target's run.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRun {
    /// The target.
    pub target: String,
    /// Seconds asked for.
    pub seconds: u64,
    /// Inputs executed (libFuzzer's `number_of_executed_units`).
    pub executions: u64,
    /// Inputs in the corpus after the run.
    pub corpus: usize,
    /// Crashing inputs written (crash-, leak-, timeout-, oom- files).
    pub crashes: usize,
}

/// Build, run each target, print the figures.
pub fn run(args: FuzzArgs, root: &Path) -> Result<()> {
    let targets: Vec<String> =
        if args.target.is_empty() { TARGETS.iter().map(|t| t.to_string()).collect() } else { args.target.clone() };
    if let Some(unknown) = targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
        bail!("unknown fuzz target `{unknown}`; the targets are {}", TARGETS.join(", "));
    }
    if args.seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    let fuzz = root.join("fuzz");
    let triple = host_triple()?;
    eprintln!("building the fuzz targets (release, libFuzzer coverage, target {triple})");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--bins", "--target", &triple])
        .current_dir(&fuzz)
        .env("RUSTFLAGS", FLAGS)
        .status()
        .context("running cargo build in fuzz/")?;
    if !status.success() {
        bail!("building the fuzz targets failed");
    }
    let mut runs = Vec::new();
    for target in &targets {
        runs.push(run_target(&fuzz, &triple, target, args.seconds)?);
    }
    println!(
        "{:<14} {:>8} {:>12} {:>10} {:>8} {:>8}",
        "target", "seconds", "executions", "exec/s", "corpus", "crashes"
    );
    for r in &runs {
        println!(
            "{:<14} {:>8} {:>12} {:>10.0} {:>8} {:>8}",
            r.target,
            r.seconds,
            r.executions,
            r.executions as f64 / r.seconds as f64,
            r.corpus,
            r.crashes
        );
    }
    let executions: u64 = runs.iter().map(|r| r.executions).sum();
    let crashes: usize = runs.iter().map(|r| r.crashes).sum();
    println!("total {executions} executions, {crashes} crashes");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&runs)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if crashes > 0 {
        bail!(
            "{crashes} crashing inputs: see fuzz/artifacts/<target>/ (rerun one with fuzz/target/<triple>/release/<target> <file>)"
        );
    }
    Ok(())
}

/// Run one target for `seconds`.
fn run_target(fuzz: &Path, triple: &str, target: &str, seconds: u64) -> Result<TargetRun> {
    let binary = fuzz.join("target").join(triple).join("release").join(target);
    let corpus = fuzz.join("corpus").join(target);
    let seeds = fuzz.join("seeds").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let before = count_files(&artifacts);
    eprintln!("fuzzing {target} for {seconds} s");
    let mut command = Command::new(&binary);
    command.args([
        format!("-max_total_time={seconds}"),
        format!("-artifact_prefix={}/", artifacts.display()),
        "-print_final_stats=1".into(),
        "-timeout=10".into(),
        "-rss_limit_mb=2048".into(),
        "-max_len=65536".into(),
    ]);
    command.arg(&corpus);
    if seeds.is_dir() {
        command.arg(&seeds);
    }
    let output = command.output().with_context(|| format!("running {}", binary.display()))?;
    let log = String::from_utf8_lossy(&output.stderr);
    let executions = stat(&log, "stat::number_of_executed_units:").unwrap_or(0);
    let crashes = count_files(&artifacts).saturating_sub(before);
    if !output.status.success() && crashes == 0 {
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        bail!("{target} failed without a crash file:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    if crashes > 0 {
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        eprintln!("{target} crashed:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    Ok(TargetRun { target: target.to_string(), seconds, executions, corpus: count_files(&corpus), crashes })
}

/// The number after `key` in libFuzzer's final stats.
fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines().find_map(|line| line.trim().strip_prefix(key)).and_then(|v| v.trim().parse().ok())
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).filter(|e| e.path().is_file()).count())
        .unwrap_or(0)
}

/// rustc's host triple (the instrumented build names it so build scripts
/// and proc macros are built without the coverage flags).
fn host_triple() -> Result<String> {
    let output = Command::new("rustc").arg("-vV").output().context("running rustc -vV")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().find_map(|l| l.strip_prefix("host: ")).map(str::to_string).context("rustc -vV printed no host triple")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_stats_are_read() {
        let log =
            "#1024\tDONE   cov: 10\nstat::number_of_executed_units: 123456\nstat::average_exec_per_sec:     6172\n";
        assert_eq!(stat(log, "stat::number_of_executed_units:"), Some(123_456));
        assert_eq!(stat(log, "stat::peak_rss_mb:"), None);
    }
}
