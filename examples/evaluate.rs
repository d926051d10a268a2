//! Evaluate: score a ChainOfThought program (`question -> answer`) on a
//! small JSONL devset with `answer_exact_match`, and print the results
//! table, the score, and the run's usage and cost.
//!
//! ```sh
//! # offline (default): a stand-in model behind the testkit's mock OpenAI server
//! cargo run --example evaluate
//! # online, against a real model (same variables as the quickstart example)
//! KESTREL_LM=openai/gpt-4o-mini OPENAI_API_KEY=sk-... cargo run --example evaluate --features tls
//! # another devset: JSONL lines with `question` and `answer`
//! cargo run --example evaluate -- path/to/dev.jsonl
//! ```
//!
//! Offline, the program still goes through the whole production path —
//! `LmClient` (cache, retries, usage and cost) and the OpenAI provider over
//! HTTP — but the server is local and the "model" is a small function that
//! does arithmetic and knows a few capitals (two of them wrongly), so the
//! score is not 100%.

use std::path::PathBuf;
use std::process::ExitCode;

use kestrel::eval::metrics::answer_exact_match_metric;
use kestrel::eval::{Dataset, Evaluate, EvaluationResult};
use kestrel::lm::cache::CacheConfig;
use kestrel::lm::providers::OpenAiProvider;
use kestrel::lm::{LmBuilder, LmRequest};
use kestrel::prelude::*;
use kestrel_testkit::mock::{MockServer, Responder};
use kestrel_testkit::simulated::PromptView;

/// Answer questions with short factoid answers.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output(desc = "often between 1 and 5 words")]
    answer: String,
}

/// The devset shipped with the examples.
const DEFAULT_DEVSET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/qa_dev.jsonl");

/// Examples evaluated at once.
const CONCURRENCY: usize = 8;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let path = std::env::args().nth(1).map_or_else(|| PathBuf::from(DEFAULT_DEVSET), PathBuf::from);
    match run(path).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(path: PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let devset = Dataset::jsonl(&path)?.with_inputs(["question"]);
    println!("Devset: {} examples from {}", devset.len(), path.display());
    let program = ChainOfThought::<Qa>::new();
    let evaluate = Evaluate::new(devset).concurrency(CONCURRENCY)?.display_progress(true);
    let metric = answer_exact_match_metric();

    let result = match std::env::var("KESTREL_LM") {
        Ok(model) => {
            println!("Model: {model}\n");
            with_lm(kestrel::lm::lm(&model)?, evaluate.run(&program, &metric)).await?
        }
        Err(_) => {
            // Offline: the stand-in model behind a local OpenAI-compatible server.
            let server = MockServer::start(Responder::from_fn(stand_in_model)).await?;
            let provider = OpenAiProvider::new("gpt-4o-mini").base_url(server.base_url());
            let lm = LmBuilder::new(provider).cache(CacheConfig::memory_only()).build()?;
            println!(
                "Model: a stand-in for openai/gpt-4o-mini at {} (set KESTREL_LM for a real one)\n",
                server.base_url()
            );
            with_lm(lm, evaluate.run(&program, &metric)).await?
        }
    };
    report(&result);
    Ok(())
}

fn report(result: &EvaluationResult) {
    println!("{}", result.table(result.total));
    println!("{result}");
    println!(
        "Score: {:.2}% (errors: {}, wall time {:.2} s)",
        result.score,
        result.errors,
        result.elapsed.as_secs_f64()
    );
    let usage = &result.usage.total;
    println!(
        "Usage: {} LM call(s), {} cache hit(s), {} prompt + {} completion tokens, cost ${:.6}",
        usage.calls, usage.cache_hits, usage.prompt_tokens, usage.completion_tokens, usage.cost_usd
    );
}

/// The offline model: reads the question from the adapter's prompt and
/// answers with reasoning and an answer, written by the adapter's own reply
/// format (the testkit's `PromptView`, the simulated LM's reader and writer).
fn stand_in_model(request: &LmRequest) -> Result<String, String> {
    let view = PromptView::parse(request)?;
    let question = view.input("question").ok_or("the prompt has no question field")?;
    let (reasoning, answer) = answer(question);
    view.render(&[("reasoning".into(), reasoning.into()), ("answer".into(), answer.into())])
}

/// What the stand-in model knows: integer arithmetic, and these capitals
/// (Australia's and Canada's wrongly).
const CAPITALS: &[(&str, &str)] = &[
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Australia", "Sydney"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Canada", "Toronto"),
    ("Norway", "Oslo"),
    ("Egypt", "Cairo"),
    ("Chile", "Santiago"),
    ("Italy", "Rome"),
];

fn answer(question: &str) -> (String, String) {
    if let Some(country) = question.strip_prefix("What is the capital of ").and_then(|q| q.strip_suffix('?')) {
        if let Some((_, city)) = CAPITALS.iter().find(|(c, _)| c.eq_ignore_ascii_case(country)) {
            return (format!("{city} is the capital city of {country}."), (*city).to_string());
        }
    }
    if let Some(expr) = question.strip_prefix("What is ").and_then(|q| q.strip_suffix('?')) {
        if let Some(value) = arithmetic(expr) {
            return (format!("Computing {expr} step by step gives {value}."), value.to_string());
        }
    }
    ("I have no reliable knowledge about this.".to_string(), "I do not know".to_string())
}

/// `a + b`, `a - b` or `a * b` on integers.
fn arithmetic(expr: &str) -> Option<i64> {
    let mut parts = expr.split_whitespace();
    let (a, op, b) = (parts.next()?.parse::<i64>().ok()?, parts.next()?, parts.next()?.parse::<i64>().ok()?);
    if parts.next().is_some() {
        return None;
    }
    match op {
        "+" => a.checked_add(b),
        "-" => a.checked_sub(b),
        "*" => a.checked_mul(b),
        _ => None,
    }
}
