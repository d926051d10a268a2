//! What `bench-compile` reports: the JSON document written by `--json`
//! ([`Report`]; schema in `docs/BENCH_COMPILE.md`) and the text table.

use std::fmt::Write as _;

use kestrel_lm::usage::ModelUsage;
use serde::{Deserialize, Serialize};

/// Version of the JSON layout; bumped when a key changes meaning or goes.
pub const SCHEMA_VERSION: u32 = 2;

/// The whole JSON document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The workspace version of the Kestrel crates.
    pub kestrel_version: String,
    /// `git rev-parse --short HEAD`, when available.
    pub git_commit: Option<String>,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// Wall time of the whole run.
    pub total_seconds: f64,
    /// Where it ran.
    pub machine: Machine,
    /// Every flag, resolved.
    pub settings: Settings,
    /// One uncompiled-program evaluation per program (`score_before`).
    pub baselines: Vec<Baseline>,
    /// One row per (model, program, optimizer).
    pub rows: Vec<Row>,
    /// With `--lm A,B`: per (program, optimizer), the dev examples that
    /// regress or improve from each model to the next (empty otherwise).
    pub migration: Vec<super::migration::Delta>,
    /// With `--shard i/n`: which shard this is and its dev slice (absent
    /// from a whole run's report and from a merged one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::shard::ShardInfo>,
    /// In a report written by `merge-reports`: the shard reports it joined
    /// (absent otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergedShard>,
}

/// One shard report a merged report was built from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergedShard {
    /// The report file as given to `merge-reports`.
    pub file: String,
    /// Its `shard` object.
    pub shard: super::shard::ShardInfo,
    /// Its machine's host name.
    pub hostname: Option<String>,
    /// When it started.
    pub started_at: String,
    /// Its wall time.
    pub total_seconds: f64,
    /// Its git commit.
    pub git_commit: Option<String>,
}

/// Write `report` as pretty JSON (creating the folder).
pub fn write(report: &Report, path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    }
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Read a report written by [`write`] (same `schema_version` only).
pub fn read(path: &std::path::Path) -> anyhow::Result<Report> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let version = value.get("schema_version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(SCHEMA_VERSION)) {
        anyhow::bail!(
            "{}: schema_version {} but this xtask reads {SCHEMA_VERSION}; merge reports written by the same Kestrel",
            path.display(),
            version.map_or_else(|| "missing".to_string(), |v| v.to_string())
        );
    }
    serde_json::from_value(value).with_context(|| format!("{} is not a bench-compile report", path.display()))
}

/// The machine and build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// `linux`, `macos`, ...
    pub os: String,
    /// `x86_64`, `aarch64`, ...
    pub arch: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// Host name, when readable.
    pub hostname: Option<String>,
    /// `debug` or `release`: how the xtask (and so Kestrel) was compiled.
    pub build_profile: String,
}

impl Machine {
    /// This machine.
    pub fn current() -> Machine {
        Machine {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .or_else(|_| std::fs::read_to_string("/etc/hostname"))
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty()),
            build_profile: if cfg!(debug_assertions) { "debug" } else { "release" }.into(),
        }
    }
}

/// The resolved flags.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// `generated`, `gsm8k`, ..., or the JSONL file name.
    pub dataset: String,
    /// Where the examples came from.
    pub dataset_source: String,
    /// The signature every program uses.
    pub signature: String,
    /// The metric's name.
    pub metric: String,
    /// Programs run.
    pub programs: Vec<String>,
    /// Optimizers run.
    pub optimizers: Vec<String>,
    /// RandomSearch candidate programs (beyond its three fixed ones).
    pub candidates: usize,
    /// `simulated` or the model string (`A,B` for a migration).
    pub lm: String,
    /// `--api-base`, if given.
    pub api_base: Option<String>,
    /// `--constrained on`.
    pub constrained: bool,
    /// The temperature of every call of a real LM (`null`: the provider's).
    pub temperature: Option<f32>,
    /// The completion limit of every call of a real LM (`null`: the provider's).
    pub max_tokens: Option<u32>,
    /// True for the simulated LM: the scores measure the framework, not a model.
    pub simulated: bool,
    /// Simulated latency per response (`null` for a real LM).
    pub latency_ms: Option<u64>,
    /// Training examples.
    pub train: usize,
    /// Validation examples (0: RandomSearch scores on the trainset).
    pub val: usize,
    /// Dev examples.
    pub dev: usize,
    /// Seed.
    pub seed: u64,
    /// Program calls in flight.
    pub concurrency: usize,
    /// `temporary`, `directory` or `off`.
    pub cache: String,
    /// The disk cache folder, when there is one.
    pub cache_dir: Option<String>,
    /// Bootstrapped demos per predictor.
    pub max_bootstrapped_demos: usize,
    /// Labeled demos per predictor.
    pub max_labeled_demos: usize,
    /// COPRO's breadth.
    pub breadth: usize,
    /// COPRO's depth.
    pub depth: usize,
    /// `--budget-calls`, if given.
    pub budget_calls: Option<u64>,
    /// `--budget-usd`, if given.
    pub budget_usd: Option<f64>,
    /// `--max-lm-calls` (a hard budget per compile), if given.
    pub max_lm_calls: Option<u64>,
    /// `--max-compile-tokens` (a hard budget per compile), if given.
    pub max_compile_tokens: Option<u64>,
    /// `--max-cost-usd` (a hard budget per compile), if given.
    pub max_cost_usd: Option<f64>,
}

