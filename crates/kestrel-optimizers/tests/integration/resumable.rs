//! `Resumable` / `compile_resumable` with every optimizer: a finished compile
//! run again on the same cache folder replays to the same program without
//! a single request reaching the server; a changed identity is a new
//! journal; a cancelled compile is `OptimizerError::Interrupted` and says
//! how to resume.

use std::path::Path;

use kestrel_core::{Example, Prediction};
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{LmBuilder, LmClient, with_lm};
use kestrel_modules::{ChainOfThought, DynModule, ProgramState, Trace};
use kestrel_optimizers::{
    BootstrapFewShot, BootstrapFewShotWithRandomSearch, Copro, DynOptimizer, Gepa, JournalOptions, LabeledFewShot,
    MiproV2, Optimizer, OptimizerError, Resumable, Simba, compile_resumable,
};
use kestrel_testkit::mock::MockServer;
use kestrel_testkit::simulated::{SimulatedLm, generate};
use tokio_util::sync::CancellationToken;

fn same_answer(example: &Example, prediction: &Prediction, _trace: Option<&Trace>) -> bool {
    example.get("answer") == prediction.get("answer")
}

/// A fresh client (empty memory level) on the write-through disk cache in `dir`.
fn client(server: &MockServer, dir: &Path) -> LmClient {
    let provider = OpenAiProvider::new("simulated").base_url(server.base_url()).api_key("sk-test");
    let cache = CacheConfig::default().with_dir(dir.to_path_buf()).write_through(true);
    LmBuilder::new(provider).cache(cache).num_retries(0).build().unwrap()
}

fn sets() -> (Vec<Example>, Vec<Example>) {
    let problems: Vec<Example> = generate(5, 20).iter().map(|p| p.to_example()).collect();
    (problems[..10].to_vec(), problems[10..].to_vec())
}

/// Every optimizer, one call at a time (no speculation), small settings.
fn optimizers() -> Vec<(&'static str, Box<dyn DynOptimizer>)> {
    vec![
        ("labeled", Box::new(LabeledFewShot::new(3))),
        ("bootstrap", Box::new(BootstrapFewShot::new(same_answer).concurrency(1).unwrap())),
        (
            "random-search",
            Box::new(
                BootstrapFewShotWithRandomSearch::new(same_answer).num_candidate_programs(2).concurrency(1).unwrap(),
            ),
        ),
        ("copro", Box::new(Copro::new(same_answer).breadth(2).unwrap().depth(1).unwrap().concurrency(1).unwrap())),
        (
            "mipro",
            Box::new(
                MiproV2::new(same_answer)
                    .auto(None)
                    .num_candidates(2)
                    .unwrap()
                    .num_trials(3)
                    .unwrap()
                    .minibatch_size(4)
                    .unwrap()
                    .concurrency(1)
                    .unwrap()
                    .trial_concurrency(1)
                    .unwrap(),
            ),
        ),
        (
            "simba",
            Box::new(
                Simba::new(same_answer)
                    .bsize(4)
                    .unwrap()
                    .num_candidates(2)
                    .unwrap()
                    .max_steps(2)
                    .concurrency(1)
                    .unwrap(),
            ),
        ),
        ("gepa", Box::new(Gepa::new(same_answer).max_metric_calls(40).concurrency(1).unwrap().speculate(false))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_optimizer_replays_a_finished_compile_with_no_request() {
    let server = MockServer::start(SimulatedLm::new()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (trainset, valset) = sets();
    let student: Box<dyn DynModule> = Box::new(ChainOfThought::from_signature("question -> answer").unwrap());
    for (name, optimizer) in optimizers() {
        let options = JournalOptions::beside_cache(dir.path()).identity("optimizer", name).sync_each_line(false);
        let mut states = Vec::new();
        let mut requests = Vec::new();
        for _ in 0..2 {
            let before = server.request_count();
            let compile = compile_resumable(optimizer.as_ref(), student.as_ref(), &trainset, Some(&valset), &options);
            let compiled = with_lm(client(&server, dir.path()), compile).await.unwrap();
            states.push(compiled.program.state_text());
            requests.push(server.request_count() - before);
        }
        assert_eq!(states[0], states[1], "{name}: the replay compiled another program");
        assert_eq!(requests[1], 0, "{name}: the replay sent {} requests ({} the first time)", requests[1], requests[0]);
        if name != "labeled" {
            assert!(requests[0] > 0, "{name}");
        }
    }
    // One journal per compile: the identities differ.
    let journals = std::fs::read_dir(dir.path().join("journal")).unwrap().count();
    assert_eq!(journals, optimizers().len());
}

#[tokio::test]
async fn a_changed_identity_starts_a_new_journal_and_a_cancelled_compile_says_how_to_resume() {
    let server = MockServer::start(SimulatedLm::new()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (trainset, valset) = sets();
    let student = ChainOfThought::from_signature("question -> answer").unwrap();
    let journals = || std::fs::read_dir(dir.path().join("journal")).map_or(0, Iterator::count);
    let optimizer = BootstrapFewShot::new(same_answer).concurrency(1).unwrap();
    let options = JournalOptions::beside_cache(dir.path()).sync_each_line(false);
    let resumable = Resumable::new(optimizer.clone(), options.clone());
    with_lm(client(&server, dir.path()), resumable.compile_with_valset(&student, &trainset, Some(&valset)))
        .await
        .unwrap();
    assert_eq!(journals(), 1);
    // The same compile: the same journal.
    with_lm(client(&server, dir.path()), resumable.compile(&student, &trainset)).await.unwrap();
    assert_eq!(journals(), 2, "no valset is another identity");
    with_lm(client(&server, dir.path()), resumable.compile(&student, &trainset)).await.unwrap();
    assert_eq!(journals(), 2);
    // Another trainset, setting, student or caller part: a new journal each.
    with_lm(client(&server, dir.path()), resumable.compile(&student, &trainset[1..])).await.unwrap();
    let other = Resumable::new(optimizer.clone().max_bootstrapped_demos(2), options.clone());
    with_lm(client(&server, dir.path()), other.compile(&student, &trainset)).await.unwrap();
    let tagged = Resumable::new(optimizer.clone(), options.clone().identity("seed", 7));
    with_lm(client(&server, dir.path()), tagged.compile(&student, &trainset)).await.unwrap();
    let predict = kestrel_modules::Predict::from_signature("question -> answer").unwrap();
    with_lm(client(&server, dir.path()), resumable.compile(&predict, &trainset)).await.unwrap();
    assert_eq!(journals(), 6);

    // Cancelled: Interrupted, naming the journal and the way to resume.
    let token = CancellationToken::new();
    token.cancel();
    let cancelled = Resumable::new(optimizer, options.cancel_token(token));
    let error = with_lm(client(&server, dir.path()), cancelled.compile(&student, &valset)).await.unwrap_err();
    assert!(matches!(error, OptimizerError::Interrupted { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("run the same command again to resume") && message.contains(".jsonl"), "{message}");
}
