//! Crash and resume: a resumable compile (`Resumable`, durable write-through
//! cache, journal beside it) is killed with SIGKILL at many points — exact
//! ones (right after the Nth durable write: a cache entry or a journal line)
//! and random times — and run again until it finishes. Every resumed run must
//! end with the same program bytes as an uninterrupted run, and the mock
//! server must have answered each distinct request once across all attempts
//! (0 repeated LM calls; at a random-time kill at most the one call in
//! flight, the runs being sequential).
//!
//! The compiles run in child processes: this test binary re-executed on the
//! ignored test [`child`], steered by `KESTREL_CRASH_*` variables, against
//! the simulated LM on the testkit mock server that the parent runs (so it
//! counts every request across attempts). Figures are printed (and quoted in
//! docs/RELIABILITY.md, "Crash and resume").

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kestrel_core::{Example, Prediction};
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{DurableHook, LmBuilder, with_lm};
use kestrel_modules::{ChainOfThought, ProgramState, Trace};
use kestrel_optimizers::{BootstrapFewShotWithRandomSearch, Copro, JournalOptions, Optimizer, Resumable};
use kestrel_testkit::mock::MockServer;
use kestrel_testkit::simulated::{SimulatedLm, generate};

const URL: &str = "KESTREL_CRASH_URL";
const DIR: &str = "KESTREL_CRASH_DIR";
const WHICH: &str = "KESTREL_CRASH_OPTIMIZER";
const KILL_AFTER: &str = "KESTREL_CRASH_KILL_AFTER";
const OUT: &str = "KESTREL_CRASH_OUT";

fn same_answer(example: &Example, prediction: &Prediction, _trace: Option<&Trace>) -> bool {
    example.get("answer") == prediction.get("answer")
}

/// End this process with SIGKILL, as `kill -9` from outside would.
fn sigkill_self() -> ! {
    let _ = Command::new("kill").arg("-KILL").arg(std::process::id().to_string()).status();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The child: one resumable compile, killed after the `KESTREL_CRASH_KILL_AFTER`th
/// durable write if set; writes the compiled state to `KESTREL_CRASH_OUT` and
/// the number of durable writes to `<out>.writes`.
#[tokio::test(flavor = "current_thread")]
#[ignore = "the child process of crash_resume's tests (run by them)"]
async fn child() {
    let Ok(url) = std::env::var(URL) else { return };
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    let which = std::env::var(WHICH).unwrap();
    let out = PathBuf::from(std::env::var(OUT).unwrap());
    let kill_after: Option<usize> = std::env::var(KILL_AFTER).ok().and_then(|n| n.parse().ok());
    let writes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&writes);
    let hook = DurableHook::new(move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        if Some(n) == kill_after {
            sigkill_self();
        }
    });
    let provider = OpenAiProvider::new("simulated").base_url(url).api_key("sk-test");
    let cache = CacheConfig::default().with_dir(dir.clone()).durable(true).on_durable_write(hook.clone());
    let lm = LmBuilder::new(provider).cache(cache).num_retries(0).build().unwrap();
    let options = JournalOptions::beside_cache(&dir).identity("test", &which).on_durable_write(hook);
    let program = ChainOfThought::from_signature("question -> answer").unwrap();
    let problems = generate(11, 24);
    let trainset: Vec<Example> = problems[..12].iter().map(|p| p.to_example()).collect();
    let valset: Vec<Example> = problems[12..].iter().map(|p| p.to_example()).collect();
    let compiled = match which.as_str() {
        "random_search" => {
            let optimizer = BootstrapFewShotWithRandomSearch::new(same_answer)
                .num_candidate_programs(3)
                .max_bootstrapped_demos(2)
                .max_labeled_demos(2)
                .concurrency(1)
                .unwrap();
            let resumable = Resumable::new(optimizer, options);
            with_lm(lm.clone(), resumable.compile_with_valset(&program, &trainset, Some(&valset))).await.unwrap()
        }
        "copro" => {
            let optimizer = Copro::new(same_answer).breadth(3).unwrap().depth(2).unwrap().concurrency(1).unwrap();
            let resumable = Resumable::new(optimizer, options);
            with_lm(lm.clone(), resumable.compile_with_valset(&program, &trainset, Some(&valset))).await.unwrap()
        }
        other => panic!("unknown optimizer {other}"),
    };
    std::fs::write(&out, compiled.program.state_text()).unwrap();
    std::fs::write(out.with_extension("writes"), writes.load(Ordering::SeqCst).to_string()).unwrap();
}

/// One child run: its exit status.
fn spawn_child(url: &str, dir: &Path, which: &str, kill_after: Option<usize>, out: &Path) -> std::process::Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "crash_resume::child", "--ignored", "--test-threads=1", "--quiet"])
        .env(URL, url)
        .env(DIR, dir)
        .env(WHICH, which)
        .env(OUT, out)
        .env_remove(KILL_AFTER)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(n) = kill_after {
        command.env(KILL_AFTER, n.to_string());
    }
    command.spawn().unwrap()
}

fn was_sigkilled(status: ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(9)
}

/// What the server answered: total requests and distinct bodies.
fn answered(server: &MockServer) -> (usize, usize) {
    let requests = server.requests();
    let distinct: HashSet<String> =
        requests.iter().map(|r| r.body.as_ref().map(ToString::to_string).unwrap_or_default()).collect();
    (requests.len(), distinct.len())
}

/// Journal lines (the header included) of the one journal in `dir`.
fn journal_lines(dir: &Path) -> Vec<String> {
    let journals = dir.join("journal");
    let Ok(entries) = std::fs::read_dir(&journals) else { return Vec::new() };
    let mut lines = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            let text = std::fs::read_to_string(&path).unwrap();
            lines.extend(text.lines().map(str::to_string));
        }
    }
    lines
}

