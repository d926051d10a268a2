//! `cargo xtask bench-compile`: the end-to-end compile benchmark.
//!
//! For each program (Predict, ChainOfThought) it evaluates the uncompiled
//! program on the dev set, then for each optimizer (none, LabeledFewShot,
//! BootstrapFewShot, BootstrapFewShotWithRandomSearch) compiles it on the
//! trainset and evaluates the compiled program, and prints a table of
//! scores, LM usage and wall time (`--json PATH` writes it all as JSON).
//!
//! With no arguments it runs offline: generated arithmetic problems and a
//! deterministic simulated LM served by the testkit's mock server over the
//! real OpenAI-compatible HTTP path, so provider, cache and retry costs are
//! measured. See `docs/BENCH_COMPILE.md`.

mod banking77_6;
mod cli;
mod datasets;
mod download;
mod fallbacks;
mod finetune;
mod matrix;
mod merge;
mod metrics;
mod migration;
mod per_call;
mod predictions;
mod report;
mod resume;
mod shard;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use kestrel_lm::cache::{CacheConfig, RedisConfig};
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{LmBuilder, LmClient, PriceTable, SharedLm, with_lm};
use kestrel_testkit::mock::MockServer;
use kestrel_testkit::simulated::{self, SimulatedLm};
use tempfile::TempDir;

pub use cli::BenchArgs;
use cli::{Constrained, MetricKind, ProgramKind};
use datasets::Sizes;
use fallbacks::FallbackCounter;
use matrix::Runner;
pub use merge::{MergeArgs, run as merge_reports};
use report::{Machine, Report, Settings};

/// Calls the LM client's history keeps with `--predictions` (enough for one
/// evaluation of the largest dev set with a JSON fallback per call).
const PREDICTIONS_HISTORY: usize = 100_000;

/// The environment variable naming the reference datasets folder.
pub const DATA_DIR_ENV: &str = "KESTREL_DATA_DIR";

/// Run the benchmark with these flags; `root` is the workspace root.
pub fn run(args: BenchArgs, root: &Path) -> Result<()> {
    args.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    let resumable = resume::resumable(&args);
    runtime.block_on(resume::until_ctrl_c(run_async(args, root), resumable)).map(drop)
}

/// The LM every call goes through, and what keeps it alive.
struct LmSetup {
    model: String,
    /// `--api-base` of this model, if given.
    api_base: Option<String>,
    client: LmClient,
    server: Option<MockServer>,
    cache: &'static str,
    cache_dir: Option<PathBuf>,
    /// The cache directory outlives the run: compiles are journaled there
    /// and the cache writes through (durable before use).
    resumable: bool,
    _temp: Option<TempDir>,
}

/// Run the matrix, print the table, write `--json`; the report is
/// returned whether or not it is written.
async fn run_async(args: BenchArgs, root: &Path) -> Result<Report> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = Instant::now();
    let data_dir = data_dir(&args, root).await?;
    let sizes = Sizes { train: args.train(), val: args.val(), dev: args.dev() };
    let data = datasets::load(&args.dataset, sizes, args.seed, data_dir.as_deref())?;
    let programs = args.programs(&data.default_programs);

    let lm_text = match args.latency() {
        Some(ms) => format!("simulated (deterministic; measures the framework, not model quality), {ms} ms latency"),
        None => {
            let options = [
                args.temperature().map(|t| format!("temperature {t}")),
                args.max_tokens().map(|n| format!("max_tokens {n}")),
                (!args.api_base.is_empty()).then(|| format!("api base {}", args.api_base.join(", "))),
                (args.constrained == Constrained::On).then(|| "constrained".to_string()),
            ];
            let options: Vec<String> = options.into_iter().flatten().collect();
            let migration = if args.models().len() > 1 { " (model migration: compiled on each in turn)" } else { "" };
            format!(
                "{}{migration}{}",
                args.models().join(" -> "),
                if options.is_empty() { String::new() } else { format!(" ({})", options.join(", ")) }
            )
        }
    };
    eprintln!("Kestrel bench-compile");
    eprintln!("  dataset   {} ({})", data.name, data.source);
    eprintln!("  splits    train {}, val {}, dev {}", data.train.len(), val_text(&args), data.dev.len());
    if let Some(shard) = args.shard {
        let range = shard.range(data.dev.len());
        eprintln!("  shard     {shard}: dev examples {}..{} (compiles as a whole run does)", range.start, range.end);
    }
    eprintln!("  program   {} on `{}`", names(&programs, |p| p.name()), short(&data.signature));
    eprintln!("  metric    {}", metric_name(&args, &data));
    eprintln!("  LM        {lm_text}");
    eprintln!(
        "  settings  concurrency {}, seed {}, RandomSearch candidates {}",
        args.concurrency, args.seed, args.candidates
    );

    let save_root = args.save_programs(root);
    let mut baselines = Vec::new();
    let mut rows = Vec::new();
    let mut setups = Vec::new();
    for (index, model) in args.models().iter().enumerate() {
        let setup = setup_lm(&args, model, args.api_base_of(index)).await?;
        if args.models().len() > 1 {
            eprintln!("model {model}");
        }
        let save_dir = save_root.as_ref().map(|dir| dir.join(file_name_of(model)));
        let predictions_dir = args.predictions.as_ref().map(|dir| dir.join(file_name_of(model)));
        let saved = args
            .save_dir
            .as_ref()
            .map(|dir| if args.models().len() > 1 { dir.join(file_name_of(model)) } else { dir.clone() });
        let dirs = OutputDirs { programs: save_dir, saved, predictions: predictions_dir };
        let (model_baselines, model_rows) = run_matrix(&args, &data, &programs, &setup, dirs).await?;
        baselines.extend(model_baselines);
        rows.extend(model_rows);
        setups.push(setup);
    }
    let dev_range = args.dev_range(data.dev.len());
    let mut deltas = migration::deltas(args.models(), &rows);
    for delta in &mut deltas {
        // Dev indices of the whole dev set, not of the shard's slice.
        for index in delta.regressed.iter_mut().chain(delta.improved.iter_mut()) {
            *index += dev_range.start;
        }
    }
    if args.shard.is_some() {
        for baseline in &mut baselines {
            baseline.dev_outcomes = Some(baseline.outcomes.clone());
        }
        for row in &mut rows {
            row.dev_outcomes = Some(row.outcomes.clone());
        }
    }
    let total_seconds = started.elapsed().as_secs_f64();

    println!();
    if args.simulated() {
        println!("SIMULATED LM: scores measure the framework, not model quality.");
    }
    let server = setups.first().and_then(|s| s.server.as_ref());
    if let Some(shard) = args.shard {
        println!(
            "SHARD {shard}: dev examples {}..{} only; join the shards with `cargo xtask merge-reports`.",
            dev_range.start, dev_range.end
        );
    }
    print!("{}", report::table(&rows, server.is_some(), args.models().len() > 1));
    let http = server.map_or_else(String::new, |s| format!(", {} HTTP requests", s.request_count()));
    println!("total {total_seconds:.2} s{http} (before = uncompiled program on dev, after = compiled; percent)");
    if !deltas.is_empty() {
        println!("migration (dev example indices):");
        print!("{}", migration::text(&deltas));
    }
    if let Some(dir) = &save_root {
        println!("compiled programs saved under {}", dir.display());
    }
    if let Some(dir) = &args.save_dir {
        println!("compiled programs saved in {}", dir.display());
    }

    let report = Report {
        schema_version: report::SCHEMA_VERSION,
        kestrel_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: git_commit(root),
        started_at,
        total_seconds,
        machine: Machine::current(),
        settings: settings(&args, &data, &programs, &setups),
        baselines,
        rows,
        migration: deltas,
        shard: args.shard.map(|s| s.info(data.dev.len())),
        merged_from: Vec::new(),
    };
    if let Some(path) = &args.json {
        report::write(&report, path)?;
        println!("wrote {}", path.display());
    }
    Ok(report)
}

