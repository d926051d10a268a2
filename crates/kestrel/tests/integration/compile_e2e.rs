//! The whole workflow through the facade over real HTTP: a typed
//! ChainOfThought, an OpenAI-compatible provider pointed at the testkit's
//! mock server (a simulated arithmetic LM), the response cache, Evaluate,
//! BootstrapFewShot, save in DSPy's format, load into a fresh program.

use kestrel::lm::LmBuilder;
use kestrel::lm::cache::CacheConfig;
use kestrel::lm::providers::OpenAiProvider;
use kestrel::prelude::*;
use kestrel_testkit::mock::{MockServer, Responder};

/// Add the two numbers.
#[derive(Signature)]
struct Add {
    #[input]
    question: String,
    #[output]
    answer: String,
}

fn problem(a: u64, b: u64) -> Example {
    Example::from_pairs([("question", format!("What is {a} + {b}?")), ("answer", (a + b).to_string())])
        .with_inputs(["question"])
}

/// Right unless the sum is a multiple of 3 and the prompt has no demos.
fn simulated(request: &kestrel::lm::LmRequest) -> Result<String, String> {
    let last = request.messages.last().map(|m| m.content.as_str()).unwrap_or("");
    let question = last.rsplit("[[ ## question ## ]]\n").next().unwrap_or("").split("\n\n").next().unwrap_or("");
    let nums: Vec<u64> = question.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
    let [a, b] = nums[..] else { return Err(format!("no numbers in {question:?}")) };
    let has_demos = request.messages.iter().any(|m| m.role == kestrel::core::Role::Assistant);
    let answer = if has_demos || (a + b) % 3 != 0 { a + b } else { a + b + 1 };
    Ok(format!("[[ ## reasoning ## ]]\nAdding.\n\n[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"))
}

fn exact(example: &Example, prediction: &Prediction, _trace: Option<&Trace>) -> bool {
    example.get("answer") == prediction.get("answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compile_evaluate_save_and_load_over_http() {
    let server = MockServer::builder(Responder::from_fn(simulated)).start().await.unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let provider = OpenAiProvider::new("gpt-4o-mini").base_url(server.base_url()).api_key("sk-test");
    let lm: SharedLm = LmBuilder::new(provider)
        .cache(CacheConfig::default().with_dir(cache_dir.path().into()))
        .build()
        .unwrap()
        .into();

    let trainset: Vec<Example> = (0..10).map(|i| problem(i, 2 * i + 1)).collect();
    let devset: Vec<Example> = (0..12).map(|i| problem(20 + i, i)).collect();
    let program = ChainOfThought::<Add>::new();
    let evaluate = Evaluate::new(devset).display_progress(false).concurrency(8).unwrap();

    let run = async {
        let before = evaluate.run(&program, &exact).await?;
        let compiled = BootstrapFewShot::new(exact).max_bootstrapped_demos(2).compile(&program, &trainset).await?;
        let after = evaluate.run(&compiled.program, &exact).await?;
        Ok::<_, kestrel::Error>((before, compiled, after))
    };
    let (before, compiled, after) = with_lm(lm.clone(), run).await.unwrap();
    assert!(before.score < 100.0, "zero-shot misses multiples of 3: {}", before.score);
    assert_eq!(after.score, 100.0);
    assert_eq!(compiled.report.bootstrapped, 2);
    assert!(compiled.report.lm_calls() >= 2);
    assert!(server.request_count() > 0);

    // Saved in DSPy's format, loaded into a fresh program: same state, and
    // the same question answered from the cache without a new request.
    let path = cache_dir.path().join("add.json");
    compiled.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"augmented\": true") && text.contains("\"dependency_versions\""));
    let mut fresh = ChainOfThought::<Add>::new();
    fresh.load(&path).unwrap();
    assert_eq!(fresh.dump_state(), compiled.dump_state());
    let requests = server.request_count();
    let question = || AddInput { question: "What is 31 + 11?".into() };
    let original = with_lm(lm.clone(), compiled.call(question())).await.unwrap();
    let reloaded = with_lm(lm.clone(), fresh.call(question())).await.unwrap();
    assert_eq!(original.answer, reloaded.answer);
    assert_eq!(server.request_count(), requests, "the second identical call is a cache hit");
}