struct Figures {
    kill_points: usize,
    clean: usize,
    random_kills: usize,
    random_repeats: usize,
}

/// The whole scenario for one optimizer, on a blocking thread (children are
/// waited for synchronously; the server runs on the runtime's workers).
fn scenario(server: &MockServer, which: &str, root: &Path) -> Figures {
    let url = server.base_url();
    // The uninterrupted run.
    server.clear_requests();
    let base_dir = root.join(format!("{which}-base"));
    let base_out = root.join(format!("{which}-base.json"));
    let started = Instant::now();
    let status = spawn_child(&url, &base_dir, which, None, &base_out).wait().unwrap();
    let base_time = started.elapsed();
    assert!(status.success(), "{which}: the uninterrupted run failed: {status}");
    let expected = std::fs::read(&base_out).unwrap();
    let writes: usize = std::fs::read_to_string(base_out.with_extension("writes")).unwrap().parse().unwrap();
    let (base_requests, base_distinct) = answered(server);
    assert_eq!(base_requests, base_distinct, "{which}: a request was answered twice in one run");
    assert_eq!(server.max_in_flight(), 1, "{which}: the child runs one call at a time");
    assert!(writes > 20, "{which}: only {writes} durable writes");

    // Exact kill points: right after the Nth durable write, spread over the run.
    let mut points: Vec<usize> = (0..8).map(|i| 1 + i * (writes - 2) / 7).collect();
    points.dedup();
    let mut clean = 0;
    for (i, &n) in points.iter().enumerate() {
        server.clear_requests();
        let dir = root.join(format!("{which}-kill-{i}"));
        let out = root.join(format!("{which}-kill-{i}.json"));
        let status = spawn_child(&url, &dir, which, Some(n), &out).wait().unwrap();
        assert!(was_sigkilled(status), "{which}: kill point {n} of {writes}: {status}");
        let before = journal_lines(&dir);
        let status = spawn_child(&url, &dir, which, None, &out).wait().unwrap();
        assert!(status.success(), "{which}: the resumed run after kill point {n} failed: {status}");
        assert_eq!(std::fs::read(&out).unwrap(), expected, "{which}: kill point {n}: another program");
        // The same journal resumed: what was there is still its beginning.
        let after = journal_lines(&dir);
        assert!(after.len() >= before.len() && after[..before.len()] == before[..], "{which}: kill point {n}");
        let (requests, distinct) = answered(server);
        assert_eq!(requests, base_requests, "{which}: kill point {n}: {requests} requests, {base_requests} expected");
        if requests == distinct {
            clean += 1;
        }
    }
    // One run killed three times before it finishes.
    server.clear_requests();
    let dir = root.join(format!("{which}-chain"));
    let out = root.join(format!("{which}-chain.json"));
    for n in [writes / 5, writes / 5, writes / 5] {
        let status = spawn_child(&url, &dir, which, Some(n.max(1)), &out).wait().unwrap();
        assert!(was_sigkilled(status), "{which}: chained kill: {status}");
    }
    assert!(spawn_child(&url, &dir, which, None, &out).wait().unwrap().success());
    assert_eq!(std::fs::read(&out).unwrap(), expected, "{which}: three kills: another program");
    let (requests, distinct) = answered(server);
    assert_eq!((requests, distinct), (base_requests, base_requests), "{which}: three kills");
    clean += 1;

    // Random-time SIGKILLs (from outside, at fixed fractions of the
    // uninterrupted run's wall time): a call in flight may be paid twice.
    let mut random_repeats = 0;
    let fractions = [0.15, 0.45, 0.75];
    for (i, fraction) in fractions.iter().enumerate() {
        server.clear_requests();
        let dir = root.join(format!("{which}-random-{i}"));
        let out = root.join(format!("{which}-random-{i}.json"));
        let mut child = spawn_child(&url, &dir, which, None, &out);
        std::thread::sleep(base_time.mul_f64(*fraction));
        let _ = child.kill();
        let _ = child.wait();
        let status = spawn_child(&url, &dir, which, None, &out).wait().unwrap();
        assert!(status.success(), "{which}: resumed after a random kill: {status}");
        assert_eq!(std::fs::read(&out).unwrap(), expected, "{which}: random kill {i}: another program");
        let (requests, distinct) = answered(server);
        assert_eq!(distinct, base_requests, "{which}: random kill {i}");
        assert!(requests - distinct <= 1, "{which}: random kill {i}: {} repeated calls", requests - distinct);
        random_repeats += requests - distinct;
    }
    eprintln!(
        "crash_resume {which}: {writes} durable writes, {base_requests} LM calls, uninterrupted {:.2} s; \
         kill points resumed with 0 repeated LM calls: {clean} of {}; random kills: {}, repeated calls {random_repeats}",
        base_time.as_secs_f64(),
        points.len() + 1,
        fractions.len(),
    );
    Figures { kill_points: points.len() + 1, clean, random_kills: fractions.len(), random_repeats }
}

async fn run_scenario(which: &'static str) {
    let server = Arc::new(MockServer::start(SimulatedLm::new()).await.unwrap());
    let root = tempfile::tempdir().unwrap();
    let path = root.path().to_path_buf();
    let for_thread = Arc::clone(&server);
    let figures = tokio::task::spawn_blocking(move || scenario(&for_thread, which, &path)).await.unwrap();
    assert_eq!(figures.clean, figures.kill_points, "{which}: some kill points repeated LM calls");
    assert!(figures.random_repeats <= figures.random_kills);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_search_killed_anywhere_resumes_to_the_same_program() {
    run_scenario("random_search").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copro_killed_anywhere_resumes_to_the_same_program() {
    run_scenario("copro").await;
}