/// A model string as a folder name (`openai/qwen` -> `openai_qwen`).
fn file_name_of(model: &str) -> String {
    model.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') { c } else { '_' }).collect()
}

/// Where one model's compiled programs and dev predictions go, if anywhere.
#[derive(Debug, Default)]
struct OutputDirs {
    programs: Option<PathBuf>,
    /// `--save-dir`: `<dataset>-<program>-<optimizer>.json` files.
    saved: Option<PathBuf>,
    predictions: Option<PathBuf>,
}

/// Every (program, optimizer) row, and the baselines, for one model.
async fn run_matrix(
    args: &BenchArgs,
    data: &datasets::Loaded,
    programs: &[ProgramKind],
    setup: &LmSetup,
    dirs: OutputDirs,
) -> Result<(Vec<report::Baseline>, Vec<report::Row>)> {
    let counter = FallbackCounter::new(SharedLm::new(setup.client.clone()));
    let runner = Runner {
        model: setup.model.clone(),
        lm: setup.client.clone(),
        counter: counter.clone(),
        server: setup.server.as_ref(),
        api_base: setup.api_base.as_deref(),
        data,
        metric: data.metric.build(args.metric == MetricKind::Strict),
        args,
        dev: Arc::from(&data.dev[args.dev_range(data.dev.len())]),
        dev_offset: args.dev_range(data.dev.len()).start,
        save_dir: dirs.programs,
        saved_dir: dirs.saved,
        predictions_dir: dirs.predictions,
        journal: setup
            .cache_dir
            .as_deref()
            .filter(|_| setup.resumable)
            .map(|dir| resume::journal_options(args, &data.name, &setup.model, dir)),
    };
    let mut baselines = Vec::new();
    let mut rows = Vec::new();
    for kind in programs {
        let program = matrix::program(*kind, &data.spec)?;
        let (baseline, program_rows) =
            with_lm(SharedLm::new(counter.clone()), runner.run_program(*kind, program)).await?;
        baselines.push(baseline);
        rows.extend(program_rows);
    }
    Ok((baselines, rows))
}

fn val_text(args: &BenchArgs) -> String {
    if args.val() == 0 {
        "= train (RandomSearch scores candidates on the trainset)".into()
    } else {
        args.val().to_string()
    }
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &'static str) -> String {
    items.iter().map(name).collect::<Vec<_>>().join(", ")
}

fn short(text: &str) -> String {
    if text.chars().count() <= 80 {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(77).collect::<String>())
    }
}

