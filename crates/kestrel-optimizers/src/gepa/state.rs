//! GEPA's search state (the `gepa` package's `GEPAState`, per-instance
//! frontier): every accepted candidate's instructions, parents, validation
//! scores per example and discovery budget; the per-example Pareto frontier;
//! each candidate's round-robin turn; and the metric calls spent.

use std::collections::BTreeSet;

/// A candidate: one instruction per predictor, in predictor order.
pub(crate) type Instructions = Vec<String>;

/// The state of one GEPA run.
#[derive(Debug, Clone)]
pub(crate) struct GepaState {
    /// Predictor paths, in predictor order (DSPy's `named_predictors()`).
    pub names: Vec<String>,
    /// Accepted candidates; 0 is the student's own instructions.
    pub candidates: Vec<Instructions>,
    /// Each candidate's parents (`[]` for the seed; two for a merge).
    pub parents: Vec<Vec<usize>>,
    /// Each candidate's score on every validation example.
    pub val_scores: Vec<Vec<f64>>,
    /// Best score seen on each validation example.
    pub front_scores: Vec<f64>,
    /// The candidates that reach it, per validation example.
    pub fronts: Vec<BTreeSet<usize>>,
    /// Each candidate's next round-robin predictor.
    pub next_component: Vec<usize>,
    /// Metric calls spent when each candidate was found.
    pub discovered_at: Vec<usize>,
    /// The iteration (DSPy's `state.i`, -1 before the first).
    pub i: i64,
    /// Metric calls spent so far.
    pub total_evals: usize,
    /// Full validation evaluations made.
    pub full_evals: usize,
}

impl GepaState {
    /// The state after the seed candidate's validation evaluation.
    pub fn new(names: Vec<String>, seed: Instructions, seed_scores: Vec<f64>) -> Self {
        let n = seed_scores.len();
        Self {
            names,
            candidates: vec![seed],
            parents: vec![Vec::new()],
            front_scores: seed_scores.clone(),
            fronts: vec![BTreeSet::from([0]); n],
            val_scores: vec![seed_scores],
            next_component: vec![0],
            discovered_at: vec![0],
            i: -1,
            total_evals: n,
            full_evals: 1,
        }
    }

    /// Each candidate's validation average (DSPy's
    /// `program_full_scores_val_set`; `-inf` for an empty valset).
    pub fn averages(&self) -> Vec<f64> {
        self.val_scores
            .iter()
            .map(|s| if s.is_empty() { f64::NEG_INFINITY } else { s.iter().sum::<f64>() / s.len() as f64 })
            .collect()
    }

    /// The candidate with the best average, the first on ties (DSPy's
    /// `FullEvaluationPolicy.get_best_program` and `idxmax`).
    pub fn best(&self) -> usize {
        let averages = self.averages();
        let mut best = 0;
        for (i, &a) in averages.iter().enumerate() {
            if a > averages[best] {
                best = i;
            }
        }
        best
    }

    /// Add an evaluated candidate: its round-robin turn is the furthest of
    /// its parents', and every validation example's frontier is updated (a
    /// higher score replaces the set, an equal one joins it). Returns its
    /// index.
    pub fn add(
        &mut self,
        candidate: Instructions,
        parents: Vec<usize>,
        scores: Vec<f64>,
        discovered_at: usize,
    ) -> usize {
        let index = self.candidates.len();
        self.candidates.push(candidate);
        let turn = parents.iter().filter_map(|&p| self.next_component.get(p).copied()).max().unwrap_or(0);
        self.next_component.push(turn);
        self.parents.push(parents);
        self.discovered_at.push(discovered_at);
        for (v, &score) in scores.iter().enumerate() {
            if v >= self.front_scores.len() {
                break;
            }
            if score > self.front_scores[v] {
                self.front_scores[v] = score;
                self.fronts[v] = BTreeSet::from([index]);
            } else if score == self.front_scores[v] {
                self.fronts[v].insert(index);
            }
        }
        self.val_scores.push(scores);
        index
    }

    /// Every ancestor of `node` (parents, their parents...).
    pub fn ancestors(&self, node: usize) -> BTreeSet<usize> {
        let mut found = BTreeSet::new();
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            for &p in self.parents.get(n).map(Vec::as_slice).unwrap_or_default() {
                if found.insert(p) {
                    stack.push(p);
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontier_keeps_every_best_program_per_example() {
        let names = vec!["respond".to_string()];
        let mut state = GepaState::new(names, vec!["a".into()], vec![1.0, 0.0, 0.5]);
        let one = state.add(vec!["b".into()], vec![0], vec![1.0, 1.0, 0.0], 7);
        let two = state.add(vec!["c".into()], vec![1], vec![0.0, 1.0, 0.5], 12);
        assert_eq!((one, two), (1, 2));
        assert_eq!(state.front_scores, vec![1.0, 1.0, 0.5]);
        assert_eq!(state.fronts, vec![BTreeSet::from([0, 1]), BTreeSet::from([1, 2]), BTreeSet::from([0, 2])]);
        assert_eq!(state.best(), 1);
        assert_eq!(state.ancestors(2), BTreeSet::from([0, 1]));
        assert_eq!(state.discovered_at, vec![0, 7, 12]);
    }
}
