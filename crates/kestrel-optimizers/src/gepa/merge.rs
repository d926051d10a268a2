//! GEPA's merge (the `gepa` package's `MergeProposer`): two candidates on
//! the Pareto frontier that share an ancestor, neither an ancestor of the
//! other, both at least as good as that ancestor, are combined predictor by
//! predictor — where one kept the ancestor's instruction and the other
//! changed it, the change is taken; where both changed it, the better
//! candidate's (a seeded coin on a tie) — and the result is scored on a
//! subsample of the validation set chosen to show their differences. The
//! engine accepts it when its subsample sum is at least the better
//! parent's. Every draw uses the run's `PyRandom` in DSPy's order.

use kestrel_core::PyRandom;

use super::pareto::dominators;
use super::state::{GepaState, Instructions};

/// Attempts per search, as in `gepa` (`max_attempts=10`).
const MAX_ATTEMPTS: usize = 10;
/// Validation examples a merged candidate is first scored on.
const SUBSAMPLE: usize = 5;
/// Shared validation examples two parents need (`val_overlap_floor`).
const VAL_OVERLAP_FLOOR: usize = 5;

/// A merge to try: the combined candidate, its parents and ancestor, and
/// the validation examples to score it on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MergePlan {
    pub candidate: Instructions,
    pub id1: usize,
    pub id2: usize,
    pub ancestor: usize,
    pub subsample: Vec<usize>,
}

/// The merge scheduler and its memory of merges tried.
#[derive(Debug, Clone, Default)]
pub(crate) struct Merger {
    /// Merges owed (one per accepted reflective candidate, up to the cap).
    pub merges_due: usize,
    /// Merges accepted so far.
    pub total_tested: usize,
    /// Whether the previous iteration added a candidate.
    pub last_iter_found_new: bool,
    /// `max_merge_invocations`.
    pub max_invocations: usize,
    triplets: Vec<(usize, usize, usize)>,
    descriptions: Vec<(usize, usize, Vec<usize>)>,
}

/// Python's `rng.choices(population, weights, k=1)[0]`: `None` when the
/// weights do not sum to a positive finite number (Python raises).
fn weighted_choice(rng: &mut PyRandom, population: &[usize], weights: &[f64]) -> Option<usize> {
    let mut cumulative = Vec::with_capacity(weights.len());
    let mut total = 0.0;
    for w in weights {
        total += w;
        cumulative.push(total);
    }
    if population.is_empty() || total <= 0.0 || !total.is_finite() {
        return None;
    }
    let x = rng.random() * total;
    // bisect_right(cumulative, x, 0, n - 1)
    let hi = population.len() - 1;
    let index = cumulative[..hi].partition_point(|&c| c <= x);
    population.get(index).copied()
}

/// Python's unweighted `rng.choices(population, k)`.
fn choices(rng: &mut PyRandom, population: &[usize], k: usize) -> Vec<usize> {
    let n = population.len() as f64;
    (0..k).map(|_| population[((rng.random() * n).floor() as usize).min(population.len() - 1)]).collect()
}

/// `does_triplet_have_desirable_predictors`: some predictor where one
/// descendant kept the ancestor's instruction and the other changed it.
fn has_desirable_predictors(state: &GepaState, ancestor: usize, id1: usize, id2: usize) -> bool {
    let (a, x, y) = (&state.candidates[ancestor], &state.candidates[id1], &state.candidates[id2]);
    (0..a.len()).any(|k| (a[k] == x[k] || a[k] == y[k]) && x[k] != y[k])
}

impl Merger {
    /// A scheduler allowing `max_invocations` merges.
    pub fn new(max_invocations: usize) -> Self {
        Self { max_invocations, ..Self::default() }
    }

    /// Note an accepted reflective candidate (DSPy's engine bookkeeping).
    pub fn found_new_program(&mut self) {
        self.last_iter_found_new = true;
        if self.total_tested < self.max_invocations {
            self.merges_due += 1;
        }
    }

