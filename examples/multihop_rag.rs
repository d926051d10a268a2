//! Multi-hop RAG over HotpotQA, compiled with BootstrapFewShot.
//!
//! The program (DSPy's classic multi-hop pattern):
//! 1. hop 1: retrieve `k` passages with the question;
//! 2. a ChainOfThought `context, question -> search_query` writes a
//!    follow-up query from those passages;
//! 3. hop 2: retrieve `k` more with that query;
//! 4. a Predict `context, question -> answer` answers from both hops.
//!
//! Data: the HotpotQA distractor dev sample in
//! `$KESTREL_DATA_DIR/hotpotqa/dev_distractor_100.jsonl` (else
//! `../shared/datasets`); the first `--train` examples train, the next
//! `--dev` evaluate. The corpus is the pooled context paragraphs of the
//! examples used (`Title | text`, each title once), searched with BM25, or
//! with DSPy's `Embeddings` retriever and `--embedder` (`local/...` needs
//! `--features local-embeddings` and `cargo xtask fetch-models
//! all-minilm-l6-v2`; `openai/...` an embeddings endpoint).
//!
//! Offline by default: with no `--lm`, the LM is the testkit's
//! `RagReaderLm`, a deterministic **simulation that measures the plumbing**,
//! not a model: it really reads the retrieved passages in the prompt (so
//! retrieval changes its answers), but answers by fixed word-overlap rules
//! (see `crates/kestrel-testkit/src/rag_reader.rs`). Its exact-match scores
//! say nothing about model quality. `--lm <model>` (an OpenAI-compatible
//! `openai/<model>` with `OPENAI_BASE_URL`, or `local/...` where the local
//! chat provider is built in) gives real quality.
//!
//! ```sh
//! cargo run -p kestrel-examples --features retrieval --example multihop_rag
//! cargo run -p kestrel-examples --features local-embeddings --example multihop_rag -- --embedder local/all-minilm-l6-v2
//! ```

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use kestrel::eval::metrics::answer_exact_match_metric;
use kestrel::lm::retrieve::{Bm25, Embeddings};
use kestrel::lm::{Embedder, Passage, SharedRetriever};
use kestrel::modules::{ModuleError, Retrieve};
use kestrel::prelude::*;
use kestrel_testkit::RagReaderLm;
use serde_json::{Value, json};

