//! Spending budgets (`kestrel_lm::with_budget`) on BootstrapFewShot and
//! BootstrapFewShotWithRandomSearch: each stops cleanly at the budget with
//! the best program so far and says why; a random search's bootstraps and
//! evaluations draw from one budget; in-flight work never overshoots
//! `max_lm_calls`. (COPRO, SIMBA, GEPA and MIPROv2 have theirs in their own
//! modules, beside their test LMs.)

use kestrel_lm::{Budget, BudgetLimits, with_budget, with_lm};
use kestrel_modules::{ChainOfThought, PredictorsExt};
use kestrel_optimizers::{BootstrapFewShot, BootstrapFewShotWithRandomSearch, Optimizer, StopReason};

use crate::support::{ArithmeticLm, exact, trainset};

fn cot() -> ChainOfThought {
    ChainOfThought::from_signature("question -> answer").unwrap()
}

fn budget_stop(stop: Option<&StopReason>) -> (String, f64, f64, String) {
    match stop {
        Some(StopReason::BudgetReached { budget, limit, spent, phase }) => {
            (budget.clone(), *limit, *spent, phase.clone())
        }
        other => panic!("expected a budget stop, got {other:?}"),
    }
}

#[tokio::test]
async fn bootstrap_keeps_the_demos_found_before_the_budget() {
    let lm = ArithmeticLm::new(1_000_000);
    let optimizer = BootstrapFewShot::new(exact)
        .max_bootstrapped_demos(4)
        .max_labeled_demos(0)
        .concurrency(1)
        .unwrap()
        .display_progress(false);
    let budget = Budget::lm_calls(2);
    let compiled = with_lm(lm.shared(), with_budget(&budget, optimizer.compile(&cot(), &trainset(10)))).await.unwrap();
    assert_eq!(compiled.predictor_states()[0].1.demos.len(), 2);
    assert_eq!(compiled.report.bootstrapped, 2);
    assert!(compiled.report.skipped.is_empty(), "a refused call is no failed example");
    let (budget_name, limit, spent, phase) = budget_stop(compiled.report.stopped_early.as_ref());
    assert_eq!((budget_name.as_str(), limit, spent, phase.as_str()), ("max_lm_calls", 2.0, 2.0, "demo bootstrapping"));
    assert_eq!(lm.calls(), 2);
}

fn search(concurrency: usize) -> BootstrapFewShotWithRandomSearch {
    BootstrapFewShotWithRandomSearch::new(exact)
        .num_candidate_programs(3)
        .concurrency(concurrency)
        .unwrap()
        .display_progress(false)
}

#[tokio::test]
async fn random_search_returns_the_best_candidate_scored_before_the_budget() {
    let (train, val) = (trainset(12), trainset(9));
    // Zero-shot scores 66.67 (9 calls), labeled-only 100 (9 calls); the
    // bootstrap candidate is cut after 3 teacher runs.
    let lm = ArithmeticLm::helped_by_demos(3);
    let budget = Budget::lm_calls(21);
    let compiled =
        with_lm(lm.shared(), with_budget(&budget, search(1).compile_with_valset(&cot(), &train, Some(&val))))
            .await
            .unwrap();
    let report = &compiled.report;
    let scores: Vec<(i64, f64)> = report.candidates.iter().map(|c| (c.seed, c.score)).collect();
    assert_eq!(scores, [(-3, 66.67), (-2, 100.0)]);
    assert_eq!(report.best_seed, Some(-2));
    assert_eq!(compiled.predictor_states()[0].1.demos.len(), 12, "the labeled-only program");
    let (name, limit, spent, phase) = budget_stop(report.stopped_early.as_ref());
    assert_eq!((name.as_str(), limit, spent, phase.as_str()), ("max_lm_calls", 21.0, 21.0, "candidate -1"));
    // Nested work drew from the one budget: the bootstrap inside stopped too.
    let child = report.children.last().unwrap();
    assert_eq!(budget_stop(child.stopped_early.as_ref()).3, "demo bootstrapping");
    assert_eq!(child.bootstrapped, 3);
    assert_eq!((lm.calls(), budget.spent().lm_calls), (21, 21));
}

#[tokio::test]
async fn random_search_with_candidates_in_flight_never_overshoots_and_keeps_a_scored_one() {
    let (train, val) = (trainset(12), trainset(9));
    let lm = ArithmeticLm::helped_by_demos(3);
    let budget = Budget::lm_calls(30);
    let compiled =
        with_lm(lm.shared(), with_budget(&budget, search(16).compile_with_valset(&cot(), &train, Some(&val))))
            .await
            .unwrap();
    let report = &compiled.report;
    budget_stop(report.stopped_early.as_ref());
    assert_eq!(lm.calls(), 30);
    // The returned program is the best fully scored candidate (or the student).
    let demos = compiled.predictor_states()[0].1.demos.len();
    match report.best_seed {
        Some(seed) => {
            let best = report.candidates.iter().find(|c| c.seed == seed).unwrap();
            assert!(report.candidates.iter().all(|c| c.score <= best.score));
            assert_eq!(best.demos, vec![demos]);
        }
        None => assert_eq!(demos, 0),
    }
}

