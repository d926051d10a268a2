//! BootstrapFewShotWithRandomSearch: DSPy's candidate seeds, the best on
//! the validation set (ties to the earlier seed), `stop_at_score`, and the
//! same winner whatever the concurrency.

use kestrel_lm::with_lm;
use kestrel_modules::{ChainOfThought, PredictorsExt};
use kestrel_optimizers::{BootstrapFewShotWithRandomSearch, CandidateKind, Optimizer, StopReason};

use crate::support::{ArithmeticLm, exact, trainset};

fn cot() -> ChainOfThought {
    ChainOfThought::from_signature("question -> answer").unwrap()
}

#[tokio::test]
async fn candidate_seeds_follow_dspy() {
    let train = trainset(10);
    let lm = ArithmeticLm::new(1_000_000);
    let search = BootstrapFewShotWithRandomSearch::new(exact)
        .num_candidate_programs(8)
        .max_labeled_demos(0)
        .display_progress(false);
    let compiled = with_lm(lm.shared(), search.compile(&cot(), &train)).await.unwrap();
    let report = &compiled.report;
    let seeds: Vec<i64> = report.candidates.iter().map(|c| c.seed).collect();
    assert_eq!(seeds, (-3..8).collect::<Vec<_>>());
    let kinds: Vec<CandidateKind> = report.candidates.iter().take(4).map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [CandidateKind::ZeroShot, CandidateKind::Labeled, CandidateKind::Bootstrap, CandidateKind::Shuffled]
    );
    let labels: Vec<String> = kinds.iter().map(ToString::to_string).collect();
    assert_eq!(labels, ["zero-shot", "labeled", "bootstrap", "shuffled"]);
    assert!(report.candidates[4..].iter().all(|c| c.kind == CandidateKind::Shuffled));
    // Demo counts: none, none (k = 0), 4, then random.Random(seed).randint(1, 4)
    // for seeds 0..8 in CPython: 4, 2, 1, 2, 2, 3, 1, 3.
    let demos: Vec<usize> = report.candidates.iter().map(|c| c.demos[0]).collect();
    assert_eq!(demos, [0, 0, 4, 4, 2, 1, 2, 2, 3, 1, 3]);
    // Every candidate scores 100: the tie goes to the first seed.
    assert!(report.candidates.iter().all(|c| c.score == 100.0 && c.subscores.len() == 10));
    assert_eq!(report.best_seed, Some(-3));
    assert!(compiled.predictor_states()[0].1.demos.is_empty());
}

#[tokio::test]
async fn the_best_candidate_wins_and_stop_at_score_ends_the_search() {
    let train = trainset(12);
    let val = trainset(9);
    // Zero-shot gets every third sum wrong; any demo makes it perfect.
    let lm = ArithmeticLm::helped_by_demos(3);
    let search = BootstrapFewShotWithRandomSearch::new(exact).num_candidate_programs(3).display_progress(false);
    let compiled = with_lm(lm.shared(), search.compile_with_valset(&cot(), &train, Some(&val))).await.unwrap();
    let scores: Vec<f64> = compiled.report.candidates.iter().map(|c| c.score).collect();
    // 9 examples, sums 1, 3, 5, ..., 17: 3, 9 and 15 are wrong zero-shot.
    assert_eq!(scores[0], 66.67);
    assert!(scores[1..].iter().all(|&s| s == 100.0), "{scores:?}");
    assert_eq!(compiled.report.best_seed, Some(-2));
    assert_eq!(compiled.report.best_score(), Some(100.0));
    assert_eq!(compiled.predictor_states()[0].1.demos.len(), 12);

    let stopping = search.clone().stop_at_score(100.0);
    let compiled = with_lm(lm.shared(), stopping.compile_with_valset(&cot(), &train, Some(&val))).await.unwrap();
    assert_eq!(compiled.report.candidates.len(), 2);
    assert_eq!(
        compiled.report.stopped_early,
        Some(StopReason::StopAtScore { seed: -2, score: 100.0, stop_at_score: 100.0 })
    );
    assert_eq!(compiled.report.best_seed, Some(-2));
}

