//! [`PhaseUsage`]: what one phase of a compile spent (LM calls, cache hits,
//! tokens, cost, wall time), and the clock that measures phases one after
//! another from a live [`UsageMeter`].

use std::time::{Duration, Instant};

use kestrel_lm::UsageMeter;
use kestrel_lm::usage::ModelUsage;
use serde::Serialize;

/// LM usage and wall time of one phase of a compile.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhaseUsage {
    /// The phase (`demo sets and dataset summary`, `instruction proposal`,
    /// `trials`).
    pub phase: String,
    /// LM calls, cache hits, tokens and cost spent in the phase.
    pub usage: ModelUsage,
    /// Wall time of the phase.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Measures consecutive phases: each [`PhaseClock::lap`] returns what was
/// spent since the previous lap (or since the clock started).
pub(crate) struct PhaseClock<'a> {
    meter: &'a UsageMeter,
    usage: ModelUsage,
    started: Instant,
}

impl<'a> PhaseClock<'a> {
    /// A clock starting now, at the meter's current totals.
    pub(crate) fn start(meter: &'a UsageMeter) -> Self {
        Self { meter, usage: meter.snapshot().total, started: Instant::now() }
    }

    /// The phase that just ended, named `phase`.
    pub(crate) fn lap(&mut self, phase: &str) -> PhaseUsage {
        let now = self.meter.snapshot().total;
        let elapsed = self.started.elapsed();
        let usage = ModelUsage {
            calls: now.calls.saturating_sub(self.usage.calls),
            cache_hits: now.cache_hits.saturating_sub(self.usage.cache_hits),
            prompt_tokens: now.prompt_tokens.saturating_sub(self.usage.prompt_tokens),
            completion_tokens: now.completion_tokens.saturating_sub(self.usage.completion_tokens),
            cost_usd: (now.cost_usd - self.usage.cost_usd).max(0.0),
        };
        self.usage = now;
        self.started = Instant::now();
        PhaseUsage { phase: phase.to_string(), usage, elapsed }
    }
}
