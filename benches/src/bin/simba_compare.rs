//! Kestrel side of the SIMBA like-for-like comparison with Python DSPy
//! (`benches/dspy/compare_simba.sh`; the DSPy side is
//! `benches/dspy/simba_dspy.py`, with the same flags and `RESULT` keys):
//! `Simba` with DSPy's defaults (bsize 32, 6 candidates, 8 steps, 4 demos)
//! on `ChainOfThought("question -> answer")` against an external
//! OpenAI-compatible server (`cargo xtask serve-sim`), the server's LM as
//! task and prompt model.
//!
//! ```sh
//! cargo build --release -p kestrel-benches --bin simba_compare
//! target/release/simba_compare --base-url http://127.0.0.1:PORT/v1 --control http://127.0.0.1:CPORT/ \
//!     --dataset data.jsonl --concurrency 16
//! ```
//!
//! Train = the first `--train` examples, dev = the next `--dev`, metric
//! `AnswerExactMatch`, a fresh memory-only cache (as DSPy's memory cache
//! with the disk cache off). It prints one line `RESULT {json}`: the
//! compile's wall time, the HTTP requests the server saw during the compile
//! (from `--control`'s `/stats` after resetting it), the LM calls and cache
//! hits, the candidates, the best trainset score and the compiled program's
//! dev score.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use kestrel_benches::{MODEL, emit_result, runtime};
use kestrel_core::Example;
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_eval::{Dataset, Evaluate};
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{LmBuilder, SharedLm, with_lm};
use kestrel_modules::{ChainOfThought, PredictorsExt};
use kestrel_optimizers::{Optimizer, Simba};
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error>;

/// Compile ChainOfThought with SIMBA against an external OpenAI-compatible server.
#[derive(Debug, Parser)]
struct Args {
    /// OpenAI base URL, e.g. http://127.0.0.1:PORT/v1.
    #[arg(long)]
    base_url: String,
    /// serve-sim's control URL (`http://127.0.0.1:PORT/`): requests are read from its `/stats`.
    #[arg(long)]
    control: Option<String>,
    /// JSONL of {question, answer} (`cargo xtask serve-sim --write-dataset`).
    #[arg(long)]
    dataset: String,
    /// Program calls in flight (DSPy's num_threads).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Training examples (the first ones of the dataset).
    #[arg(long, default_value_t = 100)]
    train: usize,
    /// Held-out dev examples (the next ones), scored after compiling.
    #[arg(long, default_value_t = 100)]
    dev: usize,
    /// SIMBA's seed (DSPy's default 0).
    #[arg(long, default_value_t = 0)]
    seed: i64,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    emit_result(
        run(&args),
        [("workload", json!("simba")), ("concurrency", json!(args.concurrency)), ("seed", json!(args.seed))],
    )
}

/// GET `{control}{route}` and parse the JSON body (serve-sim's control port).
async fn control(http: &reqwest::Client, base: &str, route: &str) -> Result<Value, BoxError> {
    let url = format!("{}/{route}", base.trim_end_matches('/'));
    let text = http.get(&url).send().await?.error_for_status()?.text().await?;
    Ok(serde_json::from_str(&text)?)
}

fn run(args: &Args) -> Result<Value, BoxError> {
    let examples = Dataset::jsonl(&args.dataset)?.with_inputs(["question"]).into_examples();
    if examples.len() < args.train + args.dev {
        return Err(
            format!("{} has too few examples for --train {} --dev {}", args.dataset, args.train, args.dev).into()
        );
    }
    let trainset = &examples[..args.train];
    let devset: Arc<[Example]> = examples[args.train..args.train + args.dev].to_vec().into();
    let provider = OpenAiProvider::new(MODEL).base_url(args.base_url.clone()).api_key("sk-bench");
    let client = LmBuilder::new(provider).cache(CacheConfig::memory_only()).build()?;
    let lm = SharedLm::new(client.clone());
    let program = ChainOfThought::from_signature("question -> answer")?;
    let optimizer =
        Simba::new(AnswerExactMatch::new()).prompt_model(lm.clone()).seed(args.seed).concurrency(args.concurrency)?;
    let http = reqwest::Client::new();
    runtime(args.workers)?.block_on(async {
        if let Some(base) = &args.control {
            control(&http, base, "reset").await?;
        }
        let started = Instant::now();
        let compiled = with_lm(lm.clone(), optimizer.compile(&program, trainset)).await?;
        let seconds = started.elapsed().as_secs_f64();
        let requests = match &args.control {
            Some(base) => control(&http, base, "stats").await?["requests"].as_u64(),
            None => None,
        };
        let usage = client.usage().total;
        let evaluate = Evaluate::new(Arc::clone(&devset)).concurrency(args.concurrency)?.display_progress(false);
        let started = Instant::now();
        let dev = with_lm(lm, evaluate.run(&compiled.program, &AnswerExactMatch::new())).await?;
        let dev_seconds = started.elapsed().as_secs_f64();
        let simba = compiled.report.simba.as_deref().ok_or("SIMBA's report has no simba part")?;
        let states = compiled.program.predictor_states();
        let instruction = states.first().map(|(_, s)| s.signature.instructions().to_string());
        let demos: usize = states.iter().map(|(_, s)| s.demos.len()).sum();
        let candidates: usize = simba.steps.iter().map(|s| s.candidates.len()).sum();
        let rules = simba
            .steps
            .iter()
            .flat_map(|s| &s.candidates)
            .filter(|c| c.applied && c.strategy.as_str() == "append_a_rule");
        Ok::<_, BoxError>(json!({
            "seconds": seconds,
            "requests": requests,
            "lm_calls": usage.calls,
            "cache_hits": usage.cache_hits,
            "steps": simba.steps.len(),
            "candidates": candidates,
            "rules": rules.count(),
            "best_score": simba.final_candidates.first().map(|c| c.score),
            "dev_score": dev.score,
            "dev_seconds": dev_seconds,
            "dev_errors": dev.errors,
            "demos": demos,
            "instruction": instruction,
            "train": trainset.len(),
            "dev": devset.len(),
        }))
    })
}
