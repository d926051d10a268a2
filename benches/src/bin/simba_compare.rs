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
use kestrel_benches::compare::{BoxError, ServerArgs};
use kestrel_benches::{emit_result, runtime};
use kestrel_core::Example;
use kestrel_eval::Evaluate;
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_lm::with_lm;
use kestrel_modules::{ChainOfThought, PredictorsExt};
use kestrel_optimizers::{Optimizer, Simba};
use serde_json::{Value, json};

/// Compile ChainOfThought with SIMBA against an external OpenAI-compatible server.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// SIMBA's seed (DSPy's default 0).
    #[arg(long, default_value_t = 0)]
    seed: i64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    emit_result(
        run(&args),
        [("workload", json!("simba")), ("concurrency", json!(args.server.concurrency)), ("seed", json!(args.seed))],
    )
}

fn run(args: &Args) -> Result<Value, BoxError> {
    let (train, dev) = (args.server.train, args.server.dev);
    let examples = args.server.examples(train + dev, &format!("--train {train} --dev {dev}"))?;
    let trainset = &examples[..train];
    let devset: Arc<[Example]> = examples[train..train + dev].to_vec().into();
    let (client, lm) = args.server.lm()?;
    let program = ChainOfThought::from_signature("question -> answer")?;
    let optimizer = Simba::new(AnswerExactMatch::new())
        .prompt_model(lm.clone())
        .seed(args.seed)
        .concurrency(args.server.concurrency)?;
    let http = reqwest::Client::new();
    runtime(args.server.workers)?.block_on(async {
        args.server.control(&http, "reset").await?;
        let started = Instant::now();
        let compiled = with_lm(lm.clone(), optimizer.compile(&program, trainset)).await?;
        let seconds = started.elapsed().as_secs_f64();
        let requests = args.server.control(&http, "stats").await?.and_then(|stats| stats["requests"].as_u64());
        let usage = client.usage().total;
        let evaluate = Evaluate::new(Arc::clone(&devset)).concurrency(args.server.concurrency)?.display_progress(false);
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
