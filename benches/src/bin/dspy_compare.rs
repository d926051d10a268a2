//! Kestrel side of the like-for-like comparison with Python DSPy
//! (`benches/dspy/`): the same four workloads as `benches/dspy/dspy_bench.py`,
//! with the same flags, against the same external OpenAI-compatible server
//! (`cargo xtask serve-sim`), printing one line `RESULT {json}` with the same
//! keys. `benches/dspy/compare.sh` runs both sides back to back.
//!
//! ```sh
//! cargo build --release -p kestrel-benches --bin dspy_compare
//! target/release/dspy_compare --base-url http://127.0.0.1:PORT/v1 --dataset data.jsonl --workload evaluate --concurrency 16
//! ```
//!
//! Workloads (`question -> answer` Predict, `LmClient` + `OpenAiProvider`,
//! model `gpt-4o-mini`):
//!
//! - `cache_hit`: a call served by the warm in-memory cache (no disk cache);
//!   current-thread runtime.
//! - `uncached`: an uncached call and a raw reqwest POST of the same
//!   messages, alternating; current-thread runtime.
//! - `evaluate`: `Evaluate` over the first `--examples` examples,
//!   concurrency `--concurrency`, `AnswerExactMatch`, no cache; a
//!   multi-thread runtime with `--workers` workers.
//! - `compile`: `BootstrapFewShotWithRandomSearch`, `--candidates`
//!   candidate programs, train = the first `--train` examples, val = the next
//!   `--val`, concurrency `--concurrency`, a fresh memory-only cache.
//! - `copro`: `Copro` (`--breadth`, `--depth`, initial temperature 1.4; the
//!   prompt model is the task LM), train = the first `--train` examples,
//!   concurrency `--concurrency` (DSPy's `eval_kwargs={"num_threads": C}`),
//!   a fresh memory-only cache.

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use kestrel_benches::{MODEL, emit_result, raw_post, runtime};
use kestrel_core::{Adapter, ChatAdapter, Example};
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_eval::{Dataset, Evaluate};
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{LmBuilder, SharedLm, with_lm};
use kestrel_modules::Predict;
use kestrel_optimizers::{BootstrapFewShotWithRandomSearch, Copro, Optimizer};
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error>;

/// The workload to run.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum Workload {
    /// A call served by the warm in-memory cache.
    CacheHit,
    /// An uncached call minus a raw HTTP POST of the same body.
    Uncached,
    /// Evaluate over `--examples` examples.
    Evaluate,
    /// BootstrapFewShotWithRandomSearch.
    Compile,
    /// COPRO.
    Copro,
}

/// Run one comparison workload against an external OpenAI-compatible server.
#[derive(Debug, Parser)]
struct Args {
    /// OpenAI base URL, e.g. http://127.0.0.1:PORT/v1.
    #[arg(long)]
    base_url: String,
    /// The workload.
    #[arg(long, value_enum)]
    workload: Workload,
    /// JSONL of {question, answer} (`cargo xtask serve-sim --write-dataset`).
    #[arg(long)]
    dataset: String,
    /// Program calls in flight (DSPy's num_threads).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// evaluate: examples.
    #[arg(long, default_value_t = 1_000)]
    examples: usize,
    /// compile: training examples.
    #[arg(long, default_value_t = 100)]
    train: usize,
    /// compile: validation examples.
    #[arg(long, default_value_t = 100)]
    val: usize,
    /// compile: num_candidate_programs.
    #[arg(long, default_value_t = 8)]
    candidates: usize,
    /// copro: breadth.
    #[arg(long, default_value_t = 10)]
    breadth: usize,
    /// copro: depth.
    #[arg(long, default_value_t = 3)]
    depth: usize,
    /// cache_hit / uncached: calls per sample.
    #[arg(long, default_value_t = 2_000)]
    iterations: u32,
    /// cache_hit / uncached: samples (the median is reported).
    #[arg(long, default_value_t = 5)]
    samples: usize,
    /// evaluate / compile: runtime worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let workload = args.workload.to_possible_value().map(|v| v.get_name().to_string());
    emit_result(run(&args), [("workload", json!(workload)), ("concurrency", json!(args.concurrency))])
}

