//! Kestrel side of the MIPROv2 like-for-like comparison with Python DSPy
//! (`benches/dspy/compare_mipro.sh`; the DSPy side is
//! `benches/dspy/mipro_dspy.py`, with the same flags and `RESULT` keys):
//! `MiproV2` (`auto` light by default) on `ChainOfThought("question ->
//! answer")` against an external OpenAI-compatible server (`cargo xtask
//! serve-sim`), the server's LM as task and prompt model.
//!
//! ```sh
//! cargo build --release -p kestrel-benches --bin mipro_compare
//! target/release/mipro_compare --base-url http://127.0.0.1:PORT/v1 --control http://127.0.0.1:CPORT/ \
//!     --dataset data.jsonl --concurrency 16
//! ```
//!
//! Train = the first `--train` examples (no valset: MIPROv2 splits it as
//! DSPy does), dev = the next `--dev`, metric `AnswerExactMatch`, a fresh
//! memory-only cache (as DSPy's memory cache with the disk cache off). It
//! prints one line `RESULT {json}`: the compile's wall time, the HTTP
//! requests the server saw during the compile (read from `--control`'s
//! `/stats` after resetting it; the driver may reset it too), the LM calls
//! and cache hits, the trials, the best validation score and the compiled
//! program's dev score.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use kestrel_benches::compare::{Auto, BoxError, ServerArgs};
use kestrel_benches::{emit_result, runtime};
use kestrel_core::Example;
use kestrel_eval::Evaluate;
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_lm::with_lm;
use kestrel_modules::{ChainOfThought, PredictorsExt};
use kestrel_optimizers::{AutoMode, MiproV2, Optimizer, PredictorChoice, TrialKind};
use serde_json::{Value, json};

/// Compile ChainOfThought with MIPROv2 against an external OpenAI-compatible server.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Minibatch trials in flight (1 = DSPy's sequential loop).
    #[arg(long, default_value_t = 1)]
    trial_concurrency: usize,
    /// MIPROv2's auto mode.
    #[arg(long, value_enum, default_value_t = Auto::Light)]
    auto: Auto,
    /// MIPROv2's seed (DSPy's default 9).
    #[arg(long, default_value_t = 9)]
    seed: i64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    emit_result(
        run(&args),
        [
            ("workload", json!("mipro")),
            ("concurrency", json!(args.server.concurrency)),
            ("trial_concurrency", json!(args.trial_concurrency)),
            ("seed", json!(args.seed)),
        ],
    )
}

fn run(args: &Args) -> Result<Value, BoxError> {
    let (train, dev) = (args.server.train, args.server.dev);
    let examples = args.server.examples(train + dev, &format!("--train {train} --dev {dev}"))?;
    let trainset = &examples[..train];
    let devset: Arc<[Example]> = examples[train..train + dev].to_vec().into();
    let (client, lm) = args.server.lm()?;
    let program = ChainOfThought::from_signature("question -> answer")?;
    let optimizer = MiproV2::new(AnswerExactMatch::new())
        .auto(Some(args.auto.into()))
        .prompt_model(lm.clone())
        .task_model(lm.clone())
        .seed(args.seed)
        .concurrency(args.server.concurrency)?
        .trial_concurrency(args.trial_concurrency)?
        .display_progress(false);
    let http = reqwest::Client::new();
    runtime(args.server.workers)?.block_on(async {
        args.server.control(&http, "reset").await?;
        let started = Instant::now();
        let compiled = with_lm(lm.clone(), optimizer.compile_with_valset(&program, trainset, None)).await?;
        let seconds = started.elapsed().as_secs_f64();
        let requests = args.server.control(&http, "stats").await?.and_then(|stats| stats["requests"].as_u64());
        let usage = client.usage().total;
        let evaluate = Evaluate::new(Arc::clone(&devset)).concurrency(args.server.concurrency)?.display_progress(false);
        let started = Instant::now();
        let dev = with_lm(lm, evaluate.run(&compiled.program, &AnswerExactMatch::new())).await?;
        let dev_seconds = started.elapsed().as_secs_f64();
        let report = &compiled.report;
        let mipro = report.mipro.as_deref().ok_or("MIPROv2's report has no mipro part")?;
        let states = compiled.program.predictor_states();
        let instruction = states.first().map(|(_, s)| s.signature.instructions().to_string());
        let demos: usize = states.iter().map(|(_, s)| s.demos.len()).sum();
        // Distinct prompts among the minibatch trials (instruction text and demo set per
        // predictor, as mipro_dspy.py counts them): a repeated one re-scores the minibatch
        // examples it shares with its earlier trial from the cache.
        let prompt = |params: &[PredictorChoice]| -> Vec<(String, Option<usize>)> {
            params
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let text = mipro
                        .instruction_candidates
                        .get(i)
                        .and_then(|candidates| candidates.iter().find(|s| s.index == c.instruction))
                        .map_or_else(|| format!("#{}", c.instruction), |s| s.instruction.clone());
                    (text, c.demos)
                })
                .collect()
        };
        let mut tried: Vec<_> = mipro.trials_of(TrialKind::Minibatch).map(|t| prompt(&t.params)).collect();
        let minibatch_trials = tried.len();
        tried.sort();
        tried.dedup();
        Ok::<_, BoxError>(json!({
            "seconds": seconds,
            "requests": requests,
            "lm_calls": usage.calls,
            "cache_hits": usage.cache_hits,
            "trials": mipro.trials.len(),
            "minibatch_trials": minibatch_trials,
            "distinct_minibatch_params": tried.len(),
            "num_trials": mipro.num_trials,
            "best_score": mipro.best_score,
            "best_trial": mipro.best_trial,
            "dev_score": dev.score,
            "dev_seconds": dev_seconds,
            "dev_errors": dev.errors,
            "demos": demos,
            "instruction": instruction,
            "train": trainset.len(),
            "dev": devset.len(),
            "auto": AutoMode::from(args.auto).as_str(),
        }))
    })
}