/// Settings from the command line.
struct Args {
    lm: Option<String>,
    embedder: Option<String>,
    train: usize,
    dev: usize,
    k: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args { lm: None, embedder: None, train: 20, dev: 30, k: 3 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--lm" => args.lm = Some(value()?),
            "--embedder" => args.embedder = Some(value()?),
            "--train" => args.train = value()?.parse().context("--train takes a number")?,
            "--dev" => args.dev = value()?.parse().context("--dev takes a number")?,
            "--k" => args.k = value()?.parse().context("--k takes a number")?,
            "-h" | "--help" => {
                println!(
                    "usage: multihop_rag [--lm MODEL] [--embedder MODEL] [--train N (20)] [--dev N (30)] [--k N (3)]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    Ok(args)
}

/// `$KESTREL_DATA_DIR`, else `../shared/datasets` from the current directory
/// or from the workspace root.
fn data_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("KESTREL_DATA_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let candidates =
        [PathBuf::from("../shared/datasets"), PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets")];
    candidates.into_iter().find(|dir| dir.join("hotpotqa").is_dir()).context(
        "no HotpotQA data: set KESTREL_DATA_DIR to the folder holding hotpotqa/dev_distractor_100.jsonl \
         (the reference datasets, ../shared/datasets beside the repository)",
    )
}

/// One HotpotQA example with its distractor context.
struct Hotpot {
    example: Example,
    /// (title, text) of its ten context paragraphs.
    paragraphs: Vec<(String, String)>,
    /// Titles of the two gold paragraphs.
    gold_titles: HashSet<String>,
}

fn load(path: &std::path::Path) -> anyhow::Result<Vec<Hotpot>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{}:{}", path.display(), n + 1);
        let row: Value = serde_json::from_str(line).with_context(at)?;
        let field =
            |name: &str| row.get(name).and_then(Value::as_str).with_context(|| format!("{}: no `{name}`", at()));
        let example =
            Example::from_pairs([("question", json!(field("question")?)), ("answer", json!(field("answer")?))])
                .with_inputs(["question"]);
        let paragraphs = row["context"]
            .as_array()
            .with_context(|| format!("{}: no `context` list", at()))?
            .iter()
            .map(|p| {
                let title = p["title"].as_str().unwrap_or_default().to_string();
                let sentences = p["sentences"].as_array().map(Vec::as_slice).unwrap_or_default();
                let text: String = sentences.iter().filter_map(Value::as_str).collect();
                (title, text)
            })
            .collect();
        let gold_titles = row["supporting_facts"]
            .as_array()
            .map(|facts| facts.iter().filter_map(|f| f["title"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        out.push(Hotpot { example, paragraphs, gold_titles });
    }
    Ok(out)
}

/// The multi-hop program.
#[derive(Clone, Module)]
struct MultiHop {
    retrieve: Retrieve,
    generate_query: ChainOfThought,
    generate_answer: Predict,
}

impl MultiHop {
    fn new(k: usize) -> anyhow::Result<Self> {
        Ok(Self {
            retrieve: Retrieve::new(k),
            generate_query: ChainOfThought::from_signature("context, question -> search_query")?,
            generate_answer: Predict::from_signature("context, question -> answer")?,
        })
    }
}

fn texts(passages: &[Passage]) -> Vec<String> {
    passages.iter().map(|p| p.text.clone()).collect()
}

impl kestrel::modules::Module for MultiHop {
    type Input = Example;
    type Output = Prediction;

    async fn forward(&self, input: Example) -> Result<Prediction, ModuleError> {
        let question = input.get("question").and_then(Value::as_str).unwrap_or_default().to_string();
        let hop1 = texts(&self.retrieve.passages(&question, None).await?);
        let inputs = Example::from_pairs([("context", json!(hop1)), ("question", json!(question))]);
        let query = self.generate_query.forward(inputs).await?;
        let search_query = query.get("search_query").and_then(Value::as_str).unwrap_or(&question).to_string();
        let mut context = hop1.clone();
        for passage in texts(&self.retrieve.passages(&search_query, None).await?) {
            if !context.contains(&passage) {
                context.push(passage);
            }
        }
        let inputs = Example::from_pairs([("context", json!(context)), ("question", json!(question))]);
        let mut prediction = self.generate_answer.forward(inputs).await?;
        prediction.insert("search_query", search_query);
        prediction.insert("hop1", json!(hop1));
        prediction.insert("context", json!(context));
        Ok(prediction)
    }
}

/// The embedder for a model string.
fn embedder(model: &str) -> anyhow::Result<Arc<dyn Embedder>> {
    if model.starts_with("local/") {
        #[cfg(feature = "local-embeddings")]
        return Ok(Arc::new(kestrel_local::LocalEmbedder::from_model_string(model)?));
        #[cfg(not(feature = "local-embeddings"))]
        bail!("`{model}` needs the local embedder: run with `--features local-embeddings`");
    }
    Ok(kestrel::lm::providers::embedder_for_model(model)?)
}

/// Share of examples whose two gold paragraphs are both among `titles`.
fn gold_recall(rows: &[(&Hotpot, Vec<String>)]) -> f64 {
    let hit = rows
        .iter()
        .filter(|(h, passages)| {
            let titles: HashSet<&str> = passages.iter().filter_map(|p| p.split(" | ").next()).collect();
            h.gold_titles.iter().all(|t| titles.contains(t.as_str()))
        })
        .count();
    100.0 * hit as f64 / rows.len().max(1) as f64
}

async fn recall(program: &MultiHop, dev: &[Hotpot]) -> anyhow::Result<(f64, f64)> {
    let mut hop1 = Vec::new();
    let mut both = Vec::new();
    for h in dev {
        let p = program.call(h.example.inputs()).await?;
        let list = |name: &str| -> Vec<String> {
            p.get(name)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        };
        hop1.push((h, list("hop1")));
        both.push((h, list("context")));
    }
    Ok((gold_recall(&hop1), gold_recall(&both)))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let path = data_dir()?.join("hotpotqa/dev_distractor_100.jsonl");
    let data = load(&path)?;
    if args.train + args.dev > data.len() {
        bail!("--train {} + --dev {} exceed the {} examples of {}", args.train, args.dev, data.len(), path.display());
    }
    let (train, dev) = data[..args.train + args.dev].split_at(args.train);

    let mut seen = HashSet::new();
    let corpus: Vec<String> = train
        .iter()
        .chain(dev)
        .flat_map(|h| &h.paragraphs)
        .filter(|(title, _)| seen.insert(title.clone()))
        .map(|(title, text)| format!("{title} | {text}"))
        .collect();
    let retriever: SharedRetriever = match &args.embedder {
        None => Arc::new(Bm25::builder(corpus.clone()).build()?),
        Some(model) => Arc::new(Embeddings::builder(corpus.clone(), embedder(model)?).build().await?),
    };
    let lm: SharedLm = match &args.lm {
        Some(model) => kestrel::lm::lm(model)?,
        None => {
            println!(
                "(offline: the testkit's RagReaderLm — a deterministic simulation that reads the retrieved passages \
                 by word overlap; it measures the plumbing, not model quality. Use --lm MODEL for a real model.)"
            );
            SharedLm::new(RagReaderLm::new())
        }
    };
    println!(
        "HotpotQA distractor: {} train, {} dev; corpus {} paragraphs; retriever {}; k = {} per hop; LM {}",
        train.len(),
        dev.len(),
        corpus.len(),
        args.embedder.as_deref().map_or("bm25".to_string(), |m| format!("embeddings ({m})")),
        args.k,
        lm.model()
    );

    let trainset: Vec<Example> = train.iter().map(|h| h.example.clone()).collect();
    let devset: Vec<Example> = dev.iter().map(|h| h.example.clone()).collect();
    let metric = answer_exact_match_metric();
    let program = MultiHop::new(args.k)?;
    let evaluate = Evaluate::new(devset).display_progress(false);

    with_retriever(retriever, async {
        let before = with_lm(lm.clone(), evaluate.run(&program, &metric)).await?;
        let (r1, r2) = with_lm(lm.clone(), recall(&program, dev)).await?;
        println!("gold paragraphs retrieved (both of 2): hop 1 {r1:.1}%, hops 1+2 {r2:.1}%");

        let optimizer = BootstrapFewShot::new(metric.clone()).max_bootstrapped_demos(2).max_labeled_demos(2);
        let compiled = with_lm(lm.clone(), optimizer.compile(&program, &trainset)).await?;
        let after = with_lm(lm.clone(), evaluate.run(&compiled.program, &metric)).await?;
        let demos: Vec<String> =
            compiled.predictor_states().iter().map(|(path, s)| format!("{path}: {}", s.demos.len())).collect();
        println!("demos after BootstrapFewShot: {}", demos.join(", "));
        println!("answer exact match on dev: before {:.2}%, after BootstrapFewShot {:.2}%", before.score, after.score);
        let sample = with_lm(lm.clone(), compiled.call(dev[0].example.inputs())).await?;
        println!(
            "e.g. {:?}\n  hop-2 query {:?}\n  answer {:?} (gold {:?})",
            dev[0].example.get("question").and_then(Value::as_str).unwrap_or_default(),
            sample.get("search_query").and_then(Value::as_str).unwrap_or_default(),
            sample.get("answer").and_then(Value::as_str).unwrap_or_default(),
            dev[0].example.get("answer").and_then(Value::as_str).unwrap_or_default()
        );
        anyhow::Ok(())
    })
    .await
}
