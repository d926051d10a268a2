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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kestrel_core::Example;
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_eval::{Evaluate, EvaluationResult, ExampleError};
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{LmBuilder, LmError, LmRequest, RetryPolicy, SharedLm, with_lm};
use kestrel_modules::Predict;
use kestrel_testkit::mock::{Fault, FaultPlan, Responder};
use kestrel_testkit::simulated::PromptView;
use serde_json::Value;

use crate::{MODEL, MockHost, runtime};

/// The fault kinds injected, in the order reports list them.
pub const KINDS: [&str; 11] = [
    "429 + Retry-After",
    "500",
    "503 + retry-after-ms",
    "stall past the timeout",
    "connection reset",
    "truncated body",
    "malformed JSON",
    "missing fields",
    "garbled reply (adapter parse)",
    "400 context window",
    "401 auth",
];

/// Index in [`KINDS`] of the garbled reply, which the responder (not a
/// server fault) produces.
const GARBLED: usize = 8;

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

/// What a soak run measured.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// The configuration run.
    pub config: SoakConfig,
    /// HTTP requests the server received.
    pub requests: u64,
    /// Faults injected, by kind (index in [`KINDS`]).
    pub faults: [u64; KINDS.len()],
    /// Examples scored (a prediction and a metric score).
    pub scored: usize,
    /// Examples that ended with an error, by its typed kind.
    pub errors: BTreeMap<String, usize>,
    /// Examples missing from the result.
    pub lost: usize,
    /// Result rows beyond one per example.
    pub duplicated: usize,
    /// Example ids the server never saw.
    pub unseen: usize,
    /// Scored examples the server answered more often than the faults that
    /// threw an answer away allow (a call paid twice).
    pub extra_answers: usize,
    /// Errors that are not a typed LM error.
    pub untyped: usize,
    /// The score.
    pub score: f64,
    /// Wall time of the evaluation.
    pub wall: Duration,
    /// Most requests the server had in flight at once.
    pub max_in_flight: usize,
    /// Samples, in time order.
    pub samples: Vec<Sample>,
    /// Resident memory after each round (its result dropped), MiB.
    pub round_rss: Vec<f64>,
    /// Peak resident memory of the process (`VmHWM`), MiB.
    pub peak_rss_mib: f64,
    /// Open descriptors before the client was built.
    pub fds_before: usize,
    /// Open descriptors after the client was dropped.
    pub fds_after: usize,
}

/// Server-side counts by example id.
#[derive(Debug)]
struct Counts {
    requests: Vec<AtomicU32>,
    answers: Vec<AtomicU32>,
    /// Faults that made the server produce an answer the client never got.
    answers_lost: Vec<AtomicU32>,
    garble: Vec<AtomicBool>,
    faults: [AtomicU64; KINDS.len()],
}

