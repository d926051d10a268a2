//! Compile, evaluate, save, load: the DSPy workflow end to end.
//!
//! 1. A `ChainOfThought` program for `question -> answer` is scored on a dev
//!    set with `Evaluate`.
//! 2. `BootstrapFewShot` compiles it on a training set (teacher runs in
//!    parallel, demos chosen exactly as DSPy's sequential algorithm would).
//! 3. The compiled program is scored again, saved in DSPy's JSON format,
//!    loaded into a fresh program, and shown to give the same answers.
//!
//! Offline by default: the data are the testkit's generated word problems
//! and the model is the testkit's *simulated* LM, served over the
//! OpenAI-compatible HTTP API by its mock server on 127.0.0.1. The simulated
//! LM is a set of documented rules, not a model (right demos of similar
//! problems and reasoning raise its hit rate; see `docs/BENCH_COMPILE.md`):
//! it shows the framework at work, not model quality. With `KESTREL_LM`
//! set, a real model is used (e.g. `KESTREL_LM=openai/gpt-4o-mini
//! OPENAI_API_KEY=...`, built with `--features tls`).
//!
//! ```sh
//! cargo run --example compile_and_save
//! ```

use kestrel::lm::LmBuilder;
use kestrel::lm::cache::CacheConfig;
use kestrel::lm::providers::OpenAiProvider;
use kestrel::prelude::*;
use kestrel_testkit::mock::MockServer;
use kestrel_testkit::simulated::{self, SimulatedLm};

/// Solve the word problem.
#[derive(Signature)]
struct Solve {
    #[input]
    question: String,
    #[output(desc = "the final count, digits only")]
    answer: String,
}

fn exact(example: &Example, prediction: &Prediction, _trace: Option<&Trace>) -> bool {
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::trim).unwrap_or("").to_string();
    text(example.get("answer")) == text(prediction.get("answer"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let _server; // kept alive for the whole run when offline
    let lm: SharedLm = match std::env::var("KESTREL_LM") {
        Ok(model) => kestrel::lm::lm(&model)?,
        Err(_) => {
            let server = MockServer::builder(SimulatedLm::new()).record(false).start().await?;
            let provider = OpenAiProvider::new(simulated::MODEL).base_url(server.base_url());
            _server = server;
            println!("(offline: a simulated LM over the OpenAI-compatible API on {})\n", _server.base_url());
            LmBuilder::new(provider).cache(CacheConfig::memory_only()).build()?.into()
        }
    };
    // Distinct problems: the first 30 go to the trainset, the rest to the devset.
    let problems = simulated::generate(7, 70);
    let trainset: Vec<Example> = problems[..30].iter().map(|p| p.to_example()).collect();
    let devset: Vec<Example> = problems[30..].iter().map(|p| p.to_example()).collect();

    let program = ChainOfThought::<Solve>::new();
    let evaluate = Evaluate::new(devset.clone()).display_progress(false);
    let before = with_lm(lm.clone(), evaluate.run(&program, &exact)).await?;

    let optimizer = BootstrapFewShot::new(exact).max_bootstrapped_demos(3).max_labeled_demos(3);
    let compiled = with_lm(lm.clone(), optimizer.compile(&program, &trainset)).await?;
    let after = with_lm(lm.clone(), evaluate.run(&compiled.program, &exact)).await?;
    println!("dev score before: {:.2}%   after BootstrapFewShot: {:.2}%", before.score, after.score);
    print!("{}", compiled.report);

    let path = std::env::temp_dir().join("kestrel_compile_and_save.json");
    compiled.save(&path)?;
    println!("saved to {} (DSPy's JSON state format)", path.display());

    let mut fresh = ChainOfThought::<Solve>::new();
    fresh.load(&path)?;
    let question = SolveInput { question: problems[40].render() };
    let original = with_lm(lm.clone(), compiled.call(SolveInput { question: question.question.clone() })).await?;
    let reloaded = with_lm(lm.clone(), fresh.call(question)).await?;
    println!("compiled answers {:?}; reloaded answers {:?}", original.answer, reloaded.answer);
    anyhow::ensure!(original.answer == reloaded.answer, "the reloaded program answered differently");
    anyhow::ensure!(fresh.dump_state() == compiled.dump_state(), "the reloaded state differs");
    println!("same state, same answers.");
    Ok(())
}