    /// `find_common_ancestor_pair`.
    fn common_ancestor_pair(
        &self,
        state: &GepaState,
        rng: &mut PyRandom,
        candidates: &[usize],
        scores: &[f64],
    ) -> Option<(usize, usize, usize)> {
        for _ in 0..MAX_ATTEMPTS {
            if candidates.len() < 2 {
                return None;
            }
            let pair = rng.sample(candidates, 2);
            let (mut i, mut j) = (pair[0], pair[1]);
            if i == j {
                continue;
            }
            if j < i {
                std::mem::swap(&mut i, &mut j);
            }
            let (ancestors_i, ancestors_j) = (state.ancestors(i), state.ancestors(j));
            if ancestors_i.contains(&j) || ancestors_j.contains(&i) {
                continue;
            }
            let common: Vec<usize> = ancestors_i
                .intersection(&ancestors_j)
                .copied()
                .filter(|&a| !self.triplets.contains(&(i, j, a)))
                .filter(|&a| scores[a] <= scores[i] && scores[a] <= scores[j])
                .filter(|&a| has_desirable_predictors(state, a, i, j))
                .collect();
            if !common.is_empty() {
                let weights: Vec<f64> = common.iter().map(|&a| scores[a]).collect();
                let ancestor = weighted_choice(rng, &common, &weights)?;
                return Some((i, j, ancestor));
            }
        }
        None
    }

    /// `sample_and_attempt_merge_programs_by_common_predictors`.
    fn attempt(
        &mut self,
        state: &GepaState,
        rng: &mut PyRandom,
        candidates: &[usize],
        scores: &[f64],
    ) -> Option<(Instructions, usize, usize, usize)> {
        if candidates.len() < 2 || state.parents.len() < 3 {
            return None;
        }
        for _ in 0..MAX_ATTEMPTS {
            let Some((id1, id2, ancestor)) = self.common_ancestor_pair(state, rng, candidates, scores) else {
                continue;
            };
            if self.triplets.contains(&(id1, id2, ancestor)) {
                continue;
            }
            let (a, x, y) = (&state.candidates[ancestor], &state.candidates[id1], &state.candidates[id2]);
            let mut merged = a.clone();
            let mut description = Vec::with_capacity(a.len());
            for k in 0..a.len() {
                let from = if (a[k] == x[k] || a[k] == y[k]) && x[k] != y[k] {
                    if a[k] == x[k] { id2 } else { id1 }
                } else if a[k] != x[k] && a[k] != y[k] {
                    if scores[id1] > scores[id2] {
                        id1
                    } else if scores[id2] > scores[id1] {
                        id2
                    } else {
                        *rng.choice(&[id1, id2]).unwrap_or(&id1)
                    }
                } else {
                    id1
                };
                merged[k] = state.candidates[from][k].clone();
                description.push(from);
            }
            if self.descriptions.contains(&(id1, id2, description.clone())) {
                continue;
            }
            let overlap = state.val_scores[id1].len().min(state.val_scores[id2].len());
            if overlap < VAL_OVERLAP_FLOOR {
                continue;
            }
            self.descriptions.push((id1, id2, description));
            return Some((merged, id1, id2, ancestor));
        }
        None
    }

    /// `select_eval_subsample_for_merged_program`: up to two examples where
    /// the first parent is better, two where the second is, then ties, then
    /// any, each group drawn with `rng.sample`.
    fn subsample(&self, s1: &[f64], s2: &[f64], rng: &mut PyRandom) -> Vec<usize> {
        let common: Vec<usize> = (0..s1.len().min(s2.len())).collect();
        let p1: Vec<usize> = common.iter().copied().filter(|&k| s1[k] > s2[k]).collect();
        let p2: Vec<usize> = common.iter().copied().filter(|&k| s2[k] > s1[k]).collect();
        let p3: Vec<usize> = common.iter().copied().filter(|k| !p1.contains(k) && !p2.contains(k)).collect();
        let n_each = SUBSAMPLE.div_ceil(3).max(1);
        let mut selected: Vec<usize> = Vec::new();
        for bucket in [p1, p2, p3] {
            if selected.len() >= SUBSAMPLE {
                break;
            }
            let available: Vec<usize> = bucket.into_iter().filter(|k| !selected.contains(k)).collect();
            let take = available.len().min(n_each).min(SUBSAMPLE - selected.len());
            if take > 0 {
                selected.extend(rng.sample(&available, take));
            }
        }
        let remaining = SUBSAMPLE.saturating_sub(selected.len());
        if remaining > 0 {
            let unused: Vec<usize> = common.iter().copied().filter(|k| !selected.contains(k)).collect();
            if unused.len() >= remaining {
                selected.extend(rng.sample(&unused, remaining));
            } else if !common.is_empty() {
                selected.extend(choices(rng, &common, remaining));
            }
        }
        selected.truncate(SUBSAMPLE);
        selected
    }

