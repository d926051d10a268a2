//! Spending budgets (`kestrel_lm::Budget`): a run that reaches one stops
//! with the examples that finished, typed [`StopReason::BudgetReached`],
//! never counting the refused example as an error; a budget shared by two
//! runs is drawn down by both.

use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_eval::{Evaluate, StopReason};
use kestrel_lm::{Budget, BudgetKind, LmBuilder, SharedLm, with_budget, with_lm};
use kestrel_modules::Predict;

use crate::support::{FakeLm, qa};

fn program() -> Predict {
    Predict::from_signature("question -> answer").unwrap()
}

fn devset(n: usize) -> Vec<kestrel_core::Example> {
    (0..n).map(|i| qa(format!("q{i} delay_ms={}", i % 3), "yes", "yes")).collect()
}

#[tokio::test]
async fn max_lm_calls_stops_the_run_with_partial_results_in_order() {
    for concurrency in [1usize, 8] {
        let lm = FakeLm::new();
        let budget = Budget::lm_calls(7);
        let eval = Evaluate::new(devset(20)).concurrency(concurrency).unwrap().budget(budget.clone());
        let result = with_lm(lm.clone(), eval.run(&program(), &AnswerExactMatch::new())).await.unwrap();
        assert_eq!(
            result.stop,
            Some(StopReason::BudgetReached { budget: BudgetKind::LmCalls, limit: 7.0, spent: 7.0 })
        );
        assert!(result.is_budget_stop() && !result.is_complete());
        assert_eq!(result.errors, 0, "a refused call is no error of the example");
        // Exactly the 7 answered calls are kept (in flight calls never overshoot).
        assert_eq!(lm.counters.calls(), 7, "concurrency {concurrency}");
        assert_eq!(result.results.len(), 7, "concurrency {concurrency}");
        assert!(result.results.windows(2).all(|w| w[0].index < w[1].index));
        assert!(result.results.iter().all(|r| r.score.score == 1.0));
        // Not scored examples count as failures in the percentage, as for any stop.
        assert_eq!(result.score, 35.0);
        assert!(result.summary().contains("budget max_lm_calls = 7 reached"), "{}", result.summary());
    }
}

#[tokio::test]
async fn max_tokens_and_max_cost_usd_stop_a_run() {
    // 110 tokens a call: 4 calls reach 440 >= 400.
    let lm = FakeLm::new();
    let eval = Evaluate::new(devset(10)).concurrency(1).unwrap().budget(Budget::tokens(400));
    let result = with_lm(lm.clone(), eval.run(&program(), &AnswerExactMatch::new())).await.unwrap();
    assert_eq!(result.results.len(), 4);
    assert!(matches!(result.stop, Some(StopReason::BudgetReached { budget: BudgetKind::Tokens, .. })));

    // gpt-4o-mini: 100 prompt tokens at $0.15/M + 10 completion at $0.60/M =
    // $0.000021 a call; 3 calls ($0.000063) stay under $0.00007, the 4th goes over.
    let priced = FakeLm::priced();
    let client = LmBuilder::new(priced.clone()).no_cache().build().unwrap();
    let eval = Evaluate::new(devset(10)).concurrency(1).unwrap().budget(Budget::cost_usd(0.00007).unwrap());
    let result = with_lm(SharedLm::new(client), eval.run(&program(), &AnswerExactMatch::new())).await.unwrap();
    assert_eq!(result.results.len(), 4);
    assert_eq!(priced.counters.calls(), 4);
    assert!(matches!(result.stop, Some(StopReason::BudgetReached { budget: BudgetKind::CostUsd, .. })));
    assert!((result.usage.total.cost_usd - 0.000084).abs() < 1e-12);
}

#[tokio::test]
async fn two_runs_in_one_scope_draw_from_one_budget() {
    let lm = FakeLm::new();
    let budget = Budget::lm_calls(12);
    let eval = Evaluate::new(devset(8)).concurrency(4).unwrap();
    let (first, second) = with_lm(
        lm.clone(),
        with_budget(&budget, async {
            let first = eval.run(&program(), &AnswerExactMatch::new()).await.unwrap();
            let second = eval.run(&program(), &AnswerExactMatch::new()).await.unwrap();
            (first, second)
        }),
    )
    .await;
    assert!(first.is_complete());
    assert_eq!(second.results.len(), 4);
    assert!(second.is_budget_stop());
    assert_eq!(budget.spent().lm_calls, 12);
    // A third run under the spent budget starts nothing.
    let third =
        with_lm(lm.clone(), with_budget(&budget, eval.run(&program(), &AnswerExactMatch::new()))).await.unwrap();
    assert!(third.results.is_empty() && third.is_budget_stop());
    assert_eq!(lm.counters.calls(), 12);
}