fn run(args: &Args) -> Result<Value, BoxError> {
    let examples = Dataset::jsonl(&args.dataset)?.with_inputs(["question"]).into_examples();
    match args.workload {
        Workload::CacheHit => cache_hit(args, &examples),
        Workload::Uncached => uncached(args, &examples),
        Workload::Evaluate => evaluate(args, examples),
        Workload::Compile => compile(args, examples),
        Workload::Copro => copro(args, examples),
    }
}

fn client(args: &Args, cache: CacheConfig) -> Result<SharedLm, BoxError> {
    let provider = OpenAiProvider::new(MODEL).base_url(args.base_url.clone()).api_key("sk-bench");
    Ok(SharedLm::new(LmBuilder::new(provider).cache(cache).build()?))
}

fn first_question(examples: &[Example]) -> Result<Example, BoxError> {
    let question = examples.first().and_then(|e| e.get_str("question")).ok_or("the dataset has no question")?;
    Ok(Example::from_pairs([("question", question.to_string())]))
}

fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn micros(total: Duration, iterations: u32) -> f64 {
    total.as_secs_f64() * 1e6 / f64::from(iterations.max(1))
}

fn cache_hit(args: &Args, examples: &[Example]) -> Result<Value, BoxError> {
    let lm = client(args, CacheConfig::memory_only())?;
    let program = Predict::from_signature("question -> answer")?;
    let inputs = first_question(examples)?;
    let samples = current_thread()?.block_on(with_lm(lm, async {
        program.forward_example(&inputs, None).await?; // fills the cache
        let mut samples = Vec::with_capacity(args.samples);
        for _ in 0..args.samples {
            let started = Instant::now();
            for _ in 0..args.iterations {
                black_box(program.forward_example(black_box(&inputs), None).await?);
            }
            samples.push(micros(started.elapsed(), args.iterations));
        }
        Ok::<_, BoxError>(samples)
    }))?;
    Ok(json!({"per_call_us": median(samples.clone()), "samples_us": samples}))
}

fn uncached(args: &Args, examples: &[Example]) -> Result<Value, BoxError> {
    let lm = client(args, CacheConfig::disabled())?;
    let program = Predict::from_signature("question -> answer")?;
    let inputs = first_question(examples)?;
    // The same messages the Predict call sends, POSTed raw.
    let messages = ChatAdapter.format(program.signature_spec(), &[], &inputs)?;
    let body = serde_json::to_vec(&json!({"model": MODEL, "messages": messages}))?;
    let url = format!("{}/chat/completions", args.base_url.trim_end_matches('/'));
    let http = reqwest::Client::new();
    let (predict, raw, framework) = current_thread()?.block_on(with_lm(lm, async {
        raw_post(&http, &url, &body).await?;
        program.forward_example(&inputs, None).await?;
        let (mut predict, mut raw, mut framework) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..args.samples {
            let (mut t_raw, mut t_predict) = (Duration::ZERO, Duration::ZERO);
            for _ in 0..args.iterations {
                let started = Instant::now();
                black_box(raw_post(&http, &url, &body).await?);
                let middle = Instant::now();
                black_box(program.forward_example(black_box(&inputs), None).await?);
                t_raw += middle - started;
                t_predict += middle.elapsed();
            }
            raw.push(micros(t_raw, args.iterations));
            predict.push(micros(t_predict, args.iterations));
            framework.push(micros(t_predict, args.iterations) - micros(t_raw, args.iterations));
        }
        Ok::<_, BoxError>((predict, raw, framework))
    }))?;
    Ok(json!({"predict_us": median(predict), "raw_us": median(raw), "framework_us": median(framework)}))
}

