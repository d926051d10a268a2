//! MIPROv2's cost estimate, printed before a compile starts: LM calls by
//! phase. The prompt-model and program-evaluation figures are DSPy 3.4.1's
//! `_estimate_lm_calls` (DSPy defines it but no longer prints it); the demo
//! bootstrapping figure, which DSPy does not estimate, is Kestrel's upper
//! bound.

use std::fmt;

use serde::Serialize;

/// DSPy's fixed allowance for dataset-summary calls.
pub const DATA_SUMMARY_CALLS: usize = 10;

/// LM calls a MIPROv2 compile is expected to make, by phase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CostEstimate {
    /// Step 1: bootstrapped demo sets (unshuffled and shuffled).
    pub bootstrapped_sets: usize,
    /// Training examples a bootstrap may run the teacher on.
    pub trainset_size: usize,
    /// Teacher attempts per example.
    pub max_rounds: usize,
    /// Step 1's upper bound of teacher program runs:
    /// `bootstrapped_sets · trainset_size · max_rounds` (a bootstrap stops
    /// once it has its demos, so usually far fewer).
    pub demo_bootstrap_program_calls: usize,
    /// Step 2: DSPy's allowance for the dataset summary (10).
    pub data_summary_calls: usize,
    /// Step 2: instruction candidates per predictor.
    pub num_instruct_candidates: usize,
    /// Predictors in the program.
    pub num_predictors: usize,
    /// Step 2: DSPy's program-aware allowance (`num_predictors + 1`, 0 when
    /// the proposer is not program aware).
    pub program_aware_calls: usize,
    /// Step 2 in total (DSPy's `estimated_prompt_model_calls`).
    pub prompt_model_calls: usize,
    /// Step 3: whether trials are scored on minibatches.
    pub minibatch: bool,
    /// Step 3: examples per minibatch.
    pub minibatch_size: usize,
    /// Step 3: minibatch (or full) trials.
    pub num_trials: usize,
    /// Step 3: validation examples.
    pub valset_size: usize,
    /// Step 3: full evaluations DSPy counts (`num_trials // steps + 1`).
    pub full_evals: usize,
    /// Step 3 in total: program runs (DSPy's `estimated_task_model_calls`).
    pub trial_program_calls: usize,
}

impl CostEstimate {
    /// The estimate for these settings.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        bootstrapped_sets: usize,
        trainset_size: usize,
        num_instruct_candidates: usize,
        num_predictors: usize,
        program_aware: bool,
        search: &super::TrialSearch,
        settings: (bool, usize, usize, usize),
    ) -> Self {
        let (minibatch, minibatch_size, steps, valset_size) = settings;
        let program_aware_calls = if program_aware { num_predictors + 1 } else { 0 };
        Self {
            bootstrapped_sets,
            trainset_size,
            max_rounds: 1,
            demo_bootstrap_program_calls: bootstrapped_sets * trainset_size,
            data_summary_calls: DATA_SUMMARY_CALLS,
            num_instruct_candidates,
            num_predictors,
            program_aware_calls,
            prompt_model_calls: DATA_SUMMARY_CALLS + num_instruct_candidates * num_predictors + program_aware_calls,
            minibatch,
            minibatch_size,
            num_trials: search.get_num_trials(),
            valset_size,
            full_evals: search.get_num_trials() / steps.max(1) + 1,
            trial_program_calls: search.estimated_eval_calls(),
        }
    }

    /// LM calls of every phase together (program runs counted once each).
    pub fn total(&self) -> usize {
        self.demo_bootstrap_program_calls + self.prompt_model_calls + self.trial_program_calls
    }
}

impl fmt::Display for CostEstimate {
    /// DSPy's two lines (without its colours), after Kestrel's bootstrap line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Estimated LM calls:")?;
        writeln!(
            f,
            "- Demo Bootstrapping: at most {} bootstrapped sets * {} examples * {} rounds = {} LM program calls",
            self.bootstrapped_sets, self.trainset_size, self.max_rounds, self.demo_bootstrap_program_calls
        )?;
        writeln!(
            f,
            "- Prompt Generation: {} data summarizer calls + {} * {} lm calls in program + ({}) lm calls in \
             program-aware proposer = {} prompt model calls",
            self.data_summary_calls,
            self.num_instruct_candidates,
            self.num_predictors,
            self.num_predictors + 1,
            self.prompt_model_calls
        )?;
        if self.minibatch {
            writeln!(
                f,
                "- Program Evaluation: {} examples in minibatch * {} batches + {} examples in val set * {} full \
                 evals = {} LM Program calls",
                self.minibatch_size, self.num_trials, self.valset_size, self.full_evals, self.trial_program_calls
            )
        } else {
            writeln!(
                f,
                "- Program Evaluation: {} examples in val set * {} batches = {} LM program calls",
                self.valset_size, self.num_trials, self.trial_program_calls
            )
        }
    }
}