/// What one phase (an evaluation, a compile) spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// Wall time.
    pub seconds: f64,
    /// LM calls answered (cache hits included).
    pub lm_calls: u64,
    /// Calls answered from the cache.
    pub cache_hits: u64,
    /// Prompt tokens paid for.
    pub prompt_tokens: u64,
    /// Completion tokens paid for.
    pub completion_tokens: u64,
    /// Cost in USD.
    pub cost_usd: f64,
    /// Requests the simulated LM's server received (`null` for a real LM).
    pub http_requests: Option<u64>,
    /// ChatAdapter replies that failed to parse, each retried with the
    /// JSONAdapter (DSPy's fallback; counted as the JSONAdapter requests sent).
    pub json_fallbacks: u64,
}

impl Phase {
    /// The usage between two snapshots of an LM client's totals.
    pub fn between(before: &ModelUsage, after: &ModelUsage) -> Phase {
        Phase {
            seconds: 0.0,
            lm_calls: after.calls.saturating_sub(before.calls),
            cache_hits: after.cache_hits.saturating_sub(before.cache_hits),
            prompt_tokens: after.prompt_tokens.saturating_sub(before.prompt_tokens),
            completion_tokens: after.completion_tokens.saturating_sub(before.completion_tokens),
            cost_usd: (after.cost_usd - before.cost_usd).max(0.0),
            http_requests: None,
            json_fallbacks: 0,
        }
    }

    /// Both phases together.
    pub fn plus(&self, other: &Phase) -> Phase {
        Phase {
            seconds: self.seconds + other.seconds,
            lm_calls: self.lm_calls + other.lm_calls,
            cache_hits: self.cache_hits + other.cache_hits,
            prompt_tokens: self.prompt_tokens + other.prompt_tokens,
            completion_tokens: self.completion_tokens + other.completion_tokens,
            cost_usd: self.cost_usd + other.cost_usd,
            http_requests: match (self.http_requests, other.http_requests) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            },
            json_fallbacks: self.json_fallbacks + other.json_fallbacks,
        }
    }
}

/// The uncompiled program's evaluation on dev.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// The model (`simulated` or the `--lm` model string).
    pub lm: String,
    /// Dataset name.
    pub dataset: String,
    /// Program name.
    pub program: String,
    /// Dev score in percent.
    pub score: f64,
    /// Dev examples whose program call or metric failed.
    pub eval_errors: usize,
    /// Dev examples whose reply no adapter could parse (ChatAdapter, then
    /// the JSON fallback).
    pub parse_failures: usize,
    /// JSON fallbacks of the evaluation (`eval.json_fallbacks`).
    pub json_fallbacks: u64,
    /// What the evaluation spent.
    pub eval: Phase,
    /// Per dev example, in order: 1.0 when correct (the metric's score), 0.0
    /// otherwise (errors included). Not in the JSON rows; the migration delta
    /// is built from it.
    #[serde(skip)]
    pub outcomes: Vec<f64>,
    /// In a shard's report: `outcomes` of the shard's dev slice, which
    /// `merge-reports` joins (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_outcomes: Option<Vec<f64>>,
}

/// One candidate RandomSearch scored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Candidate {
    /// DSPy's seed (-3 zero-shot, -2 labeled, -1 unshuffled bootstrap, 0.. shuffled).
    pub seed: i64,
    /// What it is.
    pub label: String,
    /// Validation score in percent.
    pub score: f64,
    /// Demos per predictor.
    pub demos: Vec<usize>,
}

