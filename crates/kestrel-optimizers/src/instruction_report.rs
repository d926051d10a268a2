//! Report entries of the instruction optimizers: every (instruction, output
//! prefix) candidate scored, per predictor, and COPRO's per-depth score
//! statistics (`track_stats`).

use serde::Serialize;

/// One instruction candidate an instruction optimizer scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstructionCandidate {
    /// The predictor's path (`self`, `generate.predict`, ...).
    pub predictor: String,
    /// The instruction text.
    pub instruction: String,
    /// The prefix of the predictor's last output field.
    pub prefix: String,
    /// Score of the whole program with this candidate in place (percent).
    pub score: f64,
    /// The search round that proposed it (0-based; COPRO's `depth`).
    pub depth: usize,
}

/// Which of COPRO's two statistics a [`DepthStats`] row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatsKind {
    /// The top 10 scores of every candidate so far (DSPy's `results_best`).
    Best,
    /// The scores of the newest candidates (DSPy's `results_latest`).
    Latest,
}

/// Score statistics of one predictor at one depth (COPRO's `track_stats`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepthStats {
    /// The predictor's path.
    pub predictor: String,
    /// Best-so-far or newest candidates.
    pub kind: StatsKind,
    /// The depth (0-based).
    pub depth: usize,
    /// Highest score.
    pub max: f64,
    /// Mean score.
    pub average: f64,
    /// Lowest score.
    pub min: f64,
    /// Population standard deviation (Python's `statistics.pstdev`).
    pub std: f64,
}

impl DepthStats {
    /// Statistics of `scores` (`None` when empty).
    pub(crate) fn of(predictor: &str, kind: StatsKind, depth: usize, scores: &[f64]) -> Option<Self> {
        if scores.is_empty() {
            return None;
        }
        let n = scores.len() as f64;
        let average = scores.iter().sum::<f64>() / n;
        let variance = scores.iter().map(|s| (s - average).powi(2)).sum::<f64>() / n;
        Some(Self {
            predictor: predictor.to_string(),
            kind,
            depth,
            max: scores.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            average,
            min: scores.iter().copied().fold(f64::INFINITY, f64::min),
            std: variance.sqrt(),
        })
    }
}

/// A proposal request that failed; the search went on without its
/// candidates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposalFailure {
    /// The predictor the proposal was for.
    pub predictor: String,
    /// The round (0 = the first proposals).
    pub depth: usize,
    /// What went wrong.
    pub error: String,
}