/// The simulated LM (mock server + OpenAI provider) or a real model, wrapped
/// in an LM client with the chosen cache and call defaults.
async fn setup_lm(args: &BenchArgs, model: &str, api_base: Option<&str>) -> Result<LmSetup> {
    let (mut builder, server) = match args.latency() {
        Some(ms) => {
            let server = MockServer::builder(SimulatedLm::new())
                .latency(Duration::from_millis(ms))
                .record(false)
                .models([simulated::MODEL])
                .start()
                .await
                .context("starting the simulated LM's server on 127.0.0.1")?;
            server.set_finetuned_responder(Some(finetune::simulated_hook()));
            let provider = OpenAiProvider::new(simulated::MODEL).base_url(server.base_url()).api_key("sk-simulated");
            // Costs are what the same (word-count) tokens would cost at gpt-4o-mini's list price.
            let mut prices = PriceTable::default();
            if let Some(p) = prices.price("gpt-4o-mini") {
                prices = prices.with_price(simulated::MODEL, p.input_per_million, p.output_per_million);
            }
            (LmBuilder::new(provider).prices(prices), Some(server))
        }
        None => (real_lm(args, model, api_base)?, None),
    };
    if args.latency().is_none() {
        if let Some(t) = args.temperature() {
            builder = builder.temperature(t);
        }
        if let Some(n) = args.max_tokens() {
            builder = builder.max_tokens(n);
        }
    }
    let mut temp = None;
    let (cache, cache_dir, config) = if args.no_cache {
        ("off", None, CacheConfig::disabled())
    } else if let Some(dir) = &args.cache_dir {
        ("directory", Some(dir.clone()), lasting(CacheConfig::default().with_dir(dir.clone()), args))
    } else if server.is_some() {
        let dir = tempfile::Builder::new().prefix("kestrel-bench-cache-").tempdir()?;
        let path = dir.path().to_path_buf();
        temp = Some(dir);
        ("temporary", Some(path.clone()), CacheConfig::default().with_dir(path))
    } else {
        let config = lasting(CacheConfig::default(), args);
        ("directory", config.resolved_dir(), config)
    };
    let resumable = cache == "directory" && cache_dir.is_some();
    if args.predictions.is_some() {
        // The predictions files read each evaluation's requests from the history.
        builder = builder.history_size(PREDICTIONS_HISTORY);
    }
    let (cache, config) = match &args.redis_url {
        Some(url) => (
            if cache == "temporary" { "temporary+redis" } else { "directory+redis" },
            config.with_redis(RedisConfig::new(url.as_str())),
        ),
        None => (cache, config),
    };
    let client = builder.cache(config).build().context("building the LM client")?;
    Ok(LmSetup {
        model: model.to_string(),
        api_base: api_base.map(str::to_string),
        client,
        server,
        cache,
        cache_dir,
        resumable,
        _temp: temp,
    })
}

/// A cache that outlives the run (resumable runs): write-through, and synced
/// to the device for a real LM (a power cut loses no paid call; about 10 ms
/// a call, small beside a real model's latency). The simulated LM's cache is
/// only written through: a killed process still loses nothing.
fn lasting(config: CacheConfig, args: &BenchArgs) -> CacheConfig {
    config.write_through(true).durable(!args.simulated())
}

/// The builder of a real model: `local/<name>` in process (feature `local`),
/// `openai/<model>` on `--api-base`, else the provider's environment.
fn real_lm(args: &BenchArgs, model: &str, api_base: Option<&str>) -> Result<LmBuilder> {
    let constrained = args.constrained == Constrained::On;
    if let Some(name) = model.strip_prefix("local/") {
        return local_lm(name, constrained);
    }
    if constrained {
        bail!(
            "--constrained on needs an in-process model (--lm local/<model>): the ChatAdapter's field structure \
             has no field in the OpenAI wire format, so {model} would decode freely; run it with --constrained off"
        );
    }
    if let Some(base) = api_base {
        let name = model.strip_prefix("openai/").context("--api-base needs an openai/<model> model string")?;
        let key = std::env::var("OPENAI_API_KEY").ok().filter(|k| !k.is_empty()).unwrap_or_else(|| "sk-local".into());
        return Ok(LmBuilder::new(OpenAiProvider::new(name).base_url(base).api_key(key)));
    }
    let hint = if cfg!(feature = "tls") {
        ""
    } else {
        " (https endpoints need an xtask built with TLS: `cargo run -p xtask --features tls -- bench-compile ...`)"
    };
    LmBuilder::from_model(model).with_context(|| format!("configuring --lm {model}{hint}"))
}

/// `local/<name>`: kestrel-local's engine in this process. `constrained`
/// installs llguidance (the model then says `constrained_decoding`, so the
/// ChatAdapter sends its field structure); off, the model decodes freely and
/// the adapter asks for nothing, as with any server.
#[cfg(feature = "local")]
fn local_lm(name: &str, constrained: bool) -> Result<LmBuilder> {
    use kestrel_local::{LocalLm, LocalLmOptions};
    let model = format!("local/{name}");
    let options = LocalLmOptions::default().constrained(constrained);
    let lm = LocalLm::from_model_string_with(&model, options)
        .with_context(|| format!("loading --lm {model} (fetch it first: `cargo xtask fetch-models {name}`)"))?;
    let lm = if constrained { lm } else { lm.without_constraints() };
    Ok(LmBuilder::new(lm))
}

/// `local/<name>`: not in this build.
#[cfg(not(feature = "local"))]
fn local_lm(name: &str, _constrained: bool) -> Result<LmBuilder> {
    bail!(
        "--lm local/{name} runs the model in process, which this xtask was built without: \
         `cargo run -p xtask --features local -- bench-compile --lm local/{name} ...`"
    )
}

