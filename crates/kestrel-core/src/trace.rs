//! Trace records: what one predictor call took and returned. The task-local
//! scope that collects them lives in `kestrel-modules` (this crate knows no
//! async runtime).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::example::{Example, Prediction};

/// A predictor's identity, stable across clones of a program, so an
/// optimizer can map a trace back to the predictor's path (DSPy uses object
/// identity for this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PredictorId(u64);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl PredictorId {
    /// A fresh id, distinct from every other id made in this process.
    pub fn fresh() -> Self {
        PredictorId(NEXT_ID.fetch_add(1, Ordering::Relaxed))
    }

    /// The raw number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for PredictorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "predictor#{}", self.0)
    }
}

/// One predictor call seen while tracing.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    /// Which predictor ran.
    pub predictor: PredictorId,
    /// The predictor's path in its program when known (`generate.predict`),
    /// else its signature string.
    pub name: String,
    /// The inputs it was called with.
    pub inputs: Example,
    /// What it returned.
    pub outputs: Prediction,
}