fn evaluate(args: &Args, examples: Vec<Example>) -> Result<Value, BoxError> {
    if examples.len() < args.examples {
        return Err(format!(
            "{} has {} examples, fewer than --examples {}",
            args.dataset,
            examples.len(),
            args.examples
        )
        .into());
    }
    let devset: Arc<[Example]> = examples.into_iter().take(args.examples).collect();
    let lm = client(args, CacheConfig::disabled())?;
    let program = Predict::from_signature("question -> answer")?;
    let evaluate = Evaluate::new(Arc::clone(&devset)).concurrency(args.concurrency)?;
    let started = Instant::now();
    let result = runtime(args.workers)?.block_on(with_lm(lm, evaluate.run(&program, &AnswerExactMatch::new())))?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(json!({"seconds": seconds, "score": result.score, "examples": devset.len(), "errors": result.errors}))
}

fn compile(args: &Args, examples: Vec<Example>) -> Result<Value, BoxError> {
    if examples.len() < args.train + args.val {
        return Err(
            format!("{} has too few examples for --train {} --val {}", args.dataset, args.train, args.val).into()
        );
    }
    let trainset = &examples[..args.train];
    let valset = &examples[args.train..args.train + args.val];
    let lm = client(args, CacheConfig::memory_only())?;
    let program = Predict::from_signature("question -> answer")?;
    let optimizer = BootstrapFewShotWithRandomSearch::new(AnswerExactMatch::new())
        .num_candidate_programs(args.candidates)
        .max_bootstrapped_demos(4)
        .max_labeled_demos(16)
        .concurrency(args.concurrency)?
        .display_progress(false);
    let started = Instant::now();
    let compiled = runtime(args.workers)?
        .block_on(with_lm(lm, optimizer.compile_with_valset(&program, trainset, Some(valset))))?;
    let seconds = started.elapsed().as_secs_f64();
    let report = &compiled.report;
    let demos: usize =
        report.candidates.iter().find(|c| Some(c.seed) == report.best_seed).map_or(0, |c| c.demos.iter().sum());
    Ok(json!({
        "seconds": seconds,
        "best_score": report.best_score(),
        "best_seed": report.best_seed,
        "candidates": report.candidates.len(),
        "demos": demos,
        "teacher_runs": report.teacher_runs,
        "speculative_runs": report.speculative_runs,
        "train": trainset.len(),
        "val": valset.len(),
        "num_candidate_programs": args.candidates,
    }))
}

fn copro(args: &Args, examples: Vec<Example>) -> Result<Value, BoxError> {
    if examples.len() < args.train {
        return Err(format!("{} has too few examples for --train {}", args.dataset, args.train).into());
    }
    let trainset = &examples[..args.train];
    let lm = client(args, CacheConfig::memory_only())?;
    let program = Predict::from_signature("question -> answer")?;
    let optimizer = Copro::new(AnswerExactMatch::new())
        .breadth(args.breadth)?
        .depth(args.depth)?
        .init_temperature(1.4)
        .concurrency(args.concurrency)?
        .display_progress(false);
    let started = Instant::now();
    let compiled = runtime(args.workers)?.block_on(with_lm(lm, optimizer.compile(&program, trainset)))?;
    let seconds = started.elapsed().as_secs_f64();
    let report = &compiled.report;
    let best = report.instruction_candidates.iter().max_by(|a, b| a.score.total_cmp(&b.score));
    Ok(json!({
        "seconds": seconds,
        "best_score": best.map(|c| c.score),
        "instruction": compiled.program.signature_spec().instructions(),
        "evaluations": report.evaluations,
        "train": trainset.len(),
        "breadth": args.breadth,
        "depth": args.depth,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn workload_names_match_the_python_side() {
        let names: Vec<String> = Workload::value_variants()
            .iter()
            .filter_map(|w| w.to_possible_value().map(|v| v.get_name().to_string()))
            .collect();
        assert_eq!(names, ["cache_hit", "uncached", "evaluate", "compile", "copro"]);
    }
}
