//! MIPROv2's grounded instruction proposer (DSPy 3.4.1's `GroundedProposer`,
//! as `MIPROv2._propose_instructions` builds and calls it). The search that
//! uses its proposals (demo candidates, TPE trials) is not built yet.
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

mod ask;
mod dataset_summary;
mod program_code;
mod proposer;
mod proposer_prompts;
mod pyrepr;
mod strip_prefix;
mod task_demos;
mod tips;

pub use program_code::default_program_code;
pub use proposer::{
    DEFAULT_NUM_DEMOS_IN_CONTEXT, DEFAULT_PROPOSER_CONCURRENCY, DEFAULT_PROPOSER_TEMPERATURE,
    DEFAULT_VIEW_DATA_BATCH_SIZE, GroundedProposer, InstructionProposals, ProposalDraw,
};
pub use strip_prefix::strip_prefix;
pub use tips::{TIPS, tip_text};
