//! `cargo xtask merge-reports A.json B.json ...`: join the JSON reports of
//! `bench-compile --shard i/n` runs into the report (and table) of the
//! whole run.
//!
//! Checked before anything is joined: every shard of one `n` is there once,
//! their dev slices tile the dev set, their settings agree (but for the
//! cache folder and concurrency), and every shard compiled the *same*
//! program for each row (same demos hash and RandomSearch seed) — else the
//! shards do not add up to one run and the merge fails, saying which.
//!
//! Joined: per-example dev outcomes in dev order, from which each score is
//! recomputed exactly as `Evaluate` does (`round(100·sum/total, 2)`, summed
//! in dev order), so a merged score equals the unsharded run's bit for bit;
//! error and fallback counts and LM usage are summed over shards (each
//! shard compiles, so the compile's usage is what all shards spent; a shared
//! cache turns the repeats into cache hits); wall times are the slowest
//! shard's (shards run side by side). What describes the compile itself
//! (demos, candidates, trials, teacher runs, metric calls) is shard 1's.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::migration;
use super::report::{self, Baseline, MergedShard, Phase, Report, Row};

/// Flags of `cargo xtask merge-reports`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The shard reports (`bench-compile --shard i/n --json PATH`), in any order.
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Write the merged report here (the JSON of a whole run, plus `merged_from`).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Merge the files, print the table, write `--json`.
pub fn run(args: MergeArgs) -> Result<()> {
    let mut shards = Vec::new();
    for path in &args.reports {
        shards.push((path.display().to_string(), report::read(path)?));
    }
    let merged = merge(shards)?;
    if merged.settings.simulated {
        println!("SIMULATED LM: scores measure the framework, not model quality.");
    }
    print!("{}", table(&merged));
    let spans: Vec<String> = merged
        .merged_from
        .iter()
        .map(|m| format!("{} ({}..{})", m.shard.index, m.shard.dev_start, m.shard.dev_end))
        .collect();
    println!(
        "merged {} shards: {}; slowest shard {:.2} s (LM usage summed over shards, times the slowest shard's)",
        merged.merged_from.len(),
        spans.join(", "),
        merged.total_seconds
    );
    if !merged.migration.is_empty() {
        println!("migration (dev example indices):");
        print!("{}", migration::text(&merged.migration));
    }
    if let Some(path) = &args.json {
        report::write(&merged, path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The table a whole run prints.
pub fn table(report: &Report) -> String {
    report::table(&report.rows, report.settings.simulated, report.settings.lm.contains(','))
}

/// Join shard reports (each named by its file) into a whole run's report.
pub fn merge(mut shards: Vec<(String, Report)>) -> Result<Report> {
    if shards.is_empty() {
        bail!("no reports to merge");
    }
    for (file, report) in &shards {
        if report.shard.is_none() {
            bail!("{file} is not a shard's report (run bench-compile with --shard i/n --json PATH)");
        }
    }
    shards.sort_by_key(|(_, r)| r.shard.map_or(0, |s| s.index));
    check_coverage(&shards)?;
    let (first_file, first) = &shards[0];
    let settings = comparable(first)?;
    for (file, report) in &shards[1..] {
        if comparable(report)? != settings {
            bail!("{file} and {first_file} were run with different settings; shards must differ only in --shard");
        }
        check_same_compiles(first_file, first, file, report)?;
    }

    let mut merged = first.clone();
    for (i, baseline) in merged.baselines.iter_mut().enumerate() {
        let parts: Vec<&Baseline> = shards.iter().map(|(_, r)| &r.baselines[i]).collect();
        baseline.outcomes = join(parts.iter().map(|b| &b.dev_outcomes))?;
        baseline.dev_outcomes = None;
        baseline.score = score(&baseline.outcomes);
        baseline.eval_errors = parts.iter().map(|b| b.eval_errors).sum();
        baseline.parse_failures = parts.iter().map(|b| b.parse_failures).sum();
        baseline.json_fallbacks = parts.iter().map(|b| b.json_fallbacks).sum();
        baseline.eval = combine(parts.iter().map(|b| &b.eval));
    }
    for (i, row) in merged.rows.iter_mut().enumerate() {
        let parts: Vec<&Row> = shards.iter().map(|(_, r)| &r.rows[i]).collect();
        row.outcomes = join(parts.iter().map(|r| &r.dev_outcomes))?;
        row.dev_outcomes = None;
        row.score_after = score(&row.outcomes);
        row.eval_errors = parts.iter().map(|r| r.eval_errors).sum();
        row.parse_failures = parts.iter().map(|r| r.parse_failures).sum();
        row.json_fallbacks = parts.iter().map(|r| r.json_fallbacks).sum();
        row.compile = combine(parts.iter().map(|r| &r.compile));
        row.eval = combine(parts.iter().map(|r| &r.eval));
        let total = row.compile.plus(&row.eval);
        row.lm_calls = total.lm_calls;
        row.cache_hits = total.cache_hits;
        row.prompt_tokens = total.prompt_tokens;
        row.completion_tokens = total.completion_tokens;
        row.cost_usd = total.cost_usd;
        row.http_requests = total.http_requests;
        row.compile_seconds = row.compile.seconds;
        row.eval_seconds = row.eval.seconds;
    }
    for row in &mut merged.rows {
        let baseline = merged.baselines.iter().find(|b| b.lm == row.lm && b.program == row.program);
        row.score_before = baseline.map_or(row.score_before, |b| b.score);
    }
    let models: Vec<String> = merged.settings.lm.split(',').map(str::to_string).collect();
    merged.migration = migration::deltas(&models, &merged.rows);
    merged.total_seconds = shards.iter().map(|(_, r)| r.total_seconds).fold(0.0, f64::max);
    merged.started_at = shards.iter().map(|(_, r)| r.started_at.clone()).min().unwrap_or_default();
    merged.shard = None;
    merged.merged_from = shards
        .iter()
        .filter_map(|(file, r)| {
            Some(MergedShard {
                file: file.clone(),
                shard: r.shard?,
                hostname: r.machine.hostname.clone(),
                started_at: r.started_at.clone(),
                total_seconds: r.total_seconds,
                git_commit: r.git_commit.clone(),
            })
        })
        .collect();
    Ok(merged)
}

/// Shards 1..=n of one n, each once, whose slices tile `0..dev`.
fn check_coverage(shards: &[(String, Report)]) -> Result<()> {
    let count = shards[0].1.shard.map_or(0, |s| s.count);
    let dev = shards[0].1.settings.dev;
    let mut next = 0;
    for (position, (file, report)) in shards.iter().enumerate() {
        let shard = report.shard.context("a shard report without its shard")?;
        if shard.count != count {
            bail!("{file} is shard {}/{} but {} is of {count} shards", shard.index, shard.count, shards[0].0);
        }
        if shard.index != position + 1 {
            bail!("shard {}/{count} is missing (or given twice): have {}", position + 1, indices(shards));
        }
        if shard.dev_start != next || shard.dev_end < shard.dev_start {
            bail!("{file}: dev slice {}..{} does not follow {next}", shard.dev_start, shard.dev_end);
        }
        next = shard.dev_end;
    }
    if shards.len() != count {
        bail!("{} of {count} shards given (have {}); merge all of them", shards.len(), indices(shards));
    }
    if next != dev {
        bail!("the shards cover dev examples 0..{next}, the dev set has {dev}");
    }
    Ok(())
}

fn indices(shards: &[(String, Report)]) -> String {
    let have: Vec<String> =
        shards.iter().filter_map(|(_, r)| r.shard.map(|s| format!("{}/{}", s.index, s.count))).collect();
    have.join(", ")
}

/// The settings that must agree (all but the cache folder and concurrency),
/// with the row and baseline names.
fn comparable(report: &Report) -> Result<serde_json::Value> {
    let mut settings = serde_json::to_value(&report.settings)?;
    if let Some(object) = settings.as_object_mut() {
        object.remove("cache_dir");
        object.remove("concurrency");
    }
    let rows: Vec<(&str, &str, &str)> =
        report.rows.iter().map(|r| (r.lm.as_str(), r.program.as_str(), r.optimizer.as_str())).collect();
    let baselines: Vec<(&str, &str)> = report.baselines.iter().map(|b| (b.lm.as_str(), b.program.as_str())).collect();
    Ok(
        serde_json::json!({ "settings": settings, "rows": rows, "baselines": baselines, "count": report.shard.map(|s| s.count) }),
    )
}

/// Every row's compiled program is the same in both shards.
fn check_same_compiles(first_file: &str, first: &Report, file: &str, report: &Report) -> Result<()> {
    for (a, b) in first.rows.iter().zip(&report.rows) {
        if a.demos_sha256 != b.demos_sha256 || a.best_seed != b.best_seed || a.demos != b.demos {
            bail!(
                "{file} compiled a different {} {} program ({}) than {first_file} ({}): sharded runs must compile \
                 identically — give them one LM endpoint with deterministic replies (temperature 0) and a shared cache \
                 (the same --cache-dir), so the compile's LM calls are answered alike",
                a.program,
                a.optimizer,
                short_hash(&b.demos_sha256),
                short_hash(&a.demos_sha256)
            );
        }
    }
    Ok(())
}

fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// The shards' dev outcomes, in shard order.
fn join<'a>(parts: impl Iterator<Item = &'a Option<Vec<f64>>>) -> Result<Vec<f64>> {
    let mut all = Vec::new();
    for part in parts {
        all.extend(part.as_ref().context("a shard report without dev_outcomes")?);
    }
    Ok(all)
}

/// `Evaluate`'s score: `round(100 * sum / total, 2)`, summed in dev order.
fn score(outcomes: &[f64]) -> f64 {
    if outcomes.is_empty() {
        return 0.0;
    }
    let sum: f64 = outcomes.iter().sum();
    let x = 100.0 * sum / outcomes.len() as f64;
    format!("{x:.2}").parse().unwrap_or(x)
}

/// Usage summed, wall time the slowest shard's.
fn combine<'a>(phases: impl Iterator<Item = &'a Phase>) -> Phase {
    let mut total = Phase::default();
    let mut slowest: f64 = 0.0;
    for phase in phases {
        slowest = slowest.max(phase.seconds);
        total = total.plus(phase);
    }
    total.seconds = slowest;
    total
}
