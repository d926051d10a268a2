//! Kestrel side of the GEPA like-for-like comparison with Python DSPy
//! (`benches/dspy/compare_gepa.sh`; the DSPy side is
//! `benches/dspy/gepa_dspy.py`, with the same flags and `RESULT` keys):
//! `Gepa` (`auto` light by default) on `ChainOfThought("question ->
//! answer")` against an external OpenAI-compatible server (`cargo xtask
//! serve-sim`), the server's LM as task and reflection LM.
//!
//! ```sh
//! cargo build --release -p kestrel-benches --bin gepa_compare
//! target/release/gepa_compare --base-url http://127.0.0.1:PORT/v1 --control http://127.0.0.1:CPORT/ \
//!     --dataset data.jsonl --concurrency 16
//! ```
//!
//! Train = the first `--train` examples, val = the next `--val`, dev = the
//! next `--dev`; the metric is `AnswerExactMatch` with the benchmark's
//! feedback (the verdict and the dataset's `how`, as gepa_dspy.py builds
//! it); a fresh memory-only cache (as DSPy's memory cache with the disk
//! cache off). It prints one line `RESULT {json}`: the compile's wall time,
//! the HTTP requests the server saw during the compile, the LM calls and
//! cache hits, GEPA's metric calls and candidates, the best validation
//! score and the compiled program's dev score.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use clap::Parser;
use kestrel_benches::compare::{Auto, BoxError, ServerArgs};
use kestrel_benches::{emit_result, runtime};
use kestrel_core::{Example, Prediction};
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_eval::{EvalError, Evaluate, Metric, Score, Trace};
use kestrel_lm::with_lm;
use kestrel_modules::{ChainOfThought, PredictorsExt};
use kestrel_optimizers::{AutoMode, Gepa, Optimizer};
use serde_json::{Value, json};

/// Compile ChainOfThought with GEPA against an external OpenAI-compatible server.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// GEPA's auto mode.
    #[arg(long, value_enum, default_value_t = Auto::Light)]
    auto: Auto,
    /// Validation examples (the next ones): GEPA's Pareto set.
    #[arg(long, default_value_t = 100)]
    val: usize,
    /// GEPA's seed (DSPy's default 0).
    #[arg(long, default_value_t = 0)]
    seed: i64,
    /// Run one reflective iteration at a time, as DSPy (`Gepa::speculate(false)`).
    #[arg(long)]
    no_speculate: bool,
}

/// `AnswerExactMatch` with gepa_dspy.py's feedback: the verdict, then the
/// example's `how`.
struct FeedbackExact;

fn text(value: Option<&Value>) -> Option<String> {
    value.map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
}

#[async_trait]
impl Metric for FeedbackExact {
    async fn score(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        AnswerExactMatch::new().score(example, prediction, trace).await
    }

    async fn score_with_feedback(
        &self,
        example: &Example,
        prediction: &Prediction,
        trace: Option<&Trace>,
        _pred_name: Option<&str>,
        _pred_trace: Option<&Trace>,
    ) -> Result<Score, EvalError> {
        let score = self.score(example, prediction, trace).await?.score;
        let truth = text(example.get("answer")).and_then(|t| t.trim().parse::<i64>().ok()).unwrap_or_default();
        let verdict = match text(prediction.get("answer")).and_then(|p| p.trim().parse::<i64>().ok()) {
            None => format!("No number was given; the right answer is {truth}."),
            Some(given) if given == truth => format!("The answer {truth} is right."),
            Some(given) => format!("The answer {given} is wrong; the right answer is {truth}."),
        };
        let how = text(example.get("how")).unwrap_or_default();
        Ok(Score::with_feedback(score, verdict + &how))
    }

    fn name(&self) -> &str {
        "answer_exact_match_with_feedback"
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    emit_result(
        run(&args),
        [
            ("workload", json!("gepa")),
            ("concurrency", json!(args.server.concurrency)),
            ("seed", json!(args.seed)),
            ("speculate", json!(!args.no_speculate)),
        ],
    )
}

fn run(args: &Args) -> Result<Value, BoxError> {
    let (train, val, dev) = (args.server.train, args.val, args.server.dev);
    let (train_end, val_end) = (train, train + val);
    let examples = args.server.examples(val_end + dev, &format!("--train {train} --val {val} --dev {dev}"))?;
    if examples.iter().any(|e| e.get("how").is_none()) {
        return Err(
            format!("{} has no `how` fields: write it with serve-sim --with-feedback", args.server.dataset).into()
        );
    }
    let trainset = &examples[..train_end];
    let valset = &examples[train_end..val_end];
    let devset: Arc<[Example]> = examples[val_end..val_end + dev].to_vec().into();
    let (client, lm) = args.server.lm()?;
    let program = ChainOfThought::from_signature("question -> answer")?;
    let optimizer = Gepa::new(FeedbackExact)
        .auto(args.auto.into())
        .reflection_lm(lm.clone())
        .seed(args.seed)
        .track_stats(true)
        .speculate(!args.no_speculate)
        .concurrency(args.server.concurrency)?
        .display_progress(false);
    let http = reqwest::Client::new();
    runtime(args.server.workers)?.block_on(async {
        args.server.control(&http, "reset").await?;
        let started = Instant::now();
        let compiled = with_lm(lm.clone(), optimizer.compile_with_valset(&program, trainset, Some(valset))).await?;
        let seconds = started.elapsed().as_secs_f64();
        let requests = args.server.control(&http, "stats").await?.and_then(|stats| stats["requests"].as_u64());
        let usage = client.usage().total;
        let evaluate = Evaluate::new(Arc::clone(&devset)).concurrency(args.server.concurrency)?.display_progress(false);
        let started = Instant::now();
        let dev = with_lm(lm, evaluate.run(&compiled.program, &AnswerExactMatch::new())).await?;
        let dev_seconds = started.elapsed().as_secs_f64();
        let gepa = compiled.report.gepa.as_deref().ok_or("GEPA's report has no gepa part")?;
        let states = compiled.program.predictor_states();
        let instruction = states.first().map(|(_, s)| s.signature.instructions().to_string());
        Ok::<_, BoxError>(json!({
            "seconds": seconds,
            "requests": requests,
            "lm_calls": usage.calls,
            "cache_hits": usage.cache_hits,
            "metric_calls": gepa.total_metric_calls,
            "full_val_evals": gepa.num_full_val_evals,
            "candidates": gepa.candidates.len(),
            "speculative_iterations_dropped": gepa.speculative_iterations_dropped,
            "iterations": gepa.iterations,
            "accepted_at_iterations": gepa.candidates.iter().skip(1).map(|c| c.iteration).collect::<Vec<_>>(),
            "rejected": gepa.rejected.len(),
            "skipped": gepa.skipped.len(),
            "best_val": gepa.candidates[gepa.best_idx].val_score * 100.0,
            "dev_score": dev.score,
            "dev_seconds": dev_seconds,
            "dev_errors": dev.errors,
            "instruction": instruction,
            "train": trainset.len(),
            "val": valset.len(),
            "dev": devset.len(),
            "auto": AutoMode::from(args.auto).as_str(),
        }))
    })
}
