//! The load-and-soak run (issue 13, item 5): `Evaluate` over many examples
//! at high concurrency through the real HTTP path (`LmClient` +
//! `OpenAiProvider`) against the testkit's mock server, which injects a
//! rate of faults of every kind it has, chosen per request by a seeded
//! [`FaultPlan`].
//!
//! Every example is `{id: "soak-<i>", answer: <f(i)>}` and the program is
//! `Predict("id -> answer")`, so both sides can count by example id: the
//! server counts the requests and the answers it produced per id, the
//! result is checked to hold every index once. [`run`] returns a
//! [`SoakReport`]; [`SoakReport::problems`] lists every broken promise
//! (lost, duplicated, an untyped outcome, an extra answer, a descriptor
//! leak). Used by the `soak` binary (the full 100,000-call run) and by
//! `benches/tests/soak.rs` (a bounded run in CI).
//!
//! Files: `server_side.rs` (the fault plan, the responder and their counts
//! by id), `report.rs` (the outcome tally, [`SoakReport`], its checks and
//! Markdown).

mod report;
mod server_side;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kestrel_core::Example;
use kestrel_eval::Evaluate;
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{LmBuilder, RetryPolicy, SharedLm, with_lm};
use kestrel_modules::Predict;

use crate::{MODEL, MockHost, runtime};

pub use report::SoakReport;
pub use server_side::KINDS;

use report::Tally;
use server_side::{Counts, answer_of, plan, responder};

/// What one soak run does.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Examples (each at least one LM call; the cache is off).
    pub examples: usize,
    /// Examples in flight.
    pub concurrency: usize,
    /// Evaluations the examples are split into, run one after the other
    /// (1: one `Evaluate` over all; more shows memory once each result,
    /// which keeps every row, is dropped).
    pub rounds: usize,
    /// Share of requests given a fault (0.05 = 5%).
    pub fault_rate: f64,
    /// Seed of the fault plan.
    pub seed: u64,
    /// The server's latency on every response (so requests pile up to the
    /// concurrency).
    pub latency: Duration,
    /// The provider's timeout; stalls last twice this.
    pub timeout: Duration,
    /// Client runtime worker threads.
    pub workers: usize,
    /// RSS and descriptor sampling period.
    pub sample_every: Duration,
}

impl Default for SoakConfig {
    fn default() -> Self {
        Self {
            examples: 100_000,
            concurrency: 512,
            rounds: 1,
            fault_rate: 0.05,
            seed: 13,
            latency: Duration::from_millis(50),
            timeout: Duration::from_secs(1),
            workers: 2,
            sample_every: Duration::from_millis(50),
        }
    }
}

/// One RSS / descriptor sample during the run.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Requests the server had received.
    pub requests: u64,
    /// Resident memory, MiB (`/proc/self/statm`).
    pub rss_mib: f64,
    /// Open descriptors (`/proc/self/fd`).
    pub fds: usize,
}

/// Resident memory from `/proc/self/statm`, MiB.
pub fn rss_mib() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0 / (1024.0 * 1024.0))
}

/// Open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Run one soak: `config.rounds` evaluations of `examples / rounds`
/// examples each, one after the other on the same client and server, each
/// result dropped before the next round.
pub fn run(config: &SoakConfig) -> Result<SoakReport, Box<dyn std::error::Error>> {
    let n = config.examples;
    let rounds = config.rounds.max(1);
    if n % rounds != 0 {
        return Err(format!("{n} examples do not split into {rounds} equal rounds").into());
    }
    let per_round = n / rounds;
    let counts = Arc::new(Counts::new(n));
    let host = Arc::new(MockHost::start_with(responder(counts.clone()), config.latency)?);
    host.server().set_fault_plan(Some(plan(counts.clone(), config)));
    let client_runtime = runtime(config.workers)?;
    let fds_before = open_fds();

    let retry =
        RetryPolicy::default().with_initial_delay(Duration::from_millis(50)).with_max_delay(Duration::from_secs(1));
    let provider =
        OpenAiProvider::new(MODEL).base_url(host.server().base_url()).api_key("sk-soak").timeout(config.timeout);
    let lm = SharedLm::new(LmBuilder::new(provider).cache(CacheConfig::disabled()).retry(retry).build()?);
    let program = Predict::from_signature("id -> answer")?;

    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (samples, stop, host) = (samples.clone(), stop.clone(), host.clone());
        let every = config.sample_every;
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let sample = Sample {
                    requests: host.server().request_count() as u64,
                    rss_mib: rss_mib().unwrap_or(0.0),
                    fds: open_fds(),
                };
                samples.lock().unwrap_or_else(PoisonError::into_inner).push(sample);
                std::thread::sleep(every);
            }
        })
    };
    let mut tally = Tally { rows_per_id: vec![0; n], ..Tally::default() };
    let mut round_rss = Vec::with_capacity(rounds);
    let started = Instant::now();
    let mut failure = None;
    for round in 0..rounds {
        let offset = round * per_round;
        let devset: Arc<[Example]> = (offset..offset + per_round)
            .map(|i| Example::from_pairs([("id", format!("soak-{i}")), ("answer", answer_of(i))]).with_inputs(["id"]))
            .collect::<Vec<_>>()
            .into();
        let evaluate = Evaluate::new(devset).concurrency(config.concurrency)?.unlimited_errors();
        match client_runtime.block_on(with_lm(lm.clone(), evaluate.run(&program, &AnswerExactMatch::new()))) {
            Ok(result) => tally.add(&counts, &result, offset, per_round),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        round_rss.push(rss_mib().unwrap_or(0.0));
    }
    let wall = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    if let Some(e) = failure {
        return Err(e.into());
    }
    drop(lm);
    drop(client_runtime);
    // Let the server see the client's sockets close.
    std::thread::sleep(Duration::from_millis(300));
    let fds_after = open_fds();
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(PoisonError::into_inner));
    let lost = tally.rows_per_id.iter().filter(|&&c| c == 0).count();
    let duplicated =
        tally.rows_per_id.iter().map(|&c| c.saturating_sub(1) as usize).sum::<usize>() + tally.out_of_range;
    let unseen = counts.requests.iter().filter(|c| c.load(Ordering::Relaxed) == 0).count();
    Ok(SoakReport {
        config: config.clone(),
        requests: host.server().request_count() as u64,
        faults: std::array::from_fn(|k| counts.faults[k].load(Ordering::Relaxed)),
        scored: tally.scored,
        errors: tally.errors,
        lost,
        duplicated,
        unseen,
        extra_answers: tally.extra_answers,
        untyped: tally.untyped,
        score: tally.score_sum * 100.0 / n.max(1) as f64,
        wall,
        max_in_flight: host.server().max_in_flight(),
        peak_rss_mib: crate::peak_rss_mib().unwrap_or(0.0),
        round_rss,
        samples,
        fds_before,
        fds_after,
    })
}