/// The folder holding a reference dataset's files: `$KESTREL_DATA_DIR`, else
/// `target/kestrel-data` (filled by `--download`).
async fn data_dir(args: &BenchArgs, root: &Path) -> Result<Option<PathBuf>> {
    let Some(folder) = args.dataset.folder() else { return Ok(None) };
    let missing = |dir: &Path| -> Vec<&str> {
        args.dataset.required_files().iter().copied().filter(|f| !dir.join(f).is_file()).collect()
    };
    let from_env = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()).map(PathBuf::from);
    if let Some(dir) = &from_env {
        let lacking = missing(dir);
        if lacking.is_empty() {
            return Ok(Some(dir.clone()));
        }
        if !args.download {
            bail!(
                "{DATA_DIR_ENV}={} lacks {} for --dataset {folder}; fix the folder (the layout of the shared \
                 datasets: {folder}/...), or pass --download to fetch pinned copies into target/kestrel-data",
                dir.display(),
                lacking.join(", ")
            );
        }
    }
    let downloaded = root.join("target").join("kestrel-data");
    if missing(&downloaded).is_empty() {
        return Ok(Some(downloaded));
    }
    if args.download {
        download::fetch(&args.dataset, &downloaded).await?;
        return Ok(Some(downloaded));
    }
    bail!(
        "--dataset {folder} needs {}: set {DATA_DIR_ENV} to a folder with that layout (such as the project's shared \
         datasets folder), or pass --download (with an xtask built with `--features download`, and a network) to \
         fetch pinned, checksummed copies into {}",
        args.dataset.required_files().join(", "),
        downloaded.display()
    )
}

fn settings(args: &BenchArgs, data: &datasets::Loaded, programs: &[ProgramKind], setups: &[LmSetup]) -> Settings {
    let setup = &setups[0];
    Settings {
        dataset: data.name.clone(),
        dataset_source: data.source.clone(),
        signature: data.signature.clone(),
        metric: metric_name(args, data),
        programs: programs.iter().map(|p| p.name().to_string()).collect(),
        optimizers: args.optimizers().iter().map(|o| o.name().to_string()).collect(),
        candidates: args.candidates,
        lm: if args.simulated() { cli::SIMULATED.into() } else { args.models().join(",") },
        api_base: (!args.api_base.is_empty()).then(|| args.api_base.join(",")),
        constrained: args.constrained == Constrained::On,
        temperature: args.temperature(),
        max_tokens: args.max_tokens(),
        simulated: args.simulated(),
        latency_ms: args.latency(),
        train: data.train.len(),
        val: data.val.as_ref().map_or(0, Vec::len),
        dev: data.dev.len(),
        seed: args.seed,
        concurrency: args.concurrency,
        cache: setup.cache.into(),
        cache_dir: setup.cache_dir.as_ref().map(|d| d.display().to_string()),
        max_bootstrapped_demos: args.max_bootstrapped_demos,
        max_labeled_demos: args.max_labeled_demos,
        breadth: args.breadth,
        depth: args.depth,
        budget_calls: args.budget_calls,
        budget_usd: args.budget_usd,
        max_lm_calls: args.max_lm_calls,
        max_compile_tokens: args.max_compile_tokens,
        max_cost_usd: args.max_cost_usd,
    }
}

fn metric_name(args: &BenchArgs, data: &datasets::Loaded) -> String {
    match args.metric {
        MetricKind::Strict => format!("strict_{}", data.metric.name()),
        MetricKind::Default => data.metric.name().to_string(),
    }
}

