//! The soak's outcome: the tally of every result row by example id, the
//! [`SoakReport`] with its checks ([`SoakReport::problems`]) and its
//! Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kestrel_eval::{EvaluationResult, ExampleError};
use kestrel_lm::LmError;

use super::server_side::{Counts, KINDS};
use super::{Sample, SoakConfig};

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
pub(super) struct Tally {
    pub(super) rows_per_id: Vec<u32>,
    pub(super) scored: usize,
    pub(super) untyped: usize,
    pub(super) extra_answers: usize,
    pub(super) out_of_range: usize,
    pub(super) errors: BTreeMap<String, usize>,
    pub(super) score_sum: f64,
}

impl Tally {
    /// Count one round's result, whose row `k` is example `offset + k`.
    pub(super) fn add(&mut self, counts: &Counts, result: &EvaluationResult, offset: usize, len: usize) {
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
