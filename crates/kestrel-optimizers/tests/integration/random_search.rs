//! BootstrapFewShotWithRandomSearch: DSPy's candidate seeds, the best on
//! the validation set (ties to the earlier seed), `stop_at_score`, and the
//! same winner whatever the concurrency.

use kestrel_lm::with_lm;
use kestrel_modules::{ChainOfThought, PredictorsExt};
use kestrel_optimizers::{BootstrapFewShotWithRandomSearch, Optimizer};

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
    let labels: Vec<&str> = report.candidates.iter().take(4).map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["zero-shot", "labeled", "bootstrap", "shuffled"]);
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
    assert!(compiled.report.stopped_early.is_some());
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
            .display_progress(false);
        let compiled = with_lm(lm.shared(), search.compile(&cot(), &train)).await.unwrap();
        let scores: Vec<f64> = compiled.report.candidates.iter().map(|c| c.score).collect();
        outcomes.push((scores, compiled.report.best_seed, compiled.predictor_states()));
    }
    assert_eq!(outcomes[0], outcomes[1]);
}