/// One (program, optimizer) result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// The model (`simulated` or the `--lm` model string).
    pub lm: String,
    /// Dataset name.
    pub dataset: String,
    /// `predict` or `cot`.
    pub program: String,
    /// `none`, `labeled`, `bootstrap` or `random-search`.
    pub optimizer: String,
    /// Dev score of the uncompiled program (percent).
    pub score_before: f64,
    /// Dev score of the compiled program (percent).
    pub score_after: f64,
    /// LM calls of compile + evaluation of the compiled program (for `none`: the baseline evaluation).
    pub lm_calls: u64,
    /// Of which answered by the cache.
    pub cache_hits: u64,
    /// Prompt tokens paid for.
    pub prompt_tokens: u64,
    /// Completion tokens paid for.
    pub completion_tokens: u64,
    /// Cost in USD.
    pub cost_usd: f64,
    /// Wall time of the compile.
    pub compile_seconds: f64,
    /// Wall time of the evaluation of the compiled program on dev.
    pub eval_seconds: f64,
    /// Requests the simulated LM's server received (`null` for a real LM).
    pub http_requests: Option<u64>,
    /// Teacher runs started (bootstrapping optimizers).
    pub teacher_runs: usize,
    /// Teacher runs a one-at-a-time run would not have made.
    pub speculative_runs: usize,
    /// Training examples whose traces became demos.
    pub bootstrapped: usize,
    /// Examples skipped by the optimizer because they failed.
    pub skipped: usize,
    /// Dev examples whose program call or metric failed.
    pub eval_errors: usize,
    /// Dev examples (of the compiled program's evaluation) whose reply no
    /// adapter could parse: the ChatAdapter failed and the JSON fallback too.
    pub parse_failures: usize,
    /// ChatAdapter replies of that evaluation that failed to parse and were
    /// retried with the JSONAdapter (DSPy's "ChatAdapter parse failures").
    pub json_fallbacks: u64,
    /// Demos per predictor of the compiled program.
    pub demos: Vec<usize>,
    /// SHA-256 of the compiled program's demos (equal hashes = identical demos).
    pub demos_sha256: String,
    /// RandomSearch's winning seed.
    pub best_seed: Option<i64>,
    /// RandomSearch's candidates, in seed order.
    pub candidates: Vec<Candidate>,
    /// Trials of the search: COPRO's candidate evaluations, RandomSearch's
    /// candidate programs; `None` for optimizers without trials.
    pub trials: Option<usize>,
    /// Why the optimizer stopped early (the report's stop reason), if it did.
    pub stopped: Option<String>,
    /// Calls of the metric's `score` during the compile (every optimizer;
    /// `null` for `none`). GEPA's per-predictor feedback calls are not
    /// counted, as DSPy's `total_metric_calls` does not count them.
    pub metric_calls: Option<u64>,
    /// The compile phase alone.
    pub compile: Phase,
    /// The evaluation of the compiled program alone.
    pub eval: Phase,
    /// Per dev example: the compiled program's score (see [`Baseline::outcomes`]).
    #[serde(skip)]
    pub outcomes: Vec<f64>,
    /// In a shard's report: `outcomes` of the shard's dev slice (see
    /// [`Baseline::dev_outcomes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_outcomes: Option<Vec<f64>>,
}