fn git_commit(root: &Path) -> Option<String> {
    let output = Command::new("git").args(["rev-parse", "--short", "HEAD"]).current_dir(root).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: BenchArgs,
    }

    async fn matrix(flags: &[&str]) -> (Vec<report::Baseline>, Vec<report::Row>) {
        let args = Wrapper::try_parse_from(std::iter::once("bench").chain(flags.iter().copied())).unwrap().args;
        args.check().unwrap();
        let sizes = Sizes { train: args.train(), val: args.val(), dev: args.dev() };
        let data = datasets::load(&args.dataset, sizes, args.seed, None).unwrap();
        let programs = args.programs(&data.default_programs);
        let setup = setup_lm(&args, &args.models()[0], None).await.unwrap();
        run_matrix(&args, &data, &programs, &setup, OutputDirs::default()).await.unwrap()
    }

    /// A banking77-6 data folder: `per_label` records of each intent (and
    /// of one other intent) in both files; texts `msg <n> about <label>`.
    fn banking_folder(per_label: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("banking77")).unwrap();
        for file in ["train.jsonl", "test.jsonl"] {
            let mut lines = String::new();
            for label in banking77_6::INTENTS.iter().chain(["card_payment_fee_charged"].iter()) {
                for n in 0..per_label {
                    lines.push_str(&format!(
                        "{{\"id\": \"{file}-{label}-{n}\", \"text\": \"msg {n} about {label}\", \"label\": \"{label}\"}}\n"
                    ));
                }
            }
            std::fs::write(dir.path().join("banking77").join(file), lines).unwrap();
        }
        dir
    }

    /// `--constrained on` reaches only in-process models: an HTTP server is
    /// refused (it would decode freely), and `local/…` needs the feature or
    /// the model (a missing one is an error naming fetch-models).
    #[test]
    fn constrained_decoding_is_routed_to_in_process_models_only() {
        let args = |lm: &str| {
            Wrapper::try_parse_from(["x", "--lm", lm, "--constrained", "on", "--dataset", "banking77-6"]).unwrap().args
        };
        let http = args("openai/qwen");
        let error = real_lm(&http, "openai/qwen", Some("http://127.0.0.1:9/v1")).err().unwrap().to_string();
        assert!(error.contains("needs an in-process model"), "{error}");
        let local = args("local/./no-such-model.gguf");
        let error = format!("{:#}", real_lm(&local, "local/./no-such-model.gguf", None).err().unwrap());
        if cfg!(feature = "local") {
            assert!(error.contains("cargo xtask fetch-models"), "{error}");
        } else {
            assert!(error.contains("--features local"), "{error}");
        }
    }

    /// A real LM through `--api-base` on banking77-6: the server answers
    /// message 0 of every intent with prose the ChatAdapter cannot parse; the
    /// JSON fallback then parses for half the intents. The row counts both,
    /// the predictions file shows them, and every request carries the
    /// dataset's temperature 0 and 256 max tokens.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_real_lm_row_counts_parse_failures_and_json_fallbacks() {
        let responder = kestrel_testkit::mock::Responder::from_fn(|request| {
            let last = request.messages.last().map(|m| m.content.clone()).unwrap_or_default();
            let label = banking77_6::INTENTS.iter().find(|l| last.contains(&format!("about {l}"))).copied();
            let Some(label) = label else {
                return Ok("[[ ## label ## ]]\ncard_arrival\n\n[[ ## completed ## ]]".into());
            };
            let index = banking77_6::INTENTS.iter().position(|l| *l == label).unwrap();
            let broken = last.contains("msg 0 about");
            Ok(if fallbacks::is_json_request(request) {
                if index % 2 == 0 { format!("{{\"label\": \"{label}\"}}") } else { "no idea".into() }
            } else if broken {
                format!("The intent is probably {label}.")
            } else {
                format!("[[ ## label ## ]]\n{label}\n\n[[ ## completed ## ]]")
            })
        });
        let server = MockServer::builder(responder).start().await.unwrap();
        let data = banking_folder(3);
        let out = tempfile::tempdir().unwrap();
        let predictions = out.path().join("predictions");
        let base = server.base_url();
        let flags = [
            "--dataset",
            "banking77-6",
            "--lm",
            "openai/tiny",
            "--api-base",
            &base,
            "--no-cache",
            "--train",
            "6",
            "--dev",
            "18",
            "--optimizer",
            "none",
            "--predictions",
            predictions.to_str().unwrap(),
        ];
        let args = Wrapper::try_parse_from(std::iter::once("bench").chain(flags.iter().copied())).unwrap().args;
        args.check().unwrap();
        let sizes = Sizes { train: args.train(), val: args.val(), dev: args.dev() };
        let loaded = datasets::load(&args.dataset, sizes, args.seed, Some(data.path())).unwrap();
        assert_eq!(loaded.default_programs, [ProgramKind::Predict]);
        let programs = args.programs(&loaded.default_programs);
        let setup = setup_lm(&args, "openai/tiny", args.api_base_of(0)).await.unwrap();
        let dirs = OutputDirs { predictions: Some(predictions.join("openai_tiny")), ..OutputDirs::default() };
        let (baselines, rows) = run_matrix(&args, &loaded, &programs, &setup, dirs).await.unwrap();
        let row = &rows[0];
        // 6 broken replies, 3 rescued by the JSON fallback: 15 of 18 right.
        assert_eq!((row.json_fallbacks, row.parse_failures, row.eval_errors), (6, 3, 3), "{row:?}");
        assert_eq!((baselines[0].json_fallbacks, baselines[0].parse_failures), (6, 3));
        assert!((row.score_after - 83.33).abs() < 0.01, "{row:?}");
        assert_eq!(row.lm, "openai/tiny");
        for request in server.requests() {
            let body = request.body.unwrap();
            assert_eq!((body["temperature"].as_f64(), body["max_tokens"].as_u64()), (Some(0.0), Some(256)), "{body}");
        }
        let text = std::fs::read_to_string(predictions.join("openai_tiny/predict-none.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 18);
        assert_eq!(lines.iter().filter(|l| l["json_fallback"] == true).count(), 6);
        assert_eq!(lines.iter().filter(|l| l["correct"] == true).count(), 15);
        let first = &lines[0];
        let messages = first["chat_messages"].as_array().unwrap();
        assert!(messages[0]["content"].as_str().unwrap().contains("Classify the intent of a bank customer's message."));
        assert!(messages[0]["content"].as_str().unwrap().contains("a message from a bank customer"));
        assert!(first["chat_reply"].is_string() && first["gold"]["label"].is_string());
    }

    /// `--shard i/n` runs joined by `merge-reports` give the whole run's
    /// scores (bit for bit), compiled programs, error counts and dev LM
    /// calls, on a dev set that 3 does not divide; the merged JSON has the
    /// whole run's keys; incomplete or mismatched shard sets are refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn merged_shards_score_as_the_whole_run() {
        let out = tempfile::tempdir().unwrap();
        let root = crate::project_root();
        let run = |shard: Option<&str>, name: &str| {
            let json = out.path().join(name).display().to_string();
            let predictions = out.path().join(format!("predictions-{name}")).display().to_string();
            let mut flags = vec![
                "--predictions",
                &predictions,
                "--train",
                "16",
                "--dev",
                "31",
                "--latency-ms",
                "0",
                "--candidates",
                "1",
                "--optimizer",
                "none,labeled,bootstrap,random-search,knn",
                "--json",
                &json,
            ];
            if let Some(shard) = shard {
                flags.extend(["--shard", shard]);
            }
            let args = Wrapper::try_parse_from(std::iter::once("bench").chain(flags.iter().copied())).unwrap().args;
            args.check().unwrap();
            run_async(args, &root)
        };
        let whole = run(None, "whole.json").await.unwrap();
        let mut shards = Vec::new();
        for (i, shard) in ["3/3", "1/3", "2/3"].into_iter().enumerate() {
            let report = run(Some(shard), &format!("shard{i}.json")).await.unwrap();
            let read = report::read(&out.path().join(format!("shard{i}.json"))).unwrap();
            assert_eq!(read.shard, report.shard);
            shards.push((format!("shard{i}.json"), read));
        }
        let slices: Vec<_> = shards.iter().map(|(_, r)| r.shard.map(|s| (s.dev_start, s.dev_end)).unwrap()).collect();
        assert_eq!(slices, [(20, 31), (0, 10), (10, 20)]);
        let merged = merge::merge(shards.clone()).unwrap();
        // The shards' prediction lines carry the whole dev set's indices and add up to the whole run's.
        let indices = |name: &str| -> Vec<u64> {
            let file = out.path().join(format!("predictions-{name}/simulated/predict-bootstrap.jsonl"));
            let text = std::fs::read_to_string(file).unwrap();
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["index"].as_u64().unwrap())
                .collect()
        };
        assert_eq!(indices("shard2.json"), (10..20).collect::<Vec<u64>>());
        let mut joined: Vec<u64> =
            ["shard1.json", "shard2.json", "shard0.json"].iter().flat_map(|n| indices(n)).collect();
        assert_eq!(joined, indices("whole.json"));
        joined.dedup();
        assert_eq!(joined.len(), 31);

        assert_eq!(merged.rows.len(), 10);
        for (a, b) in whole.baselines.iter().zip(&merged.baselines) {
            assert_eq!((a.score, a.eval_errors, a.eval.lm_calls), (b.score, b.eval_errors, b.eval.lm_calls), "{b:?}");
        }
        for (i, (a, b)) in whole.rows.iter().zip(&merged.rows).enumerate() {
            let key = |r: &report::Row| {
                (r.program.clone(), r.optimizer.clone(), r.score_before, r.score_after, r.demos_sha256.clone())
            };
            assert_eq!(key(a), key(b));
            assert_eq!(
                (a.eval_errors, a.parse_failures, a.eval.lm_calls),
                (b.eval_errors, b.parse_failures, b.eval.lm_calls)
            );
            assert_eq!(a.outcomes, b.outcomes, "{} {}", a.program, a.optimizer);
            // Every shard compiled: the merged compile spent what the three did.
            let compiles: u64 = shards.iter().map(|(_, r)| r.rows[i].compile.lm_calls).sum();
            assert_eq!(b.compile.lm_calls, compiles, "{} {}", a.program, a.optimizer);
            assert_eq!(b.lm_calls, b.compile.lm_calls + b.eval.lm_calls);
        }
        // The scores differ between rows, so equal scores are no accident.
        assert!(whole.rows.iter().any(|r| r.score_after != whole.rows[0].score_after));
        let score_columns = |text: String| -> Vec<String> {
            text.lines().skip(2).map(|l| l.split_whitespace().take(5).collect::<Vec<_>>().join(" ")).collect()
        };
        assert_eq!(score_columns(merge::table(&merged)), score_columns(merge::table(&whole)));
        let keys = |report: &Report| {
            let value = serde_json::to_value(report).unwrap();
            let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
            keys.extend(value["rows"][0].as_object().unwrap().keys().cloned());
            keys.retain(|k| k != "merged_from");
            keys.sort();
            keys
        };
        assert_eq!(keys(&merged), keys(&whole));
        assert_eq!(merged.merged_from.len(), 3);

        let refused = |shards: Vec<(String, Report)>, needle: &str| {
            let error = merge::merge(shards).unwrap_err().to_string();
            assert!(error.contains(needle), "{error}");
        };
        refused(shards[..2].to_vec(), "shard 2/3 is missing");
        refused(vec![("whole.json".into(), whole.clone())], "not a shard's report");
        let mut other = shards.clone();
        other[1].1.settings.seed = 7;
        refused(other, "different settings");
        let mut other = shards.clone();
        other[2].1.rows[2].demos_sha256 = "0".repeat(64);
        refused(other, "compiled a different predict bootstrap program");
    }

    /// A run on a lasting `--cache-dir` journals its compiles there; the
    /// same command again resumes them: no HTTP request, the same programs
    /// (`--save-dir` files, byte for byte).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rerun_on_the_same_cache_dir_resumes_and_saves_the_same_programs() {
        let cache = tempfile::tempdir().unwrap();
        let cache_dir = cache.path().to_str().unwrap();
        let flags = [
            "--train",
            "12",
            "--dev",
            "10",
            "--latency-ms",
            "0",
            "--candidates",
            "1",
            "--concurrency",
            "1",
            "--optimizer",
            "bootstrap,random-search,copro",
            "--cache-dir",
            cache_dir,
        ];
        let args = Wrapper::try_parse_from(std::iter::once("bench").chain(flags)).unwrap().args;
        let sizes = Sizes { train: args.train(), val: args.val(), dev: args.dev() };
        let data = datasets::load(&args.dataset, sizes, args.seed, None).unwrap();
        let programs = args.programs(&data.default_programs);
        let mut saved = Vec::new();
        let mut requests = Vec::new();
        for _ in 0..2 {
            let out = tempfile::tempdir().unwrap();
            let setup = setup_lm(&args, &args.models()[0], None).await.unwrap();
            assert!(setup.resumable);
            let dirs = OutputDirs { saved: Some(out.path().to_path_buf()), ..OutputDirs::default() };
            let (_, rows) = run_matrix(&args, &data, &programs, &setup, dirs).await.unwrap();
            requests.push(rows.iter().map(|r| r.http_requests.unwrap()).sum::<u64>());
            saved.push(out);
        }
        assert!(requests[0] > 100 && requests[1] == 0, "{requests:?}");
        let names: Vec<String> = ["predict", "cot"]
            .iter()
            .flat_map(|p| ["bootstrap", "random-search", "copro"].map(|o| format!("generated-{p}-{o}.json")))
            .collect();
        for name in &names {
            let first = std::fs::read(saved[0].path().join(name)).unwrap();
            assert_eq!(first, std::fs::read(saved[1].path().join(name)).unwrap(), "{name}");
        }
        let journals = std::fs::read_dir(cache.path().join("journal")).unwrap().count();
        assert_eq!(journals, names.len(), "one journal per compile");
    }

    /// `finetune` and `better-together` on the simulated server: the
    /// fine-tuning routes run (the HTTP count includes them), the fine-tuned
    /// model answers by rule 8, and both rows beat the baseline.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finetune_rows_train_on_the_simulated_server() {
        let flags = [
            "--train",
            "30",
            "--dev",
            "40",
            "--latency-ms",
            "0",
            "--candidates",
            "1",
            "--program",
            "predict",
            "--optimizer",
            "none,finetune,better-together",
        ];
        let (baselines, rows) = matrix(&flags).await;
        let row = |o: &str| rows.iter().find(|r| r.optimizer == o).unwrap();
        let finetune = row("finetune");
        assert!(finetune.bootstrapped > 0 && finetune.teacher_runs == 30, "{finetune:?}");
        assert!(finetune.score_after > baselines[0].score, "{finetune:?}");
        // Teacher runs + dev calls of the fine-tuned model + upload, create and polls.
        assert!(finetune.http_requests.unwrap() > 30 + 40, "{finetune:?}");
        let together = row("better-together");
        assert!(together.score_after > baselines[0].score, "{together:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_offline_matrix_runs_over_http_and_compiling_helps() {
        let flags = ["--train", "16", "--dev", "30", "--latency-ms", "0", "--candidates", "1", "--concurrency", "8"];
        let (baselines, rows) = matrix(&flags).await;
        assert_eq!(baselines.len(), 2);
        let names: Vec<(&str, &str)> = rows.iter().map(|r| (r.program.as_str(), r.optimizer.as_str())).collect();
        assert_eq!(names.len(), 10);
        assert_eq!(names[0], ("predict", "none"));
        assert_eq!(names[9], ("cot", "mipro-light"));
        for row in &rows {
            let http = row.http_requests.unwrap();
            // Every call the cache did not answer reached the server (speculative runs may add more).
            assert!(http >= row.lm_calls - row.cache_hits, "{row:?}");
            assert!(row.eval_errors == 0 && row.lm_calls > 0 && row.prompt_tokens > 0, "{row:?}");
            assert_eq!(row.demos_sha256.len(), 64);
        }
        let row = |p: &str, o: &str| rows.iter().find(|r| r.program == p && r.optimizer == o).unwrap();
        assert_eq!(row("predict", "none").score_after, baselines[0].score);
        assert!(row("predict", "none").demos == [0] && row("cot", "labeled").demos == [16]);
        for program in ["predict", "cot"] {
            let labeled = row(program, "labeled");
            assert!(labeled.score_after > labeled.score_before, "{labeled:?}");
            let bootstrap = row(program, "bootstrap");
            assert_eq!(bootstrap.bootstrapped, 4, "{bootstrap:?}");
            assert!(bootstrap.teacher_runs >= 4 && bootstrap.score_after > bootstrap.score_before, "{bootstrap:?}");
            let search = row(program, "random-search");
            assert_eq!(search.candidates.len(), 4, "{search:?}");
            assert!(search.best_seed.is_some());
            // MIPROv2 light bootstraps demo sets (the prompt model is the same simulated LM) and keeps
            // the student unless a trial beats it on the valset.
            let mipro = row(program, "mipro-light");
            assert!(mipro.bootstrapped > 0 && mipro.teacher_runs > 0, "{mipro:?}");
            assert!(mipro.score_after >= mipro.score_before, "{mipro:?}");
        }
        // The simulated LM is deterministic: a second run scores the same.
        let (again, rows_again) = matrix(&flags).await;
        assert_eq!(again[1].score, baselines[1].score);
        let scores =
            |rows: &[report::Row]| rows.iter().map(|r| (r.score_after, r.demos_sha256.clone())).collect::<Vec<_>>();
        assert_eq!(scores(&rows_again), scores(&rows));
    }

    /// The simulated LM rewards what the optimizers change, so with the
    /// default sizes every seed ranks them the same way: a ChainOfThought
    /// gains more from bootstrapped demos (with reasoning) than from labeled
    /// ones, and RandomSearch, which validates on held-out problems, is at
    /// least as good as the best single compile.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn optimizers_rank_the_same_on_two_seeds() {
        for seed in ["0", "1"] {
            let (_, rows) = matrix(&["--seed", seed, "--latency-ms", "0"]).await;
            let score =
                |p: &str, o: &str| rows.iter().find(|r| r.program == p && r.optimizer == o).unwrap().score_after;
            for program in ["predict", "cot"] {
                let (none, labeled, bootstrap, search) = (
                    score(program, "none"),
                    score(program, "labeled"),
                    score(program, "bootstrap"),
                    score(program, "random-search"),
                );
                assert!(none < labeled.min(bootstrap), "seed {seed} {program}: {rows:?}");
                assert!(search >= labeled.max(bootstrap), "seed {seed} {program}: {rows:?}");
            }
            assert!(score("cot", "labeled") < score("cot", "bootstrap"), "seed {seed}: {rows:?}");
        }
    }

    /// COPRO runs over HTTP with the simulated LM as its prompt model: the
    /// row counts its evaluations as trials and says it did not stop early.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn copro_rows_report_trials_and_no_stop() {
        let flags = [
            "--program",
            "predict",
            "--optimizer",
            "copro,random-search",
            "--train",
            "30",
            "--dev",
            "30",
            "--latency-ms",
            "0",
            "--candidates",
            "1",
            "--breadth",
            "4",
            "--depth",
            "2",
        ];
        let (_, rows) = matrix(&flags).await;
        let copro = rows.iter().find(|r| r.optimizer == "copro").unwrap();
        // Depth 1 scores the original and 3 proposals, depth 2 up to 4 new ones.
        let trials = copro.trials.unwrap();
        assert!((4..=8).contains(&trials), "{copro:?}");
        assert!(copro.stopped.is_none() && copro.eval_errors == 0, "{copro:?}");
        // One proposal call per depth but the last, plus the evaluations.
        assert!(copro.compile.lm_calls > 30 * trials as u64 / 2, "{copro:?}");
        assert!(copro.score_after > copro.score_before, "{copro:?}");
        let search = rows.iter().find(|r| r.optimizer == "random-search").unwrap();
        assert_eq!(search.trials, Some(search.candidates.len()));
        let (_, again) = matrix(&flags).await;
        let copro_again = again.iter().find(|r| r.optimizer == "copro").unwrap();
        assert_eq!((copro_again.score_after, copro_again.trials), (copro.score_after, copro.trials));
    }

    /// SIMBA, KNNFewShot and Ensemble rows: SIMBA reports its candidates
    /// as trials, KNNFewShot spends its LM calls at evaluation (a bootstrap
    /// per dev call), Ensemble's program holds three programs' demos; all
    /// three are the same on a second run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn simba_knn_and_ensemble_rows_are_reproducible() {
        let flags = [
            "--program",
            "predict",
            "--optimizer",
            "simba,knn,ensemble",
            "--train",
            "36",
            "--dev",
            "20",
            "--latency-ms",
            "0",
        ];
        let (_, rows) = matrix(&flags).await;
        let row = |name: &str| rows.iter().find(|r| r.optimizer == name).unwrap().clone();
        let (simba, knn, ensemble) = (row("simba"), row("knn"), row("ensemble"));
        assert!(simba.trials.unwrap() > 0 && simba.compile.lm_calls > 36, "{simba:?}");
        assert_eq!(knn.compile.lm_calls, 0, "compiling KNNFewShot only embeds: {knn:?}");
        assert!(knn.eval.lm_calls > 20, "every dev call bootstraps on its neighbours: {knn:?}");
        assert_eq!(ensemble.demos.len(), 3, "{ensemble:?}");
        let (_, again) = matrix(&flags).await;
        for (a, b) in rows.iter().zip(&again) {
            assert_eq!((a.score_after, &a.demos_sha256), (b.score_after, &b.demos_sha256), "{}", a.optimizer);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bootstrap_picks_the_same_demos_at_any_concurrency() {
        let flags = |c: &'static str| {
            [
                "--program",
                "predict",
                "--optimizer",
                "bootstrap",
                "--metric",
                "strict",
                "--train",
                "60",
                "--dev",
                "5",
                "--latency-ms",
                "0",
                "--concurrency",
                c,
            ]
        };
        let (_, sequential) = matrix(&flags("1")).await;
        let (_, parallel) = matrix(&flags("16")).await;
        assert_eq!(sequential[0].demos_sha256, parallel[0].demos_sha256);
        assert_eq!(sequential[0].score_after, parallel[0].score_after);
        assert_eq!(sequential[0].speculative_runs, 0);
        assert!(sequential[0].teacher_runs > 4, "strict metric: {:?}", sequential[0]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn report_html_writes_one_page_per_compiled_row() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("pages");
        let folder_text = folder.display().to_string();
        let flags = [
            "--program",
            "predict",
            "--optimizer",
            "none,random-search",
            "--train",
            "8",
            "--dev",
            "5",
            "--candidates",
            "1",
            "--latency-ms",
            "0",
            "--report-html",
            &folder_text,
        ];
        matrix(&flags).await;
        let names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["predict-random-search.html"], "no page for the uncompiled row");
        let page = std::fs::read_to_string(folder.join("predict-random-search.html")).unwrap();
        assert!(
            page.contains("BootstrapFewShotWithRandomSearch compile report")
                && page.contains("<title>seed -3 (zero-shot)")
        );
        assert!(!page.contains("<script"));
    }
}
