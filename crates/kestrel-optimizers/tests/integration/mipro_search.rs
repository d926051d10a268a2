//! MIPROv2's trial search on synthetic score functions: DSPy's schedule and
//! minibatches, finding the clearly best (instruction, demo set) pair, the
//! same trial sequence for the same seed at any timing, several trials in
//! flight, budget stops, skipped full evaluations and bad settings.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kestrel_core::PyRandom;
use kestrel_optimizers::{
    EvalBatch, OptimizerError, PredictorChoice, PredictorSpace, SearchOutcome, TrialKind, TrialRequest, TrialSearch,
};

/// A deterministic hash of an example and a choice to `[0, 1)`.
fn unit(example: usize, params: &[PredictorChoice]) -> f64 {
    let mut h = 0x9e37_79b9_7f4a_7c15u64 ^ example as u64;
    for c in params {
        for v in [c.instruction as u64, c.demos.map_or(99, |d| d as u64)] {
            h = (h ^ v).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            h ^= h >> 31;
            h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
            h ^= h >> 29;
        }
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The landscape: predictor 0's instruction 3 with demo set 4 solves 90% of
/// the examples; sharing one of the two gives 45%; anything else 30%. With
/// a second predictor, its instruction 1 adds 5 points.
fn solve_rate(params: &[PredictorChoice]) -> f64 {
    let first = params[0];
    let base = match (first.instruction == 3, first.demos == Some(4)) {
        (true, true) => 0.9,
        (true, false) | (false, true) => 0.45,
        (false, false) => 0.3,
    };
    base + params.get(1).map_or(0.0, |p| if p.instruction == 1 { 0.05 } else { 0.0 })
}

/// DSPy's `Evaluate` score of a choice on a batch: the percentage of its
/// examples solved.
fn score(request: &TrialRequest, valset: usize) -> f64 {
    let indices: Vec<usize> = match &request.batch {
        EvalBatch::Full => (0..valset).collect(),
        EvalBatch::Minibatch(indices) => indices.clone(),
    };
    let rate = solve_rate(&request.params);
    let solved = indices.iter().filter(|&&e| unit(e, &request.params) < rate).count();
    (100.0 * solved as f64 / indices.len() as f64 * 100.0).round() / 100.0
}

/// Scores with a delay that differs per trial and per `jitter`, so trials in
/// flight complete in a different order from one run to the next.
async fn evaluate(request: TrialRequest, valset: usize, jitter: u64) -> Result<f64, OptimizerError> {
    let delay = (request.number as u64 * 7 + jitter * 13) % 5;
    tokio::time::sleep(Duration::from_millis(delay)).await;
    Ok(score(&request, valset))
}

fn one_predictor() -> Vec<PredictorSpace> {
    vec![PredictorSpace { instructions: 6, demo_sets: 6 }]
}

fn choice(instruction: usize, demos: usize) -> PredictorChoice {
    PredictorChoice { instruction, demos: Some(demos) }
}

async fn run(search: &TrialSearch, valset: usize, jitter: u64) -> SearchOutcome {
    let future = search.run(|r| evaluate(r, valset, jitter), |_| None);
    assert_send(&future);
    future.await.unwrap()
}

/// Optimizers' compile futures must be `Send`; the search's is when its
/// callbacks are.
fn assert_send<T: Send>(_: &T) {}

/// Trial numbers, kinds, minibatches and eval-call counts as DSPy 3.4.1's
/// `_optimize_prompt_parameters` makes them for 10 trials on 80 examples
/// with `random.Random(9)` (recorded by running it with a stub evaluate):
/// full evaluations are trials 1, 7 and 13; the first minibatches are
/// `Random(9).sample(range(80), 35)` twice.
#[tokio::test]
async fn schedule_and_minibatches_are_dspys() {
    let search = TrialSearch::new(one_predictor(), 80, 10).seed(9);
    assert_eq!(search.adjusted_num_trials(), 13);
    assert_eq!(search.estimated_eval_calls(), 35 * 10 + 80 * 3);
    let outcome = run(&search, 80, 0).await;
    let kinds: Vec<(usize, TrialKind)> = outcome.trials.iter().map(|t| (t.number, t.kind)).collect();
    let expected: Vec<(usize, TrialKind)> = (1..=13)
        .map(|n| (n, if [1, 7, 13].contains(&n) { TrialKind::Full } else { TrialKind::Minibatch }))
        .map(|(n, k)| (n, if n == 1 { TrialKind::Default } else { k }))
        .collect();
    assert_eq!(kinds, expected);
    let calls: Vec<usize> = outcome.trials.iter().map(|t| t.total_eval_calls_so_far).collect();
    assert_eq!(calls, [80, 115, 150, 185, 220, 255, 335, 370, 405, 440, 475, 510, 590]);
    assert_eq!(outcome.total_eval_calls, 590);
    let first: Vec<usize> = vec![
        59, 78, 47, 34, 17, 23, 0, 43, 64, 79, 10, 42, 5, 48, 21, 57, 54, 69, 62, 15, 3, 7, 8, 32, 55, 37, 4, 49, 44,
        24, 77, 6, 18, 13, 72,
    ];
    let second: Vec<usize> = vec![
        28, 53, 11, 34, 26, 50, 35, 43, 5, 25, 0, 52, 7, 48, 62, 17, 3, 15, 27, 47, 58, 54, 67, 38, 69, 57, 66, 37, 12,
        51, 21, 55, 71, 8, 76,
    ];
    assert_eq!(outcome.trials[1].batch, EvalBatch::Minibatch(first));
    assert_eq!(outcome.trials[2].batch, EvalBatch::Minibatch(second));
    assert_eq!(outcome.trials[0].params, vec![choice(0, 0)]);
    assert_eq!(outcome.trials[0].batch, EvalBatch::Full);
    assert_eq!(outcome.stopped, None);

    // 7 trials: full evaluations after trial 6 and after the last (DSPy: 7, 10).
    let search = TrialSearch::new(one_predictor(), 80, 7);
    assert_eq!(search.adjusted_num_trials(), 10);
    let outcome = run(&search, 80, 0).await;
    let full: Vec<usize> = outcome.trials.iter().filter(|t| t.kind == TrialKind::Full).map(|t| t.number).collect();
    assert_eq!(full, [7, 10]);
    assert_eq!(outcome.total_eval_calls, 485);
}

/// A generator handed over after other draws is continued, as DSPy's
/// `self.rng` is after bootstrapping and proposing.
#[tokio::test]
async fn minibatches_continue_the_given_generator() {
    let mut rng = PyRandom::new(9);
    let skipped = rng.sample_indices(80, 35);
    let search = TrialSearch::new(one_predictor(), 80, 2).python_rng(rng);
    let outcome = run(&search, 80, 0).await;
    assert_ne!(outcome.trials[1].batch, EvalBatch::Minibatch(skipped));
    let mut expected = PyRandom::new(9);
    expected.sample_indices(80, 35);
    assert_eq!(outcome.trials[1].batch, EvalBatch::Minibatch(expected.sample_indices(80, 35)));
}

/// The full evaluation takes the best-averaging set not yet fully
/// evaluated; the best full score wins.
#[tokio::test]
async fn full_evaluation_takes_the_best_average_and_the_best_full_score_wins() {
    let outcome = run(&TrialSearch::new(one_predictor(), 100, 10).seed(3), 100, 0).await;
    for (i, trial) in outcome.trials.iter().enumerate().filter(|(_, t)| t.kind == TrialKind::Full).skip(1) {
        let mut means: Vec<(Vec<PredictorChoice>, Vec<f64>)> = Vec::new();
        for t in outcome.trials[..i].iter().filter(|t| t.kind == TrialKind::Minibatch) {
            match means.iter_mut().find(|(p, _)| *p == t.params) {
                Some((_, scores)) => scores.push(t.score),
                None => means.push((t.params.clone(), vec![t.score])),
            }
        }
        let evaluated: Vec<&Vec<PredictorChoice>> =
            outcome.trials[1..i].iter().filter(|t| t.kind == TrialKind::Full).map(|t| &t.params).collect();
        let best = means
            .iter()
            .filter(|(p, _)| !evaluated.contains(&p))
            .map(|(p, s)| (p, s.iter().sum::<f64>() / s.len() as f64))
            .fold(None::<(&Vec<PredictorChoice>, f64)>, |acc, (p, m)| match acc {
                Some((_, best)) if best >= m => acc,
                _ => Some((p, m)),
            });
        assert_eq!(Some(&trial.params), best.map(|(p, _)| p), "trial {}", trial.number);
    }
    let best_full =
        outcome.trials.iter().filter(|t| t.kind != TrialKind::Minibatch).map(|t| t.score).fold(f64::MIN, f64::max);
    assert_eq!(outcome.best_score, Some(best_full));
}

/// With 30 trials the search finds the clearly best pair for every seed
/// tried, one trial at a time and four at once.
#[tokio::test]
async fn finds_the_clearly_best_pair() {
    for seed in 0..6 {
        for window in [1, 4] {
            let search = TrialSearch::new(one_predictor(), 100, 30).seed(seed).trial_concurrency(window);
            let outcome = run(&search, 100, 0).await;
            assert_eq!(outcome.best_params, vec![choice(3, 4)], "seed {seed}, {window} in flight: {outcome:#?}");
            assert!(outcome.best_score.unwrap() > 80.0);
        }
    }
}

/// The same seed gives the same trials (proposals, minibatches, full
/// evaluations, scores) whatever the order trials complete in; each
/// concurrency setting is deterministic on its own, and four in flight
/// choose a program no worse than one at a time.
#[tokio::test]
async fn same_seed_same_trials_at_any_timing() {
    let space =
        vec![PredictorSpace { instructions: 6, demo_sets: 6 }, PredictorSpace { instructions: 3, demo_sets: 4 }];
    for window in [1, 4] {
        let search = TrialSearch::new(space.clone(), 100, 25).seed(11).trial_concurrency(window);
        let a = run(&search, 100, 0).await;
        let b = run(&search, 100, 1).await;
        let c = run(&search, 100, 2).await;
        assert_eq!(a, b, "{window} in flight");
        assert_eq!(a, c, "{window} in flight");
        assert_eq!(a.trials.len(), 25 + 5 + 1);
    }
    let one = run(&TrialSearch::new(space.clone(), 100, 25).seed(11), 100, 0).await;
    let four = run(&TrialSearch::new(space.clone(), 100, 25).seed(11).trial_concurrency(4), 100, 0).await;
    assert_ne!(one.trials, four.trials, "pending trials change later proposals");
    // The random start (trials with fewer than 10 scheduled before them) is
    // the same at any concurrency.
    let startup = |o: &SearchOutcome| -> Vec<(Vec<PredictorChoice>, EvalBatch)> {
        o.trials
            .iter()
            .filter(|t| t.number <= 10 && t.kind == TrialKind::Minibatch)
            .map(|t| (t.params.clone(), t.batch.clone()))
            .collect()
    };
    assert_eq!(startup(&one).len(), 8);
    assert_eq!(startup(&one), startup(&four));
    let other_seed = run(&TrialSearch::new(space, 100, 25).seed(12), 100, 0).await;
    assert_ne!(one.trials, other_seed.trials);
}

/// The chosen program's mean full score over seeds 0..100, one and four
/// trials in flight, against DSPy 3.4.1 + optuna 5.1 on the same landscape
/// (its `_optimize_prompt_parameters` run with an `evaluate` stub computing
/// the same per-example hash, `random.Random(seed)` as its generator):
/// 59.91 at 10 trials (MIPROv2 light's count), 79.01 at 15, 83.71 at 20.
/// A seed either finds the best pair (88) or not (≤ 49), so one seed moves
/// a mean by 0.39; both windows must be within 2 points (5 seeds) of DSPy.
/// Measured: 60.13 / 63.18, 77.86 / 78.25, 84.88 / 83.71.
#[tokio::test]
async fn chooses_programs_as_good_as_dspys() {
    for (trials, dspy) in [(10, 59.91), (15, 79.01), (20, 83.71)] {
        for window in [1, 4] {
            let mut mean = 0.0;
            for seed in 0..100 {
                let search = TrialSearch::new(one_predictor(), 100, trials).seed(seed).trial_concurrency(window);
                let outcome = search.run(|r| async move { Ok(score(&r, 100)) }, |_| None).await.unwrap();
                mean += outcome.best_score.unwrap() / 100.0;
            }
            assert!(mean >= dspy - 2.0, "{trials} trials, {window} in flight: mean best {mean} vs DSPy's {dspy}");
        }
    }
}

/// Four trials are in flight at once with `trial_concurrency(4)` (plus a
/// full evaluation), one with the default.
#[tokio::test]
async fn trials_in_flight_follow_the_window() {
    for (window, max_minibatch) in [(1, 1), (4, 4)] {
        let in_flight = AtomicUsize::new(0);
        let max_seen = Mutex::new((0usize, 0usize));
        let search = TrialSearch::new(one_predictor(), 100, 20).trial_concurrency(window);
        search
            .run(
                |r| {
                    let (in_flight, max_seen) = (&in_flight, &max_seen);
                    async move {
                        let minibatch = r.kind == TrialKind::Minibatch;
                        let now = in_flight.fetch_add(usize::from(minibatch), Ordering::SeqCst) + 1;
                        {
                            let mut max = max_seen.lock().unwrap();
                            if minibatch {
                                max.0 = max.0.max(now);
                            }
                        }
                        let result = evaluate(r, 100, 0).await;
                        in_flight.fetch_sub(usize::from(minibatch), Ordering::SeqCst);
                        result
                    }
                },
                |_| None,
            )
            .await
            .unwrap();
        assert_eq!(max_seen.lock().unwrap().0, max_minibatch);
    }
}

/// Equal means: the first parameter set seen is fully evaluated first (DSPy
/// sorts with Python's stable `sorted(.., reverse=True)`).
#[tokio::test]
async fn equal_means_take_the_first_seen() {
    let search = TrialSearch::new(one_predictor(), 80, 10).seed(4);
    let outcome = search.run(|_| async { Ok(50.0) }, |_| None).await.unwrap();
    let minibatch: Vec<&Vec<PredictorChoice>> =
        outcome.trials.iter().filter(|t| t.kind == TrialKind::Minibatch).map(|t| &t.params).collect();
    let mut distinct: Vec<&Vec<PredictorChoice>> = Vec::new();
    for params in &minibatch {
        if !distinct.contains(params) {
            distinct.push(params);
        }
    }
    assert!(distinct.len() >= 2);
    let full: Vec<&Vec<PredictorChoice>> =
        outcome.trials.iter().filter(|t| t.kind == TrialKind::Full).map(|t| &t.params).collect();
    assert_eq!(full, distinct[..2]);
    assert_eq!(outcome.best_params, vec![choice(0, 0)], "a tie does not replace the default");
}

/// A budget stop returns the best fully evaluated set so far and the
/// reason; no evaluation starts after it.
#[tokio::test]
async fn budget_stop_returns_the_best_so_far() {
    let search = TrialSearch::new(one_predictor(), 100, 30).seed(2);
    let full = run(&search, 100, 0).await;
    let started = AtomicUsize::new(0);
    let outcome = search
        .run(
            |r| {
                started.fetch_add(1, Ordering::SeqCst);
                evaluate(r, 100, 0)
            },
            |p| (p.eval_calls_started >= 600).then(|| format!("max_lm_calls reached ({} calls)", p.eval_calls_started)),
        )
        .await
        .unwrap();
    assert_eq!(outcome.stopped.as_deref(), Some("max_lm_calls reached (650 calls)"));
    assert!(outcome.trials.len() < full.trials.len());
    assert_eq!(outcome.trials[..], full.trials[..outcome.trials.len()], "the same trials up to the stop");
    assert_eq!(started.load(Ordering::SeqCst), outcome.trials.len());
    // The first of the best full scores (a later tie does not replace it).
    let best_full = outcome
        .trials
        .iter()
        .filter(|t| t.kind != TrialKind::Minibatch)
        .fold(None, |best: Option<&kestrel_optimizers::TrialLog>, t| match best {
            Some(b) if b.score >= t.score => Some(b),
            _ => Some(t),
        })
        .unwrap();
    assert_eq!(outcome.best_score, Some(best_full.score));
    assert_eq!(outcome.best_params, best_full.params);

    // Four in flight: the trials in flight at the stop are dropped; the ones
    // recorded are the unbudgeted run's first ones.
    let search = search.trial_concurrency(4);
    let full = run(&search, 100, 0).await;
    let outcome = search
        .run(|r| evaluate(r, 100, 0), |p| (p.eval_calls_started >= 600).then(|| "budget".to_string()))
        .await
        .unwrap();
    assert_eq!(outcome.stopped.as_deref(), Some("budget"));
    assert!(!outcome.trials.is_empty() && outcome.trials.len() < full.trials.len());
    assert_eq!(outcome.trials[..], full.trials[..outcome.trials.len()]);
    // The last evaluation started below 600 calls; a full one is 100.
    assert!(outcome.total_eval_calls < 600 + 100);

    // Stopped before anything ran: the default program, unscored.
    let outcome = search.run(|r| evaluate(r, 100, 0), |_| Some("budget spent".into())).await.unwrap();
    assert_eq!((outcome.best_params, outcome.best_score, outcome.trials.len()), (vec![choice(0, 0)], None, 0));
    assert_eq!(outcome.stopped.as_deref(), Some("budget spent"));
}

/// With one candidate set, the second full evaluation has nothing left to
/// evaluate (DSPy raises); it is skipped and the search ends normally.
#[tokio::test]
async fn nothing_left_to_fully_evaluate_is_skipped() {
    let space = vec![PredictorSpace { instructions: 1, demo_sets: 1 }];
    let outcome = run(&TrialSearch::new(space, 50, 10), 50, 0).await;
    let numbers: Vec<usize> = outcome.trials.iter().map(|t| t.number).collect();
    assert_eq!(numbers, (1..=12).collect::<Vec<_>>());
    assert_eq!(outcome.trials[6].kind, TrialKind::Full);
    assert_eq!(outcome.stopped, None);
}

/// Zero-shot (no demo parameter), no minibatching: every trial on the full
/// set, the best full score wins, no extra full evaluations.
#[tokio::test]
async fn zero_shot_without_minibatches() {
    let space = vec![PredictorSpace { instructions: 5, demo_sets: 0 }];
    let search = TrialSearch::new(space, 40, 12).minibatch(false);
    assert_eq!(search.adjusted_num_trials(), 12);
    assert_eq!(search.estimated_eval_calls(), 40 * 12);
    let outcome = run(&search, 40, 0).await;
    assert_eq!(outcome.trials.len(), 13);
    assert!(outcome.trials.iter().all(|t| t.batch == EvalBatch::Full && t.params[0].demos.is_none()));
    assert!(outcome.trials[1..].iter().all(|t| t.kind == TrialKind::Minibatch));
    let best = outcome.trials.iter().map(|t| t.score).fold(f64::MIN, f64::max);
    assert_eq!(outcome.best_score, Some(best));
    // A minibatch as large as the set is the full set (no draw), as in DSPy.
    let outcome = run(&TrialSearch::new(one_predictor(), 35, 3), 35, 0).await;
    assert!(outcome.trials.iter().all(|t| t.batch == EvalBatch::Full));
}

#[tokio::test]
async fn evaluation_errors_and_bad_settings_are_errors() {
    let failing = |r: TrialRequest| async move {
        if r.number == 4 { Err(OptimizerError::Config("scoring failed".into())) } else { Ok(score(&r, 80)) }
    };
    let error = TrialSearch::new(one_predictor(), 80, 10).run(failing, |_| None).await.unwrap_err();
    assert!(error.to_string().contains("scoring failed"), "{error}");

    let bad = [
        TrialSearch::new(one_predictor(), 30, 10),
        TrialSearch::new(Vec::new(), 80, 10),
        TrialSearch::new(vec![PredictorSpace { instructions: 0, demo_sets: 2 }], 80, 10),
        TrialSearch::new(one_predictor(), 0, 10).minibatch(false),
        TrialSearch::new(one_predictor(), 80, 10).trial_concurrency(0),
        TrialSearch::new(one_predictor(), 80, 10).minibatch_full_eval_steps(0),
        TrialSearch::new(one_predictor(), 80, 10).minibatch_size(0),
    ];
    for search in bad {
        let error = search.run(|r| evaluate(r, 80, 0), |_| None).await.unwrap_err();
        assert!(matches!(error, OptimizerError::Config(_)), "{search:?}: {error}");
    }
    let error = TrialSearch::new(one_predictor(), 30, 10).run(|r| evaluate(r, 30, 0), |_| None).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "optimizer configuration: Minibatch size cannot exceed the size of the valset. Valset size: 30."
    );
}
