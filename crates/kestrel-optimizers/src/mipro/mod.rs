//! MIPROv2 (DSPy 3.4.1): instructions and demo sets searched jointly.
//!
//! **The optimizer**, [`MiproV2`] (`optimizer.rs`, `compile.rs`): DSPy's
//! parameters, `auto` settings (`auto.rs`), the cost estimate printed first
//! (`estimate.rs`), step 1's demo sets (`demo_sets.rs`), step 2's proposals
//! (below), step 3's search (below), budgets checked between phases and
//! trials (`budget.rs`), and what it chose ([`MiproReport`], `report.rs`).
//!
//! **The instruction proposer**: DSPy 3.4.1's `GroundedProposer`, as
//! `MIPROv2._propose_instructions` builds and calls it.
//!
//! For every predictor and demo set, the prompt model writes a new
//! instruction from what it is told about the task:
//!
//! 1. a **dataset summary** (`dataset_summary.rs`): observations on
//!    batches of the trainset, summarized in 2–3 sentences;
//! 2. per proposal, on an LM copy with a fresh `rollout_id` and temperature
//!    `init_temperature`: a **program description** from `program_code`
//!    ([`default_program_code`]) and the demos, a **module description** of the
//!    predictor (`Predict(inputs) -> outputs`), then
//!    `GenerateSingleModuleInstruction` with the summary, the descriptions,
//!    the **task demos** (`task_demos.rs`), the current instruction and a
//!    random **tip** ([`TIPS`]);
//! 3. the reply's label is dropped ([`strip_prefix`], twice, as DSPy does).
//!
//! Randomness comes only from the caller's `PyRandom` (CPython's generator):
//! per proposal a tip choice and a rollout id, all drawn before any call, in
//! DSPy's order, so the proposals do not depend on how many run at once.
//! The prompts are DSPy's byte for byte (`proposer_prompts.rs`), including
//! the Python `repr` of the examples (`pyrepr.rs`).
//!
//! **The search.**
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

mod ask;
mod dataset_summary;
mod program_code;
mod proposer;
mod proposer_prompts;
mod pyrepr;
mod strip_prefix;
mod task_demos;
mod tips;

mod search;
mod tpe;

mod auto;
mod budget;
mod compile;
mod demo_sets;
mod estimate;
mod optimizer;
mod report;

pub use program_code::default_program_code;
pub use proposer::{
    DEFAULT_NUM_DEMOS_IN_CONTEXT, DEFAULT_PROPOSER_CONCURRENCY, DEFAULT_PROPOSER_TEMPERATURE,
    DEFAULT_VIEW_DATA_BATCH_SIZE, GroundedProposer, InstructionProposals, ProposalDraw,
};
pub use strip_prefix::strip_prefix;
pub use tips::{TIPS, tip_text};

pub use search::{
    DEFAULT_MINIBATCH_FULL_EVAL_STEPS, DEFAULT_MINIBATCH_SIZE, DEFAULT_MIPRO_SEED, EvalBatch, PredictorChoice,
    PredictorSpace, SearchOutcome, SearchProgress, TrialKind, TrialLog, TrialRequest, TrialSearch,
};
pub use tpe::{DEFAULT_N_EI_CANDIDATES, DEFAULT_N_STARTUP_TRIALS, DEFAULT_PRIOR_WEIGHT, TpeObservation, TpeSampler};

pub use auto::{AutoMode, MIN_MINIBATCH_SIZE, num_trials_for};
pub use demo_sets::DemoSetInfo;
pub use estimate::CostEstimate;
pub use optimizer::{DEFAULT_MIPRO_CONCURRENCY, DEFAULT_MIPRO_MAX_DEMOS, MiproV2};
pub use report::{MiproReport, ScoredDemoSet, ScoredInstruction};
