//! Kestrel optimizers: compile a program against a metric and a training
//! set, choosing demos as DSPy 3.x does — concurrently, with the same
//! choices a sequential run makes.
//!
//! - [`LabeledFewShot`]: `k` labeled training examples per predictor.
//! - [`BootstrapFewShot`]: a teacher runs the training examples inside a
//!   trace scope; accepted runs become `augmented` demos, labeled examples
//!   fill the remaining slots.
//! - [`BootstrapFewShotWithRandomSearch`]: zero-shot, labeled-only,
//!   unshuffled and shuffled bootstraps, all scored on a validation set; the
//!   best wins.
//! - [`Copro`]: coordinate ascent over each predictor's instruction and
//!   output prefix, proposed by a prompt model from the scores so far.
//! - [`MiproV2`]: DSPy's MIPROv2 — demo sets bootstrapped as the random
//!   search does, instructions proposed from the data and the program, both
//!   searched jointly by a seeded TPE on minibatches; `auto` modes, budgets.
//! - [`Gepa`]: DSPy's GEPA — reflective instruction evolution: a
//!   reflection LM reads the metric's feedback on minibatch runs and
//!   rewrites one predictor's instruction; candidates that improve their
//!   minibatch join a per-example Pareto frontier; merges; `auto` budgets.
//! - [`Simba`]: DSPy's SIMBA — minibatch ascent that samples trajectories,
//!   finds the examples whose runs disagree most, and improves the program
//!   with a demo from the best run or a rule the prompt model writes by
//!   contrasting the best and the worst run.
//! - [`KnnFewShot`]: per call, the `k` training examples nearest to the
//!   inputs by an embedder ([`Knn`]; brute force, HNSW on large sets), then
//!   BootstrapFewShot on them.
//! - [`Ensemble`]: several programs behind one, their outputs combined by
//!   a reduce function such as [`majority_of`], optionally a seeded random
//!   subset per call.
//! - [`BootstrapFinetune`]: DSPy's weight optimizer — successful teacher
//!   traces become chat-format training data, one fine-tuning job per
//!   distinct (LM, data) pair runs on a `kestrel_lm::FinetuneBackend`, the
//!   predictors get the fine-tuned LMs.
//! - [`BetterTogether`]: a strategy such as `p -> w -> p` over named
//!   optimizers (prompt and weight), seeded trainset shuffles between
//!   stages, the best stage on the validation set kept.
//! - [`mipro::GroundedProposer`]: MIPROv2's instruction proposer (dataset
//!   summary, program and module descriptions, demos, random tips).
//! - [`TrialSearch`] and [`TpeSampler`]: MIPROv2's search over instruction
//!   and demo-set candidates per predictor (a seeded TPE, DSPy's minibatch
//!   and full-evaluation schedule), independent of any LM.
//!
//! Every optimizer implements [`Optimizer`]: `compile(&student, &trainset)`
//! returns a new program ([`Compiled`], which derefs to it) with a
//! [`CompileReport`] — candidates and scores, LM calls, cache hits, tokens,
//! cost, wall time, skipped examples. The student is never mutated. A failing
//! example is skipped and counted against `max_errors`; it never aborts a
//! compile.
//!
//! Any compile can be made resumable ([`Resumable`], [`compile_resumable`],
//! [`JournalOptions`]): finished work is journaled beside the LM cache, a
//! rerun of the same command resumes it and ends with the same program, and
//! a cancellation token (Ctrl-C) stops it cleanly.
//!
//! ```no_run
//! use kestrel_core::{Example, Prediction};
//! use kestrel_modules::{ChainOfThought, Trace};
//! use kestrel_optimizers::{BootstrapFewShot, Optimizer};
//!
//! # async fn run(trainset: Vec<Example>) -> Result<(), kestrel_optimizers::OptimizerError> {
//! let program = ChainOfThought::from_signature("question -> answer")?;
//! let metric = |ex: &Example, pred: &Prediction, _: Option<&Trace>| ex.get("answer") == pred.get("answer");
//! let compiled = BootstrapFewShot::new(metric).max_bootstrapped_demos(4).compile(&program, &trainset).await?;
//! println!("{}", compiled.report);
//! # Ok(()) }
//! ```
//!
//! Invariant: optimizers see programs only through the `Module` trait and its
//! predictor visitor; they make candidates by cloning and setting predictor
//! state, never by mutating a program another task is running.

mod bootstrap;
mod budget_stop;
mod copro;
mod cost_estimate;
mod dyn_optimizer;
pub mod ensemble;
mod error;
pub mod finetune;
pub mod gepa;
mod in_order;
mod instruction_report;
pub mod knn_fewshot;
mod labeled;
pub mod mipro;
mod optimizer;
mod phase_usage;
mod progress;
mod random_search;
mod report;
mod report_html;
mod resumable;
mod schedule;
pub mod simba;

pub use bootstrap::{BootstrapFewShot, DEFAULT_CONCURRENCY, DEFAULT_MAX_ERRORS};
pub use copro::{Copro, DEFAULT_BREADTH, DEFAULT_COPRO_CONCURRENCY, DEFAULT_DEPTH, DEFAULT_INIT_TEMPERATURE};
pub use cost_estimate::{CallProfile, CompileEstimate, ProgramRuns, estimate_compile};
pub use dyn_optimizer::DynOptimizer;
pub use ensemble::{Ensemble, Ensembled, majority_of};
pub use error::OptimizerError;
pub use finetune::better_together::{BetterTogether, BetterTogetherReport, StagePredictor, StageReport};
pub use finetune::{BootstrapFinetune, FinetuneJobReport, FinetuneReport};
pub use gepa::{
    CandidateSelection, ComponentSelection, DEFAULT_GEPA_CONCURRENCY, DEFAULT_GEPA_SEED, DEFAULT_MAX_MERGE_INVOCATIONS,
    DEFAULT_REFLECTION_MINIBATCH_SIZE, Gepa, GepaBudget, GepaCandidate, GepaOrigin, GepaRejected, GepaReport,
};
pub use instruction_report::{DepthStats, InstructionCandidate, ProposalFailure, StatsKind};
pub use knn_fewshot::{Knn, KnnFewShot, KnnProgram};
pub use labeled::{DEFAULT_K, LabeledFewShot};
pub use mipro::{
    AutoMode, CostEstimate, DEFAULT_MINIBATCH_FULL_EVAL_STEPS, DEFAULT_MINIBATCH_SIZE, DEFAULT_MIPRO_SEED,
    DEFAULT_N_EI_CANDIDATES, DEFAULT_N_STARTUP_TRIALS, DEFAULT_PRIOR_WEIGHT, EvalBatch, MiproReport, MiproV2,
    PredictorChoice, PredictorSpace, SearchOutcome, SearchProgress, TpeObservation, TpeSampler, TrialKind, TrialLog,
    TrialRequest, TrialSearch,
};
pub use optimizer::{Compiled, Optimizer, demo_counts, has_demos, reset_copy};
pub use phase_usage::PhaseUsage;
pub use random_search::{BootstrapFewShotWithRandomSearch, DEFAULT_SEARCH_CONCURRENCY};
pub use report::{CandidateKind, CandidateScore, CompileReport, SkippedExample, StopReason};
pub use resumable::{JournalOptions, Resumable, compile_resumable};
pub use simba::{DEFAULT_SIMBA_CONCURRENCY, Simba};

/// Result alias for this crate.
pub type Result<T, E = OptimizerError> = std::result::Result<T, E>;