impl Counts {
    fn new(n: usize) -> Self {
        let zeros = || (0..n).map(|_| AtomicU32::new(0)).collect::<Vec<_>>();
        Self {
            requests: zeros(),
            answers: zeros(),
            answers_lost: zeros(),
            garble: (0..n).map(|_| AtomicBool::new(false)).collect(),
            faults: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The example id (`soak-<i>`) in the request's last message.
fn id_of(request: &LmRequest) -> Option<usize> {
    let text = &request.messages.last()?.content;
    let start = text.find("soak-")? + 5;
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The right answer of example `i`.
fn answer_of(i: usize) -> String {
    ((i as u64).wrapping_mul(2_654_435_761) % 100_003).to_string()
}

/// SplitMix64: the fault plan's hash of `(seed, arrival number)`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The fault of kind `kind` (not the garbled reply).
fn fault(kind: usize, stall: Duration) -> Option<Fault> {
    Some(match kind {
        0 => Fault::status(429).retry_after_secs(1).into(),
        1 => Fault::status(500).into(),
        2 => Fault::status(503).retry_after_ms(100).into(),
        3 => Fault::Delay(stall),
        4 => Fault::DropConnection,
        5 => Fault::TruncatedBody,
        6 => Fault::MalformedBody,
        7 => Fault::MissingFields,
        9 => Fault::ContextWindowExceeded,
        10 => Fault::status(401).into(),
        _ => return None,
    })
}

fn plan(counts: Arc<Counts>, config: &SoakConfig) -> FaultPlan {
    let threshold = (config.fault_rate.clamp(0.0, 1.0) * u64::MAX as f64) as u64;
    let seed = config.seed;
    let stall = config.timeout * 2;
    FaultPlan::new(move |seq, request| {
        let id = request.and_then(id_of).filter(|&i| i < counts.requests.len());
        if let Some(i) = id {
            counts.requests[i].fetch_add(1, Ordering::Relaxed);
        }
        let h = mix(seed ^ mix(seq));
        if h >= threshold {
            return None;
        }
        let kind = (mix(h) % KINDS.len() as u64) as usize;
        counts.faults[kind].fetch_add(1, Ordering::Relaxed);
        if let Some(i) = id {
            if kind == GARBLED {
                counts.garble[i].store(true, Ordering::Relaxed);
            }
            // A stall or a truncated body makes the server answer (the
            // responder runs) while the client gets nothing usable.
            if kind == 3 || kind == 5 {
                counts.answers_lost[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        fault(kind, stall)
    })
}

fn responder(counts: Arc<Counts>) -> Responder {
    Responder::from_fn(move |request| {
        let i = id_of(request).filter(|&i| i < counts.answers.len()).ok_or("no soak id in the request")?;
        counts.answers[i].fetch_add(1, Ordering::Relaxed);
        if counts.garble[i].swap(false, Ordering::Relaxed) {
            counts.answers_lost[i].fetch_add(1, Ordering::Relaxed);
            return Ok("I would rather not follow the output format today.".to_string());
        }
        let view = PromptView::parse(request)?;
        view.render(&[("answer".to_string(), Value::String(answer_of(i)))])
    })
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

/// The typed kind of an example's error: the `LmError` variant at its root,
/// or `None` when it is not an LM error.
fn error_kind(error: &ExampleError) -> Option<String> {
    let lm = error.lm_error()?;
    let name = match lm {
        LmError::RateLimited { .. } => "RateLimited",
        LmError::Timeout { .. } => "Timeout",
        LmError::Connection { .. } => "Connection",
        LmError::Auth { .. } => "Auth",
        LmError::ContextWindowExceeded { .. } => "ContextWindowExceeded",
        LmError::BadRequest { .. } => "BadRequest",
        LmError::Server { .. } => "Server",
        LmError::BadResponse { .. } => "BadResponse",
        LmError::Parse(_) => "Parse",
        other => return Some(format!("other LmError: {other}")),
    };
    Some(name.to_string())
}

/// Outcomes counted over the rounds.
#[derive(Debug, Default)]
struct Tally {
    rows_per_id: Vec<u32>,
    scored: usize,
    untyped: usize,
    extra_answers: usize,
    out_of_range: usize,
    errors: BTreeMap<String, usize>,
    score_sum: f64,
}

impl Tally {
    /// Count one round's result, whose row `k` is example `offset + k`.
    fn add(&mut self, counts: &Counts, result: &EvaluationResult, offset: usize, len: usize) {
        self.score_sum += result.sum();
        for row in &result.results {
            let id = offset + row.index;
            let Some(slot) = self.rows_per_id.get_mut(id).filter(|_| row.index < len) else {
                self.out_of_range += 1;
                continue;
            };
            *slot += 1;
            match &row.error {
                None if row.prediction.is_some() => {
                    self.scored += 1;
                    let answers = counts.answers[id].load(Ordering::Relaxed);
                    let lost = counts.answers_lost[id].load(Ordering::Relaxed);
                    // A stall may or may not reach the responder before the
                    // client leaves, so `lost` is an upper bound.
                    if answers > 1 + lost {
                        self.extra_answers += 1;
                    }
                }
                None => self.untyped += 1,
                Some(error) => match error_kind(error) {
                    Some(kind) => *self.errors.entry(kind).or_insert(0) += 1,
                    None => self.untyped += 1,
                },
            }
        }
    }
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

impl SoakReport {
    /// Faults injected in all.
    pub fn total_faults(&self) -> u64 {
        self.faults.iter().sum()
    }

    /// Examples that ended with a typed error.
    pub fn typed_errors(&self) -> usize {
        self.errors.values().sum()
    }

    /// Resident memory when the server had received `share` of its
    /// requests (the first sample at or past it).
    pub fn rss_at(&self, share: f64) -> Option<f64> {
        let mark = (self.requests as f64 * share) as u64;
        self.samples.iter().find(|s| s.requests >= mark).map(|s| s.rss_mib)
    }

    /// Highest sampled resident memory after `share` of the requests.
    pub fn max_rss_after(&self, share: f64) -> Option<f64> {
        let mark = (self.requests as f64 * share) as u64;
        self.samples.iter().filter(|s| s.requests >= mark).map(|s| s.rss_mib).reduce(f64::max)
    }

    /// Most descriptors open in any sample.
    pub fn max_fds(&self) -> usize {
        self.samples.iter().map(|s| s.fds).max().unwrap_or(0)
    }

    /// Every broken promise, empty when the run is clean: an example lost,
    /// duplicated, unseen by the server, paid twice or with an untyped
    /// outcome; descriptors left open; not every example accounted for.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let n = self.config.examples;
        let checks = [
            (self.lost, "examples lost (no result row)"),
            (self.duplicated, "duplicated result rows"),
            (self.unseen, "examples the server never saw"),
            (self.extra_answers, "scored examples answered more often than their faults allow"),
            (self.untyped, "outcomes that are neither a score nor a typed LM error"),
        ];
        for (count, what) in checks {
            if count > 0 {
                problems.push(format!("{count} {what}"));
            }
        }
        if self.scored + self.typed_errors() + self.untyped != n {
            problems.push(format!("{} scored + {} errors != {n} examples", self.scored, self.typed_errors()));
        }
        // The sampler thread's own /proc reads can hold one descriptor.
        if self.fds_after > self.fds_before + 1 {
            problems.push(format!("descriptor leak: {} open before, {} after", self.fds_before, self.fds_after));
        }
        if (self.requests as usize) < n {
            problems.push(format!("{} requests for {n} examples", self.requests));
        }
        problems
    }

    /// The figures as Markdown.
    pub fn markdown(&self) -> String {
        let c = &self.config;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} examples in {} evaluation(s), {} in flight, {:.1}% faults (seed {}), latency {:?}, timeout {:?}, {} client workers, cache off\n",
            c.examples,
            c.rounds,
            c.concurrency,
            c.fault_rate * 100.0,
            c.seed,
            c.latency,
            c.timeout,
            c.workers
        );
        let _ = writeln!(out, "| figure | value |\n|---|---|");
        let _ = writeln!(out, "| LM calls (HTTP requests served) | {} |", self.requests);
        let _ = writeln!(out, "| most requests in flight at the server | {} |", self.max_in_flight);
        let _ = writeln!(
            out,
            "| faults injected | {} ({:.2}%) |",
            self.total_faults(),
            self.total_faults() as f64 * 100.0 / self.requests.max(1) as f64
        );
        let _ = writeln!(out, "| examples scored | {} (score {:.2}) |", self.scored, self.score);
        let errors: Vec<String> = self.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "| examples with a typed error | {} ({}) |", self.typed_errors(), errors.join(", "));
        let _ = writeln!(
            out,
            "| lost / duplicated / unseen by the server / paid twice / untyped | {} / {} / {} / {} / {} |",
            self.lost, self.duplicated, self.unseen, self.extra_answers, self.untyped
        );
        let _ = writeln!(
            out,
            "| wall time | {:.1} s ({:.0} calls/s) |",
            self.wall.as_secs_f64(),
            self.requests as f64 / self.wall.as_secs_f64().max(1e-9)
        );
        let _ = writeln!(out, "| peak RSS (`VmHWM`, client + in-process server) | {:.1} MiB |", self.peak_rss_mib);
        let rss = |share| self.rss_at(share).map_or("—".to_string(), |m| format!("{m:.1}"));
        let _ =
            writeln!(out, "| RSS at 20% / 50% / 80% of the calls, MiB | {} / {} / {} |", rss(0.2), rss(0.5), rss(0.8));
        let _ =
            writeln!(out, "| highest RSS after 20% of the calls | {:.1} MiB |", self.max_rss_after(0.2).unwrap_or(0.0));
        if self.round_rss.len() > 1 {
            let rounds: Vec<String> = self.round_rss.iter().map(|m| format!("{m:.1}")).collect();
            let _ = writeln!(out, "| RSS after each evaluation (its result dropped), MiB | {} |", rounds.join(" / "));
        }
        let _ = writeln!(
            out,
            "| descriptors before / most during / after | {} / {} / {} |",
            self.fds_before,
            self.max_fds(),
            self.fds_after
        );
        let _ = writeln!(out, "\n| fault kind | injected |\n|---|---|");
        for (kind, count) in KINDS.iter().zip(self.faults) {
            let _ = writeln!(out, "| {kind} | {count} |");
        }
        out
    }
}