#[tokio::test]
async fn a_budget_spent_during_the_first_candidate_returns_the_student() {
    let lm = ArithmeticLm::helped_by_demos(3);
    let budget = Budget::new(BudgetLimits { max_tokens: Some(60), ..BudgetLimits::default() }).unwrap();
    // 15 tokens a call: the 5th call is refused, inside the zero-shot evaluation.
    let compiled = with_lm(
        lm.shared(),
        with_budget(&budget, search(1).compile_with_valset(&cot(), &trainset(12), Some(&trainset(9)))),
    )
    .await
    .unwrap();
    assert!(compiled.report.candidates.is_empty());
    assert_eq!(compiled.report.best_seed, None);
    assert!(compiled.predictor_states()[0].1.demos.is_empty());
    let (name, limit, spent, _) = budget_stop(compiled.report.stopped_early.as_ref());
    assert_eq!((name.as_str(), limit, spent), ("max_tokens", 60.0, 60.0));
    assert_eq!(lm.calls(), 4);
}

#[tokio::test]
async fn a_compile_under_an_already_spent_budget_makes_no_call() {
    let lm = ArithmeticLm::new(1_000_000);
    let budget = Budget::lm_calls(1);
    let optimizer = BootstrapFewShot::new(exact).max_labeled_demos(0).concurrency(1).unwrap().display_progress(false);
    let first = with_lm(lm.shared(), with_budget(&budget, optimizer.compile(&cot(), &trainset(5)))).await.unwrap();
    assert_eq!(first.report.bootstrapped, 1);
    let second = with_lm(lm.shared(), with_budget(&budget, optimizer.compile(&cot(), &trainset(5)))).await.unwrap();
    assert_eq!(second.report.bootstrapped, 0);
    assert_eq!(budget_stop(second.report.stopped_early.as_ref()).0, "max_lm_calls");
    assert_eq!(lm.calls(), 1);
}

#[tokio::test]
async fn the_cost_estimate_bounds_the_calls_and_prices_them() {
    use kestrel_lm::PriceTable;
    use kestrel_optimizers::{CallProfile, estimate_compile};

    // 1 call per run, 10 prompt + 5 completion tokens per call (ArithmeticLm).
    let profile = CallProfile { lm_calls_per_run: 1.0, prompt_tokens_per_call: 10.0, completion_tokens_per_call: 5.0 };
    let prices = PriceTable::empty().with_price("test/arithmetic", 1_000.0, 2_000.0);
    let (train, val) = (trainset(12), trainset(9));
    let search = search(4);
    let estimate = estimate_compile(&search, (train.len(), val.len(), 1), &profile, "test/arithmetic", &prices, None);
    // 4 bootstraps of at most 12 teacher runs, 6 evaluations of 9.
    assert_eq!(estimate.bound.map(|b| b.runs), Some(4 * 12 + 6 * 9));
    assert_eq!(estimate.lm_calls, Some(102));
    assert_eq!((estimate.prompt_tokens, estimate.completion_tokens), (Some(1020), Some(510)));
    // 1020 × $1000/M + 510 × $2000/M
    assert!((estimate.cost_usd.unwrap() - 2.04).abs() < 1e-9);
    assert!(estimate.to_string().contains("≤ 102 LM calls"), "{estimate}");

    // The real compile stays within the bound.
    let lm = ArithmeticLm::new(1_000_000);
    with_lm(lm.shared(), search.compile_with_valset(&cot(), &train, Some(&val))).await.unwrap();
    assert!(lm.calls() as u64 <= estimate.lm_calls.unwrap(), "{} calls", lm.calls());

    // A budget caps the estimate; an unknown price leaves the cost unknown.
    let cap = BudgetLimits { max_lm_calls: Some(50), ..BudgetLimits::default() };
    let capped = estimate_compile(&search, (12, 9, 1), &profile, "test/unknown", &PriceTable::empty(), Some(&cap));
    assert_eq!((capped.lm_calls, capped.capped_by, capped.cost_usd), (Some(50), Some("max_lm_calls"), None));
    let usd = BudgetLimits { max_cost_usd: Some(0.5), ..BudgetLimits::default() };
    let capped = estimate_compile(&search, (12, 9, 1), &profile, "test/arithmetic", &prices, Some(&usd));
    assert_eq!((capped.cost_usd, capped.capped_by), (Some(0.5), Some("max_cost_usd")));
}

#[test]
fn a_call_profile_comes_from_an_evaluations_usage() {
    use kestrel_lm::UsageReport;
    use kestrel_optimizers::CallProfile;
    let mut usage = UsageReport::default();
    usage.total.calls = 40;
    usage.total.cache_hits = 10;
    usage.total.prompt_tokens = 3000;
    usage.total.completion_tokens = 600;
    let profile = CallProfile::from_usage(20, &usage).unwrap();
    assert_eq!(
        (profile.lm_calls_per_run, profile.prompt_tokens_per_call, profile.completion_tokens_per_call),
        (2.0, 100.0, 20.0)
    );
    usage.total.cache_hits = 40;
    assert!(CallProfile::from_usage(20, &usage).is_none(), "all cached: no token figure");
}