#[tokio::test]
async fn concurrency_does_not_change_the_winner() {
    let train = trainset(16);
    let mut outcomes = Vec::new();
    for concurrency in [1, 32] {
        let lm = ArithmeticLm::new(4);
        let search = BootstrapFewShotWithRandomSearch::new(exact)
            .num_candidate_programs(4)
            .max_labeled_demos(2)
            .concurrency(concurrency)
            .unwrap()
            .display_progress(false);
        let compiled = with_lm(lm.shared(), search.compile(&cot(), &train)).await.unwrap();
        let scores: Vec<f64> = compiled.report.candidates.iter().map(|c| c.score).collect();
        outcomes.push((scores, compiled.report.best_seed, compiled.predictor_states()));
    }
    assert_eq!(outcomes[0], outcomes[1]);
}

/// The search `stop_at_score` ends at seed -2 (labeled demos make the LM
/// perfect), over a client so the report can count calls.
async fn stopping_search(concurrency: usize, stop: bool) -> (usize, kestrel_optimizers::Compiled<ChainOfThought>) {
    let (train, val) = (trainset(12), trainset(9));
    let lm = ArithmeticLm::helped_by_demos(3);
    let client = kestrel_lm::LmBuilder::new(lm.shared()).no_cache().build().unwrap();
    let mut search = BootstrapFewShotWithRandomSearch::new(exact)
        .num_candidate_programs(8)
        .concurrency(concurrency)
        .unwrap()
        .display_progress(false);
    if stop {
        search = search.stop_at_score(100.0);
    }
    let compiled = with_lm(client, search.compile_with_valset(&cot(), &train, Some(&val))).await.unwrap();
    (lm.calls(), compiled)
}

#[tokio::test]
async fn stop_at_score_does_not_pay_for_candidates_a_sequential_search_never_starts() {
    let (all_calls, full) = stopping_search(16, false).await;
    assert_eq!(full.report.candidates.len(), 11);
    assert_eq!((full.report.candidates_not_run, full.report.candidates_cancelled), (0, 0));

    // Sequential (concurrency 1): zero-shot and labeled are evaluated (9
    // calls each), nothing more starts.
    let (sequential_calls, sequential) = stopping_search(1, true).await;
    assert_eq!(sequential_calls, 18);
    assert_eq!(sequential.report.candidates_not_run, 9);
    assert_eq!(sequential.report.candidates_cancelled, 0);

    // Concurrent: the same winner, and at most the work in flight when the
    // stop score was reached beyond the sequential run's.
    let (calls, concurrent) = stopping_search(16, true).await;
    assert_eq!(concurrent.report.best_seed, sequential.report.best_seed);
    assert_eq!(concurrent.predictor_states(), sequential.predictor_states());
    let scores = |c: &kestrel_optimizers::Compiled<ChainOfThought>| -> Vec<f64> {
        c.report.candidates.iter().map(|c| c.score).collect()
    };
    assert_eq!(scores(&concurrent), scores(&sequential));
    // (Measured: about 34 calls against 143 without `stop_at_score`.)
    assert!(calls * 2 < all_calls, "{calls} calls with stop_at_score, {all_calls} without");
    let report = &concurrent.report;
    assert_eq!(report.candidates.len() + report.candidates_cancelled + report.candidates_not_run, 11);
    assert!(report.candidates_not_run > 0, "{report}");
    // Answered calls: the decided candidates' plus the cancelled ones'
    // (calls still in flight at the cancellation were dropped unanswered).
    let decided: u64 = report.candidates.iter().map(|c| c.lm_calls).sum();
    assert_eq!(decided, 18);
    assert_eq!(decided + report.cancelled_lm_calls, report.lm_calls());
    assert!(report.lm_calls() <= calls as u64);
}

#[tokio::test]
async fn zero_bootstrapped_demos_with_shuffled_candidates_is_an_error_before_any_call() {
    let lm = ArithmeticLm::new(1_000);
    let search = BootstrapFewShotWithRandomSearch::new(exact).max_bootstrapped_demos(0).display_progress(false);
    let err = with_lm(lm.shared(), search.compile(&cot(), &trainset(6))).await.unwrap_err();
    assert!(
        matches!(err, kestrel_optimizers::OptimizerError::InvalidArgument { name: "max_bootstrapped_demos", .. }),
        "{err}"
    );
    assert_eq!(lm.calls(), 0);
    // Without shuffled candidates 0 is fine (DSPy never draws a count).
    let fixed_only = search.num_candidate_programs(0);
    let compiled = with_lm(lm.shared(), fixed_only.compile(&cot(), &trainset(6))).await.unwrap();
    assert_eq!(compiled.report.candidates.len(), 3);
}
