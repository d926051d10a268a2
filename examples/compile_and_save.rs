//! Compile, evaluate, save, load: the DSPy workflow end to end.
//!
//! 1. A `ChainOfThought` program for `question -> answer` is scored on a dev
//!    set with `Evaluate`.
//! 2. `BootstrapFewShot` compiles it on a training set (teacher runs in
//!    parallel, demos chosen exactly as DSPy's sequential algorithm would).
//! 3. The compiled program is scored again, saved in DSPy's JSON format,
//!    loaded into a fresh program, and shown to give the same answers.
//!
//! Offline by default: the model is a small *simulated* LM served over the
//! OpenAI-compatible HTTP API by the testkit's mock server on 127.0.0.1 (it
//! adds numbers, wrong on every third sum unless the prompt carries demos —
//! it measures the framework, not a model). With `KESTREL_LM` set, a real
//! model is used (e.g. `KESTREL_LM=openai/gpt-4o-mini OPENAI_API_KEY=...`,
//! built with `--features tls`).
//!
//! ```sh
//! cargo run --example compile_and_save
//! ```

use kestrel::lm::LmBuilder;
use kestrel::lm::cache::CacheConfig;
use kestrel::lm::providers::OpenAiProvider;
use kestrel::prelude::*;
use kestrel_testkit::mock::{MockServer, Responder};

/// Add the two numbers in the question.
#[derive(Signature)]
struct Add {
    #[input]
    question: String,
    #[output(desc = "the sum, digits only")]
    answer: String,
}

fn problem(a: u64, b: u64) -> Example {
    Example::from_pairs([("question", format!("What is {a} + {b}?")), ("answer", (a + b).to_string())])
        .with_inputs(["question"])
}

/// The simulated model's rule (see the file comment).
fn simulated_reply(request: &kestrel::lm::LmRequest) -> Result<String, String> {
    let last = request.messages.last().map(|m| m.content.as_str()).unwrap_or("");
    let question = last.rsplit("[[ ## question ## ]]\n").next().unwrap_or("").split("\n\n").next().unwrap_or("");
    let numbers: Vec<u64> =
        question.trim_end_matches('?').split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let [a, b] = numbers[..] else { return Err(format!("no two numbers in `{question}`")) };
    let demos = request.messages.iter().filter(|m| m.role == kestrel::core::Role::Assistant).count();
    let sum = a + b;
    let answer = if demos > 0 || sum % 3 != 0 { sum } else { sum + 1 };
    Ok(format!(
        "[[ ## reasoning ## ]]\n{a} plus {b} is {answer}.\n\n[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
    ))
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
            let server = MockServer::builder(Responder::from_fn(simulated_reply)).record(false).start().await?;
            let provider = OpenAiProvider::new("simulated").base_url(server.base_url());
            _server = server;
            println!("(offline: a simulated LM over the OpenAI-compatible API on {})\n", _server.base_url());
            LmBuilder::new(provider).cache(CacheConfig::memory_only()).build()?.into()
        }
    };
    let trainset: Vec<Example> = (0..12).map(|i| problem(i, 2 * i + 1)).collect();
    let devset: Vec<Example> = (0..15).map(|i| problem(10 + i, 3 * i)).collect();

    let program = ChainOfThought::<Add>::new();
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

    let mut fresh = ChainOfThought::<Add>::new();
    fresh.load(&path)?;
    let question = AddInput { question: "What is 20 + 7?".into() };
    let original = with_lm(lm.clone(), compiled.call(AddInput { question: question.question.clone() })).await?;
    let reloaded = with_lm(lm.clone(), fresh.call(question)).await?;
    println!("compiled answers {:?}; reloaded answers {:?}", original.answer, reloaded.answer);
    anyhow::ensure!(original.answer == reloaded.answer, "the reloaded program answered differently");
    anyhow::ensure!(fresh.dump_state() == compiled.dump_state(), "the reloaded state differs");
    println!("same state, same answers.");
    Ok(())
}