/// The results table (fixed-width text): the simulated LM's shows the
/// server's HTTP requests, a real LM's the parse failures and JSON
/// fallbacks of each row's evaluation; with `show_lm` a first column names
/// the model.
pub fn table(rows: &[Row], show_http: bool, show_lm: bool) -> String {
    let mut header = vec![
        "dataset",
        "program",
        "optimizer",
        "before",
        "after",
        "LM calls",
        "cache hits",
        "tokens",
        "cost $",
        "compile s",
        "eval s",
        "metric calls",
    ];
    if show_http {
        header.push("HTTP req");
    } else {
        header.extend(["parse fail", "JSON fb"]);
    }
    if show_lm {
        header.insert(0, "model");
    }
    let names = if show_lm { 4 } else { 3 };
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for r in rows {
        let mut line = vec![
            r.dataset.clone(),
            r.program.to_string(),
            r.optimizer.to_string(),
            format!("{:.1}", r.score_before),
            format!("{:.1}", r.score_after),
            r.lm_calls.to_string(),
            r.cache_hits.to_string(),
            (r.prompt_tokens + r.completion_tokens).to_string(),
            format!("{:.4}", r.cost_usd),
            format!("{:.2}", r.compile_seconds),
            format!("{:.2}", r.eval_seconds),
            r.metric_calls.map_or_else(|| "-".to_string(), |n| n.to_string()),
        ];
        if show_http {
            line.push(r.http_requests.map_or_else(|| "-".to_string(), |n| n.to_string()));
        } else {
            line.extend([r.parse_failures.to_string(), r.json_fallbacks.to_string()]);
        }
        if show_lm {
            line.insert(0, r.lm.clone());
        }
        cells.push(line);
    }
    let widths: Vec<usize> =
        (0..cells[0].len()).map(|c| cells.iter().map(|l| l[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (i, line) in cells.iter().enumerate() {
        let mut text = String::new();
        for (c, cell) in line.iter().enumerate() {
            // Names left-aligned, numbers right-aligned.
            if c < names {
                let _ = write!(text, "{cell:<w$}  ", w = widths[c]);
            } else {
                let _ = write!(text, "{cell:>w$}  ", w = widths[c]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(optimizer: &'static str, http: Option<u64>) -> Row {
        Row {
            lm: "simulated".into(),
            dataset: "generated".into(),
            program: "predict".into(),
            optimizer: optimizer.into(),
            score_before: 41.0,
            score_after: 78.5,
            lm_calls: 120,
            cache_hits: 7,
            prompt_tokens: 1000,
            completion_tokens: 234,
            cost_usd: 0.00029,
            compile_seconds: 0.5,
            eval_seconds: 1.25,
            http_requests: http,
            teacher_runs: 20,
            speculative_runs: 14,
            bootstrapped: 4,
            skipped: 0,
            eval_errors: 0,
            parse_failures: 2,
            json_fallbacks: 5,
            demos: vec![16],
            demos_sha256: "ab".into(),
            best_seed: None,
            candidates: Vec::new(),
            trials: Some(3),
            stopped: None,
            metric_calls: Some(42),
            compile: Phase::default(),
            eval: Phase::default(),
            outcomes: vec![1.0, 0.0],
            dev_outcomes: None,
        }
    }

    #[test]
    fn table_has_every_column_aligned() {
        let text = table(&[row("bootstrap", Some(113)), row("random-search", None)], true, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        for column in [
            "before",
            "after",
            "LM calls",
            "cache hits",
            "tokens",
            "cost $",
            "compile s",
            "eval s",
            "metric calls",
            "HTTP req",
        ] {
            assert!(lines[0].contains(column), "{column}");
        }
        assert!(lines[2].contains("41.0") && lines[2].contains("78.5") && lines[2].contains("1234"));
        assert!(lines[2].ends_with("113") && lines[3].ends_with('-'));
        assert_eq!(lines[2].len(), lines[3].len());
        assert!(!table(&[row("none", None)], false, false).contains("HTTP"));
    }

    #[test]
    fn a_real_lms_table_shows_parse_failures_and_the_model() {
        let text = table(&[row("none", None)], false, true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("model") && lines[0].ends_with("parse fail  JSON fb"), "{text}");
        assert!(lines[2].starts_with("simulated  generated") && lines[2].ends_with("2        5"), "{text}");
        assert!(!lines[0].contains("HTTP"));
    }

    #[test]
    fn phases_subtract_and_add() {
        let before = ModelUsage { calls: 10, cache_hits: 2, prompt_tokens: 100, completion_tokens: 10, cost_usd: 0.5 };
        let after = ModelUsage { calls: 15, cache_hits: 3, prompt_tokens: 160, completion_tokens: 14, cost_usd: 0.75 };
        let mut phase = Phase::between(&before, &after);
        assert_eq!((phase.lm_calls, phase.cache_hits, phase.prompt_tokens, phase.completion_tokens), (5, 1, 60, 4));
        phase.http_requests = Some(4);
        let sum = phase.plus(&Phase { http_requests: None, ..phase });
        assert_eq!((sum.lm_calls, sum.http_requests), (10, Some(4)));
        assert_eq!(Phase::default().plus(&Phase::default()).http_requests, None);
    }

    #[test]
    fn rows_serialize_with_the_documented_keys() {
        let value = serde_json::to_value(row("labeled", Some(1))).unwrap();
        for key in [
            "dataset",
            "program",
            "optimizer",
            "score_before",
            "score_after",
            "lm_calls",
            "cache_hits",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "compile_seconds",
            "eval_seconds",
            "http_requests",
            "teacher_runs",
            "speculative_runs",
            "trials",
            "stopped",
            "metric_calls",
            "lm",
            "parse_failures",
            "json_fallbacks",
        ] {
            assert!(value.get(key).is_some(), "{key}");
        }
        assert_eq!(value["trials"], 3);
        assert!(value["stopped"].is_null() && value.get("stopped_early").is_none());
        assert!(value.get("outcomes").is_none());
    }
}
