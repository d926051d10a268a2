//! [`MiproReport`]: what a MIPROv2 compile chose and why — its settings and
//! cost estimate, every instruction and demo-set candidate with its average
//! minibatch score, every trial, and the winning one.

use std::fmt;

use kestrel_core::Example;
use serde::Serialize;

use super::auto::AutoMode;
use super::demo_sets::DemoSetInfo;
use super::estimate::CostEstimate;
use super::search::{PredictorChoice, TrialKind, TrialLog};
use crate::phase_usage::PhaseUsage;
use crate::report::CandidateKind;

/// One instruction candidate of one predictor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredInstruction {
    /// Its index (0 is the original instruction).
    pub index: usize,
    /// The instruction.
    pub instruction: String,
    /// Mean score of the minibatch trials that used it (`None`: never tried).
    pub average_score: Option<f64>,
    /// Minibatch trials that used it.
    pub trials: usize,
}

/// One demo set of one predictor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredDemoSet {
    /// Its index (the search's demo-set choice).
    pub index: usize,
    /// DSPy's loop seed of the set (`-3` zero-shot .. `0..` shuffled).
    pub seed: i64,
    /// How the set was made.
    pub kind: CandidateKind,
    /// The demos, in prompt order.
    pub demos: Vec<Example>,
    /// Mean score of the minibatch trials that used it (`None`: never tried).
    pub average_score: Option<f64>,
    /// Minibatch trials that used it.
    pub trials: usize,
}

/// MIPROv2's part of a [`crate::CompileReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MiproReport {
    /// The `auto` mode (`None`: explicit candidate and trial counts).
    pub auto: Option<AutoMode>,
    /// Zero-shot mode: only instructions were searched.
    pub zero_shot: bool,
    /// Trials scored on minibatches.
    pub minibatch: bool,
    /// TPE trials (DSPy's `num_trials`).
    pub num_trials: usize,
    /// Instruction candidates asked for per predictor.
    pub num_instruct_candidates: usize,
    /// Demo sets made.
    pub num_fewshot_candidates: usize,
    /// Training examples (after the split, when no valset was given).
    pub trainset_size: usize,
    /// Validation examples (after `auto`'s sample).
    pub valset_size: usize,
    /// The estimate printed before the compile started.
    pub estimate: CostEstimate,
    /// Predictor paths, in predictor order.
    pub predictors: Vec<String>,
    /// The demo sets as made (shared by the predictors).
    pub demo_sets: Vec<DemoSetInfo>,
    /// Instruction candidates per predictor.
    pub instruction_candidates: Vec<Vec<ScoredInstruction>>,
    /// Demo sets per predictor (empty in zero-shot mode).
    pub demo_set_candidates: Vec<Vec<ScoredDemoSet>>,
    /// The dataset summary the proposals saw.
    pub data_summary: Option<String>,
    /// Proposer steps that failed and were skipped.
    pub proposer_notes: Vec<String>,
    /// Every trial, in DSPy's trial numbers (chosen instruction and demo set
    /// per predictor, batch, score, examples scored so far).
    pub trials: Vec<TrialLog>,
    /// The best full-evaluation score (`None`: stopped before the default
    /// program was scored).
    pub best_score: Option<f64>,
    /// The trial whose program won (1 is the default program).
    pub best_trial: Option<usize>,
    /// The winning choice per predictor.
    pub best_params: Vec<PredictorChoice>,
    /// What each phase spent, in order (`demo sets and dataset summary`,
    /// `instruction proposal`, `trials`; a budget stop ends the list early).
    pub phases: Vec<PhaseUsage>,
}

impl MiproReport {
    /// The trials of one kind, in order.
    pub fn trials_of(&self, kind: TrialKind) -> impl Iterator<Item = &TrialLog> {
        self.trials.iter().filter(move |t| t.kind == kind)
    }
}

/// (mean, count) of the minibatch scores whose trial passes `uses`.
pub(crate) fn average<F: Fn(&TrialLog) -> bool>(trials: &[TrialLog], uses: F) -> (Option<f64>, usize) {
    let scores: Vec<f64> =
        trials.iter().filter(|t| t.kind == TrialKind::Minibatch && uses(t)).map(|t| t.score).collect();
    let n = scores.len();
    ((n > 0).then(|| scores.iter().sum::<f64>() / n as f64), n)
}

impl fmt::Display for MiproReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auto = self.auto.map_or("none", AutoMode::as_str);
        writeln!(
            f,
            "  MIPROv2 auto={auto}: {} trials, {} instruction candidates, {} demo sets, valset {}{}",
            self.num_trials,
            self.num_instruct_candidates,
            self.num_fewshot_candidates,
            self.valset_size,
            if self.zero_shot { " (zero-shot)" } else { "" }
        )?;
        for t in &self.trials {
            let best = if Some(t.number) == self.best_trial { "  <- best" } else { "" };
            let params: Vec<String> = t
                .params
                .iter()
                .map(|c| match c.demos {
                    Some(d) => format!("i{}/d{d}", c.instruction),
                    None => format!("i{}", c.instruction),
                })
                .collect();
            writeln!(
                f,
                "  trial {:>3} {:<9} {:>6.2}  [{}]{best}",
                t.number,
                format!("{:?}", t.kind),
                t.score,
                params.join(", ")
            )?;
        }
        Ok(())
    }
}