    /// `MergeProposer.propose` up to the evaluation: the merge to try, if
    /// any (the triplet is remembered as tried).
    pub fn plan(&mut self, state: &GepaState, rng: &mut PyRandom) -> Option<MergePlan> {
        let scores = state.averages();
        let candidates = dominators(&state.fronts, &scores);
        let (candidate, id1, id2, ancestor) = self.attempt(state, rng, &candidates, &scores)?;
        self.triplets.push((id1, id2, ancestor));
        let subsample = self.subsample(&state.val_scores[id1], &state.val_scores[id2], rng);
        if subsample.is_empty() {
            return None;
        }
        Some(MergePlan { candidate, id1, id2, ancestor, subsample })
    }
}

/// The parents' subsample sums (DSPy's `subsample_scores_before`).
pub(crate) fn parent_sums(state: &GepaState, plan: &MergePlan) -> [f64; 2] {
    let sum = |id: usize| plan.subsample.iter().map(|&k| state.val_scores[id][k]).sum::<f64>();
    [sum(plan.id1), sum(plan.id2)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Instructions {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Seed `[A0, B0]`; #1 changed `a`, #2 changed `b` (both children of
    /// the seed), #3 a child of #1 dominated by it. Python (gepa 0.1 with
    /// `random.Random(0)`): dominators `[1, 2]`, merge of 1 and 2 via 0 →
    /// `{a: A1, b: B2}`, subsample `[2, 1, 4, 5, 3]`.
    #[test]
    fn merge_combines_what_each_descendant_changed_as_gepa_does() {
        let names = vec!["a".to_string(), "b".to_string()];
        let mut state = GepaState::new(names, strings(&["A0", "B0"]), vec![0.5; 6]);
        state.add(strings(&["A1", "B0"]), vec![0], vec![1.0, 1.0, 1.0, 0.5, 0.5, 0.5], 10);
        state.add(strings(&["A0", "B2"]), vec![0], vec![0.5, 0.5, 0.5, 1.0, 1.0, 1.0], 20);
        state.add(strings(&["A3", "B0"]), vec![1], vec![1.0, 1.0, 0.5, 0.5, 0.5, 0.5], 30);
        assert_eq!(dominators(&state.fronts, &state.averages()), vec![1, 2]);

        let mut rng = PyRandom::new(0);
        let mut merger = Merger::new(5);
        let plan = merger.plan(&state, &mut rng).unwrap();
        assert_eq!(
            plan,
            MergePlan {
                candidate: strings(&["A1", "B2"]),
                id1: 1,
                id2: 2,
                ancestor: 0,
                subsample: vec![2, 1, 4, 5, 3]
            }
        );
        assert_eq!(parent_sums(&state, &plan), [3.5, 4.0]);
        // The same triplet is never merged twice.
        let mut rng = PyRandom::new(0);
        assert_eq!(merger.plan(&state, &mut rng), None);
    }

    #[test]
    fn no_merge_without_a_shared_ancestor_both_improve_on() {
        let names = vec!["a".to_string()];
        let mut state = GepaState::new(names, strings(&["A0"]), vec![0.5; 6]);
        // Two children of the seed, both worse than it: the ancestor is better.
        state.add(strings(&["A1"]), vec![0], vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0], 10);
        state.add(strings(&["A2"]), vec![0], vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0], 20);
        let mut rng = PyRandom::new(0);
        assert_eq!(Merger::new(5).plan(&state, &mut rng), None);
    }
}
