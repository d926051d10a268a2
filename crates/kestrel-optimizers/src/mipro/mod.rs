//! MIPROv2 (DSPy 3.4.1): instructions and demo sets searched jointly.
//!
//! - `tpe.rs` — [`TpeSampler`]: a seeded categorical TPE (optuna's
//!   `TPESampler(multivariate=True)` defaults, constant liar for pending
//!   trials); why it is in-house rather than a crate is in its docs.
//! - `search.rs` — [`TrialSearch`]: DSPy's trial loop (default program
//!   first, minibatch trials, a full evaluation of the best-averaging
//!   unevaluated set every `minibatch_full_eval_steps` trials and at the
//!   end), LM-free: the caller scores each trial; several trials may run at
//!   once with a result that depends only on the seed and the concurrency
//!   setting; a budget callback stops it cleanly.

mod search;
mod tpe;

pub use search::{
    DEFAULT_MINIBATCH_FULL_EVAL_STEPS, DEFAULT_MINIBATCH_SIZE, DEFAULT_MIPRO_SEED, EvalBatch, PredictorChoice,
    PredictorSpace, SearchOutcome, SearchProgress, TrialKind, TrialLog, TrialRequest, TrialSearch,
};
pub use tpe::{DEFAULT_N_EI_CANDIDATES, DEFAULT_N_STARTUP_TRIALS, DEFAULT_PRIOR_WEIGHT, TpeObservation, TpeSampler};
