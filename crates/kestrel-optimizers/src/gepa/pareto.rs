//! GEPA's per-instance Pareto frontier functions (the `gepa` package's
//! `gepa_utils`): removing dominated programs, the dominators that merge
//! picks from, and the frontier-weighted draw of the next parent.
//!
//! A frontier is one set of program indices per validation example: the
//! programs with the best score seen on it. Sets iterate in ascending order
//! (CPython iterates a set of small ints in ascending order while they are
//! below its table size; beyond that Python's order differs and so may the
//! draw — see docs/OPTIMIZERS.md).

use std::collections::BTreeSet;

use kestrel_core::PyRandom;

/// True when every frontier holding `y` also holds one of `others`.
fn is_dominated(y: usize, others: &BTreeSet<usize>, fronts: &[BTreeSet<usize>]) -> bool {
    fronts.iter().filter(|front| front.contains(&y)).all(|front| front.iter().any(|p| others.contains(p)))
}

/// `remove_dominated_programs`: programs are tried lowest score first; a
/// program is dropped when every frontier it is on also holds a program not
/// yet dropped, and the scan restarts after each drop. Returns the frontiers
/// without the dropped programs.
pub(crate) fn remove_dominated(fronts: &[BTreeSet<usize>], scores: &[f64]) -> Vec<BTreeSet<usize>> {
    // First appearance order over the frontiers (Python's dict of counts).
    let mut programs: Vec<usize> = Vec::new();
    for front in fronts {
        for &p in front {
            if !programs.contains(&p) {
                programs.push(p);
            }
        }
    }
    let score = |p: usize| scores.get(p).copied().unwrap_or(f64::NEG_INFINITY);
    // Python's stable `sorted(key=score)`.
    programs.sort_by(|&a, &b| score(a).partial_cmp(&score(b)).unwrap_or(std::cmp::Ordering::Equal));
    let mut dominated: BTreeSet<usize> = BTreeSet::new();
    loop {
        let mut found = false;
        for &y in &programs {
            if dominated.contains(&y) {
                continue;
            }
            let others: BTreeSet<usize> =
                programs.iter().copied().filter(|&p| p != y && !dominated.contains(&p)).collect();
            if is_dominated(y, &others, fronts) {
                dominated.insert(y);
                found = true;
                break;
            }
        }
        if !found {
            break;
        }
    }
    fronts.iter().map(|front| front.iter().copied().filter(|p| !dominated.contains(p)).collect()).collect()
}

/// `find_dominator_programs`: the programs left on some frontier once the
/// dominated ones are removed, ascending.
pub(crate) fn dominators(fronts: &[BTreeSet<usize>], scores: &[f64]) -> Vec<usize> {
    let kept = remove_dominated(fronts, scores);
    kept.iter().flatten().copied().collect::<BTreeSet<_>>().into_iter().collect()
}

/// The draw list of `select_program_candidate_from_pareto_front`: each
/// non-dominated program repeated once per frontier it is on, programs in
/// order of first appearance.
pub(crate) fn sampling_list(fronts: &[BTreeSet<usize>], scores: &[f64]) -> Vec<usize> {
    let kept = remove_dominated(fronts, scores);
    let mut order: Vec<(usize, usize)> = Vec::new();
    for front in &kept {
        for &p in front {
            match order.iter_mut().find(|(q, _)| *q == p) {
                Some((_, n)) => *n += 1,
                None => order.push((p, 1)),
            }
        }
    }
    order.into_iter().flat_map(|(p, n)| std::iter::repeat_n(p, n)).collect()
}

/// `select_program_candidate_from_pareto_front`: `rng.choice` over the
/// draw list; `None` when no program is on any frontier.
pub(crate) fn select_from_front(fronts: &[BTreeSet<usize>], scores: &[f64], rng: &mut PyRandom) -> Option<usize> {
    let list = sampling_list(fronts, scores);
    rng.choice(&list).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fronts(sets: &[&[usize]]) -> Vec<BTreeSet<usize>> {
        sets.iter().map(|s| s.iter().copied().collect()).collect()
    }

    #[test]
    fn a_program_whose_wins_are_all_shared_is_dominated() {
        // Program 2 is best only where 1 is too; 0 is best alone on example 0.
        let f = fronts(&[&[0], &[1, 2], &[1], &[1, 2]]);
        let scores = [0.25, 0.75, 0.5];
        assert_eq!(remove_dominated(&f, &scores), fronts(&[&[0], &[1], &[1], &[1]]));
        assert_eq!(dominators(&f, &scores), vec![0, 1]);
        assert_eq!(sampling_list(&f, &scores), vec![0, 1, 1, 1]);
    }

    #[test]
    fn the_frontier_draw_is_gepas_for_the_same_seed() {
        // gepa's select_program_candidate_from_pareto_front with random.Random(0), 8 draws.
        let f = fronts(&[&[0], &[1, 2], &[1], &[1, 2], &[0, 2]]);
        let scores = [0.25, 0.75, 0.5];
        let mut rng = PyRandom::new(0);
        let draws: Vec<usize> = (0..8).map(|_| select_from_front(&f, &scores, &mut rng).unwrap()).collect();
        assert_eq!(draws, vec![1, 1, 0, 1, 1, 1, 1, 1]);
        assert_eq!(select_from_front(&[], &scores, &mut rng), None);
    }

    #[test]
    fn equal_programs_keep_the_higher_scored_one() {
        // 0 and 1 are on exactly the same frontiers: the lower score goes first.
        let f = fronts(&[&[0, 1], &[0, 1]]);
        assert_eq!(dominators(&f, &[0.5, 0.6]), vec![1]);
        assert_eq!(dominators(&f, &[0.6, 0.5]), vec![0]);
    }
}
