//! SIMBA's seeded draws and statistics, each as DSPy 3.4.1 computes it:
//! the softmax choice of a program by average score (`random.choices`
//! with weights on Python's generator), the top-k-plus-baseline pool,
//! numpy's linear `percentile` and Python's `round` (ties to even).

use kestrel_core::PyRandom;

/// Average of a program's recorded minibatch scores (0 when it has none).
pub(crate) fn average(scores: &[f64]) -> f64 {
    if scores.is_empty() { 0.0 } else { scores.iter().sum::<f64>() / scores.len() as f64 }
}

/// DSPy's `top_k_plus_baseline(k)`: program indices by descending average
/// score (a stable sort, ties in registration order), the first `k`, the
/// last replaced by the baseline `0` when it is missing, duplicates removed.
pub(crate) fn top_k_plus_baseline(scores: &[Vec<f64>], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| average(&scores[b]).total_cmp(&average(&scores[a])));
    let mut top: Vec<usize> = order.into_iter().take(k).collect();
    if !top.contains(&0) {
        if let Some(last) = top.last_mut() {
            *last = 0;
        }
    }
    let mut seen = Vec::with_capacity(top.len());
    top.retain(|i| {
        let fresh = !seen.contains(i);
        seen.push(*i);
        fresh
    });
    top
}

/// DSPy's `softmax_sample`: one of `idxs`, weighted by
/// `exp(average / temperature)`, drawn with `rng.choices(idxs, weights=..)`
/// (one `random()`; `rng.choice` when every weight is zero). `None` for an
/// empty pool.
pub(crate) fn softmax_sample(
    rng: &mut PyRandom,
    scores: &[Vec<f64>],
    idxs: &[usize],
    temperature: f64,
) -> Option<usize> {
    if idxs.is_empty() {
        return None;
    }
    let exps: Vec<f64> = idxs.iter().map(|&i| (average(&scores[i]) / temperature).exp()).collect();
    let sum: f64 = exps.iter().sum();
    if sum.is_nan() || sum <= 0.0 || sum.is_infinite() {
        return rng.choice(idxs).copied();
    }
    let mut cumulative = Vec::with_capacity(exps.len());
    let mut acc = 0.0;
    for e in &exps {
        acc += e / sum;
        cumulative.push(acc);
    }
    let total = acc + 0.0;
    let x = rng.random() * total;
    Some(idxs[bisect_right(&cumulative, x, cumulative.len() - 1)])
}

/// Python's `bisect.bisect_right(a, x, 0, hi)`.
fn bisect_right(a: &[f64], x: f64, hi: usize) -> usize {
    let (mut lo, mut hi) = (0, hi);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if x < a[mid] { hi = mid } else { lo = mid + 1 }
    }
    lo
}

/// `numpy.percentile(values, q)` with its default linear method (and
/// numpy's two-sided interpolation formula). `NaN` for no values.
pub(crate) fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let position = q / 100.0 * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let t = position - below as f64;
    let (a, b) = (sorted[below], sorted[above]);
    let diff = b - a;
    if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t }
}

/// The winners to score on the full trainset: DSPy's
/// `[round(i * M / (N - 1)) for i in range(N)]` (Python's `round`, ties to
/// even) with duplicates removed, `M` the last winner's index and `N` =
/// `num_candidates + 1`; all zeros when no step produced a winner.
pub(crate) fn final_indices(last_winner: usize, num_candidates: usize) -> Vec<usize> {
    let n = num_candidates + 1;
    let mut out: Vec<usize> = Vec::new();
    for i in 0..n {
        let index =
            if last_winner < 1 { 0 } else { ((i * last_winner) as f64 / (n - 1) as f64).round_ties_even() as usize };
        if !out.contains(&index) {
            out.push(index);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_numpys_linear_method() {
        // numpy.percentile([1, 1, 0, 1], 10) == 0.3, (.., 90) == 1.0
        assert!((percentile(&[1.0, 1.0, 0.0, 1.0], 10.0) - 0.3).abs() < 1e-12);
        assert_eq!(percentile(&[1.0, 1.0, 0.0, 1.0], 90.0), 1.0);
        assert_eq!(percentile(&[0.5], 10.0), 0.5);
        // numpy.percentile([0, 1, 2, 10], 50) == 1.5
        assert_eq!(percentile(&[10.0, 0.0, 2.0, 1.0], 50.0), 1.5);
    }

    #[test]
    fn final_indices_round_half_to_even() {
        // M = 1, N = 3: round(0), round(0.5) = 0, round(1) -> [0, 1]
        assert_eq!(final_indices(1, 2), vec![0, 1]);
        // M = 8, N = 7: [0, 1.33, 2.67, 4, 5.33, 6.67, 8] -> [0, 1, 3, 4, 5, 7, 8]
        assert_eq!(final_indices(8, 6), vec![0, 1, 3, 4, 5, 7, 8]);
        // M = 3, N = 7: [0, .5, 1, 1.5, 2, 2.5, 3] -> [0, 0, 1, 2, 2, 2, 3]
        assert_eq!(final_indices(3, 6), vec![0, 1, 2, 3]);
        assert_eq!(final_indices(0, 6), vec![0]);
    }

    #[test]
    fn top_k_keeps_the_baseline() {
        let scores = vec![vec![0.1], vec![0.9], vec![0.8], vec![0.7]];
        assert_eq!(top_k_plus_baseline(&scores, 2), vec![1, 0]);
        assert_eq!(top_k_plus_baseline(&scores, 6), vec![1, 2, 3, 0]);
        assert_eq!(top_k_plus_baseline(&[vec![]], 6), vec![0]);
    }

    #[test]
    fn softmax_sample_draws_one_random() {
        // Python: r = random.Random(0); r.choices([0], weights=[1.0])[0] -> 0,
        // and the next r.random() is the generator's second draw.
        let mut rng = PyRandom::new(0);
        assert_eq!(softmax_sample(&mut rng, &[vec![]], &[0], 0.2), Some(0));
        let mut reference = PyRandom::new(0);
        reference.random();
        assert_eq!(rng.random(), reference.random());
    }

    #[test]
    fn softmax_sample_matches_python_choices() {
        // Python: rng = random.Random(3); averages {0: .5, 1: .8, 2: .1};
        // 8 x rng.choices([1, 0, 2], weights=softmax(avg / 0.2))[0]
        let scores = vec![vec![0.5], vec![0.8], vec![0.1]];
        let mut rng = PyRandom::new(3);
        let drawn: Vec<usize> = (0..8).map(|_| softmax_sample(&mut rng, &scores, &[1, 0, 2], 0.2).unwrap()).collect();
        assert_eq!(drawn, vec![1, 1, 1, 1, 1, 1, 1, 0]);
        // numpy.percentile([.25, 1, 0, .5, .75, 1, 1], 10) == 0.15000000000000002
        assert_eq!(percentile(&[0.25, 1.0, 0.0, 0.5, 0.75, 1.0, 1.0], 10.0), 0.15000000000000002);
    }
}
