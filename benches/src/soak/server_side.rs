//! The server side of the soak: the fault kinds, the seeded fault plan
//! choosing one per request, the responder answering each example right
//! (or garbled when the plan says so), and what both count by example id.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use kestrel_lm::LmRequest;
use kestrel_testkit::mock::{Fault, FaultPlan, Responder};
use kestrel_testkit::simulated::PromptView;
use serde_json::Value;

use super::SoakConfig;

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

/// Server-side counts by example id.
#[derive(Debug)]
pub(super) struct Counts {
    pub(super) requests: Vec<AtomicU32>,
    pub(super) answers: Vec<AtomicU32>,
    /// Faults that made the server produce an answer the client never got.
    pub(super) answers_lost: Vec<AtomicU32>,
    pub(super) garble: Vec<AtomicBool>,
    pub(super) faults: [AtomicU64; KINDS.len()],
}

impl Counts {
    pub(super) fn new(n: usize) -> Self {
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
pub(super) fn answer_of(i: usize) -> String {
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

pub(super) fn plan(counts: Arc<Counts>, config: &SoakConfig) -> FaultPlan {
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

pub(super) fn responder(counts: Arc<Counts>) -> Responder {
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
