//! [`GepaReport`]: GEPA's part of a `CompileReport` — the candidate tree
//! (each candidate's parents, how it was made, which predictors changed, its
//! minibatch and validation scores), the rejected proposals, the Pareto
//! frontier and the budget spent — as text (`Display`, a tree) and JSON
//! (`Serialize`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::config::{CandidateSelection, ComponentSelection, GepaBudget};

/// How a candidate was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GepaOrigin {
    /// The student's own instructions.
    Seed,
    /// A reflective mutation of one parent.
    Reflection,
    /// A merge of two parents.
    Merge,
}

impl GepaOrigin {
    /// The origin as text (`seed`, `reflection`, `merge`).
    pub fn as_str(self) -> &'static str {
        match self {
            GepaOrigin::Seed => "seed",
            GepaOrigin::Reflection => "reflection",
            GepaOrigin::Merge => "merge",
        }
    }
}

/// One accepted candidate: a node of the candidate tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GepaCandidate {
    /// Its index (DSPy's candidate index; 0 is the seed).
    pub index: usize,
    /// Its parents (none for the seed, two for a merge).
    pub parents: Vec<usize>,
    /// How it was made.
    pub origin: GepaOrigin,
    /// The iteration that made it (0 for the seed).
    pub iteration: usize,
    /// Predictors whose instruction differs from the first parent's.
    pub changed: Vec<String>,
    /// Instruction per predictor path.
    pub instructions: BTreeMap<String, String>,
    /// The parent's minibatch score sum (the better parent's for a merge).
    pub minibatch_before: Option<f64>,
    /// Its own minibatch score sum.
    pub minibatch_after: Option<f64>,
    /// Average score on the validation set.
    pub val_score: f64,
    /// Score per validation example (with `track_stats`, else empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub val_subscores: Vec<f64>,
    /// Metric calls spent when it was found (DSPy's `discovery_eval_counts`).
    pub discovered_at_metric_calls: usize,
}

/// A proposal that was scored on its minibatch (or subsample) and not
/// accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GepaRejected {
    /// The iteration.
    pub iteration: usize,
    /// Its parent(s).
    pub parents: Vec<usize>,
    /// Reflection or merge.
    pub origin: GepaOrigin,
    /// Predictors it changed.
    pub changed: Vec<String>,
    /// The parent's minibatch score sum (the better parent's for a merge).
    pub minibatch_before: f64,
    /// Its minibatch score sum.
    pub minibatch_after: f64,
}

/// GEPA's settings and search record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GepaReport {
    /// The budget as configured.
    pub budget: GepaBudget,
    /// The metric calls it allows.
    pub max_metric_calls: usize,
    /// Metric calls made (program runs scored; DSPy's `total_metric_calls`).
    pub total_metric_calls: usize,
    /// Full validation evaluations (DSPy's `num_full_val_evals`).
    pub num_full_val_evals: usize,
    /// Iterations run.
    pub iterations: usize,
    /// The seed.
    pub seed: i64,
    /// Candidate selection strategy.
    pub candidate_selection: CandidateSelection,
    /// Component selector.
    pub component_selector: ComponentSelection,
    /// Accepted candidates, in order (the tree's nodes).
    pub candidates: Vec<GepaCandidate>,
    /// Proposals scored and rejected.
    pub rejected: Vec<GepaRejected>,
    /// Iterations skipped before a proposal (perfect minibatch, no traces,
    /// failed reflection), with the reason.
    pub skipped: Vec<(usize, String)>,
    /// Runs whose program or metric failed (scored `failure_score`).
    pub failed_runs: usize,
    /// Iterations started ahead (`speculate`) and dropped because an
    /// earlier one added a candidate or the budget ran out; their LM calls
    /// were spent, their metric calls are not counted.
    pub speculative_iterations_dropped: usize,
    /// The first such failure, as text.
    pub first_error: Option<String>,
    /// The chosen candidate (best validation average, first on ties).
    pub best_idx: usize,
    /// Best score per validation example.
    pub pareto_front: Vec<f64>,
    /// The candidates reaching it, per validation example.
    pub per_val_instance_best_candidates: Vec<Vec<usize>>,
}

impl GepaReport {
    /// Each candidate's parents as DSPy's `detailed_results.parents`
    /// (`[None]` for the seed).
    pub fn parents(&self) -> Vec<Vec<Option<usize>>> {
        self.candidates
            .iter()
            .map(|c| if c.parents.is_empty() { vec![None] } else { c.parents.iter().copied().map(Some).collect() })
            .collect()
    }

    /// Each candidate's validation average (DSPy's `val_aggregate_scores`).
    pub fn val_aggregate_scores(&self) -> Vec<f64> {
        self.candidates.iter().map(|c| c.val_score).collect()
    }

    fn write_node(&self, f: &mut fmt::Formatter<'_>, index: usize, depth: usize) -> fmt::Result {
        let Some(c) = self.candidates.get(index) else { return Ok(()) };
        let indent = "  ".repeat(depth + 1);
        let from = match c.parents.as_slice() {
            [] => "seed".to_string(),
            parents => {
                let list: Vec<String> = parents.iter().map(|p| format!("#{p}")).collect();
                format!("{} of {}", c.origin.as_str(), list.join(" + "))
            }
        };
        let changed = if c.changed.is_empty() { String::new() } else { format!(" [{}]", c.changed.join(", ")) };
        let minibatch = match (c.minibatch_before, c.minibatch_after) {
            (Some(b), Some(a)) => format!(" minibatch {b} -> {a},"),
            _ => String::new(),
        };
        let best = if index == self.best_idx { "  <- best" } else { "" };
        writeln!(
            f,
            "{indent}#{index} {from}{changed} (iteration {}):{minibatch} val {:.4}{best}",
            c.iteration, c.val_score
        )?;
        // Children are listed under their first parent.
        for child in self.candidates.iter().filter(|k| k.parents.first() == Some(&index)) {
            self.write_node(f, child.index, depth + 1)?;
        }
        Ok(())
    }
}

impl fmt::Display for GepaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  GEPA: {} candidates, {} rejected proposals, {} iterations ({} skipped), {}/{} metric calls, {} full \
             val evals",
            self.candidates.len(),
            self.rejected.len(),
            self.iterations,
            self.skipped.len(),
            self.total_metric_calls,
            self.max_metric_calls,
            self.num_full_val_evals
        )?;
        if self.failed_runs > 0 {
            writeln!(
                f,
                "  {} failed runs (first: {})",
                self.failed_runs,
                self.first_error.as_deref().unwrap_or_default()
            )?;
        }
        writeln!(f, "  candidate tree:")?;
        self.write_node(f, 0, 0)
    }
}
