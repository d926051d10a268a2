//! BestOfN: stopping at the threshold, the best when none passes, rollout
//! ids and temperature per attempt, DSPy's fail_count, parallel attempts
//! giving the sequential answer, and the chosen attempt's trace.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kestrel_core::{Example, Prediction};
use kestrel_lm::{CallConfig, with_lm};
use kestrel_modules::{
    AsyncReward, BestOfN, ChainOfThought, Module, ModuleError, Predict, Predictor, Predictors, PredictorsExt, ReAct,
    Tool, current_call_config, with_call_config, with_trace,
};
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::json;

use crate::test_lms::RolloutLm;

fn qa() -> Predict {
    Predict::from_signature("question -> answer").unwrap()
}

fn answers(list: &[&str]) -> ScriptedLm {
    ScriptedLm::sequence(list.iter().map(|a| Reply::fields([("answer", *a)])).collect::<Vec<_>>())
}

fn question() -> Example {
    Example::from_pairs([("question", "Capital of Belgium?")])
}

fn is_brussels(_: &Example, p: &Prediction) -> f64 {
    if p.get_str("answer") == Some("Brussels") { 1.0 } else { 0.0 }
}

fn length(_: &Example, p: &Prediction) -> f64 {
    p.get_str("answer").map_or(0.0, |a| a.len() as f64)
}

#[tokio::test]
async fn stops_at_the_first_attempt_reaching_the_threshold() {
    let lm = answers(&["Paris", "Brussels", "Brussels", "Brussels"]);
    let best = BestOfN::new(qa(), 4, is_brussels, 1.0);
    let out = with_lm(lm.clone(), best.forward(question())).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("Brussels"));
    assert_eq!(lm.request_count(), 2, "attempts after the winner are not made");
    let requests = lm.requests();
    let ids: Vec<_> = requests.iter().map(|r| (r.rollout_id, r.temperature)).collect();
    assert_eq!(ids, [(Some(0), Some(1.0)), (Some(1), Some(1.0))]);
}

#[tokio::test]
async fn returns_the_best_when_none_reaches_the_threshold() {
    let lm = answers(&["Rome", "Amsterdam", "Bern", "Stockholm"]);
    let best = BestOfN::new(qa(), 4, length, 100.0);
    let out = with_lm(lm.clone(), best.forward(question())).await.unwrap();
    // "Amsterdam" and "Stockholm" tie at 9: the first one stays (strictly greater wins).
    assert_eq!(out.get_str("answer"), Some("Amsterdam"));
    assert_eq!(lm.request_count(), 4);
}

#[tokio::test]
async fn every_call_of_an_attempt_shares_its_rollout_id_starting_from_the_scope() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    let ping = Tool::infallible("ping", "Ping.", |_: NoArgs| async { "pong" });
    let agent = ReAct::from_signature("question -> answer", [ping]).unwrap();
    let step = |tool: &str| {
        Reply::fields([("next_thought", json!("t")), ("next_tool_name", json!(tool)), ("next_tool_args", json!({}))])
    };
    let extract = |a: &str| Reply::fields([("reasoning", json!("r")), ("answer", json!(a))]);
    let lm = ScriptedLm::sequence([step("ping"), step("finish"), extract("x"), step("finish"), extract("Brussels")]);
    let best = BestOfN::new(agent, 3, is_brussels, 1.0);
    assert_eq!(best.predictor_paths(), ["module.react", "module.extract.predict"]);
    let scope = CallConfig { rollout_id: Some(10), ..CallConfig::default() };
    let out = with_lm(lm.clone(), with_call_config(scope, best.forward(question()))).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("Brussels"));
    let ids: Vec<_> = lm.requests().iter().map(|r| r.rollout_id).collect();
    assert_eq!(ids, [Some(10), Some(10), Some(10), Some(11), Some(11)]);
}

#[tokio::test]
async fn a_predictor_that_sets_its_own_temperature_keeps_it() {
    let lm = answers(&["Brussels"]);
    let best = BestOfN::new(qa().temperature(0.3), 2, is_brussels, 1.0);
    with_lm(lm.clone(), best.forward(question())).await.unwrap();
    let req = &lm.requests()[0];
    assert_eq!((req.rollout_id, req.temperature), (Some(0), Some(0.3)));
}

/// A module that fails on the rollout ids it is told to, else answers
/// `r{id}`.
#[derive(Debug, Clone)]
struct Flaky {
    fail_on: Vec<u64>,
    calls: Arc<AtomicUsize>,
}

impl Predictors for Flaky {
    fn visit_predictors(&self, _: &str, _: &mut dyn FnMut(&str, &dyn Predictor)) {}
    fn visit_predictors_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut dyn Predictor)) {}
}

impl Module for Flaky {
    type Input = Example;
    type Output = Prediction;
    async fn forward(&self, _: Example) -> Result<Prediction, ModuleError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let id = current_call_config().and_then(|c| c.rollout_id).unwrap_or(u64::MAX);
        if self.fail_on.contains(&id) {
            return Err(ModuleError::Module { module: "Flaky".into(), message: format!("failed at {id}") });
        }
        Ok(Prediction::new([("answer".to_string(), json!(format!("r{id}")))].into_iter().collect()))
    }
}

fn flaky(fail_on: &[u64]) -> Flaky {
    Flaky { fail_on: fail_on.to_vec(), calls: Arc::default() }
}

fn failed_at(err: &ModuleError) -> String {
    match err {
        ModuleError::Module { message, .. } => message.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn fail_count_follows_dspy() {
    let never = |_: &Example, _: &Prediction| 0.0;
    // Tolerated failures, then a success: the success is returned.
    let out = BestOfN::new(flaky(&[0, 1]), 3, never, 1.0).forward(question()).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("r2"));

    // N = 3, all failing: the third failure (index 2 > 1 left) is raised as is.
    let module = flaky(&[0, 1, 2]);
    let err = BestOfN::new(module.clone(), 3, never, 1.0).forward(question()).await.unwrap_err();
    assert_eq!(failed_at(&err), "failed at 2");
    assert_eq!(module.calls.load(Ordering::SeqCst), 3);

    // fail_count = 1: attempt 1 failing is raised, attempt 2 never runs.
    let module = flaky(&[0, 1]);
    let err = BestOfN::new(module.clone(), 3, never, 1.0).fail_count(1).forward(question()).await.unwrap_err();
    assert_eq!(failed_at(&err), "failed at 1");
    assert_eq!(module.calls.load(Ordering::SeqCst), 2);

    // N = 2, both failing within the budget: no winner, the last error kept.
    let err = BestOfN::new(flaky(&[0, 1]), 2, never, 1.0).forward(question()).await.unwrap_err();
    match err {
        ModuleError::AttemptsFailed { module: "BestOfN", attempts: 2, last } => {
            assert_eq!(failed_at(&last), "failed at 1")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_nan_reward_never_wins() {
    let err =
        BestOfN::new(flaky(&[]), 2, |_: &Example, _: &Prediction| f64::NAN, 1.0).forward(question()).await.unwrap_err();
    assert!(err.to_string().contains("none of the 2 attempt(s) got a reward above -inf"), "{err}");
}

fn rollout_lm() -> RolloutLm {
    let replies = [(0, "Rome"), (1, "Amsterdam"), (2, "Brussels"), (3, "Bern"), (4, "Brussels!")]
        .map(|(id, a)| (id, format!("[[ ## answer ## ]]\n{a}")));
    RolloutLm::new(replies, 5)
}

#[tokio::test]
async fn parallel_attempts_pick_what_a_sequential_run_picks() {
    let starts_with_bru =
        |_: &Example, p: &Prediction| if p.get_str("answer").is_some_and(|a| a.starts_with("Bru")) { 1.0 } else { 0.0 };
    // Threshold reached by attempts 2 and 4; run at once, attempt 4 finishes first.
    let sequential = rollout_lm();
    let seq =
        with_lm(sequential.clone(), BestOfN::new(qa(), 5, starts_with_bru, 1.0).forward(question())).await.unwrap();
    let concurrent = rollout_lm();
    let par = with_lm(concurrent.clone(), BestOfN::new(qa(), 5, starts_with_bru, 1.0).parallel(5).forward(question()))
        .await
        .unwrap();
    assert_eq!(seq, par);
    assert_eq!(par.get_str("answer"), Some("Brussels"));
    assert_eq!(sequential.requests().len(), 3);
    assert_eq!(concurrent.requests().len(), 5, "all five were started");

    // Nothing reaches the threshold: "Amsterdam" (attempt 1) and "Brussels!"
    // (attempt 4, done first) tie on length; the earlier attempt wins either way.
    let seq = with_lm(rollout_lm(), BestOfN::new(qa(), 5, length, 100.0).forward(question())).await.unwrap();
    let par =
        with_lm(rollout_lm(), BestOfN::new(qa(), 5, length, 100.0).parallel(2).forward(question())).await.unwrap();
    assert_eq!(seq, par);
    assert_eq!(par.get_str("answer"), Some("Amsterdam"));
}

#[tokio::test]
async fn the_chosen_attempt_is_traced_and_async_rewards_work() {
    let reward = AsyncReward::new(|_: Example, p: kestrel_core::Prediction| async move {
        Ok::<_, ModuleError>(if p.get_str("reasoning").is_some() && p.get_str("answer") == Some("Brussels") {
            1.0
        } else {
            0.0
        })
    });
    let cot = ChainOfThought::from_signature("question -> answer").unwrap();
    let best = BestOfN::new(cot, 3, reward, 1.0);
    assert_eq!(best.predictor_paths(), ["module.predict"]);
    let scripted = ScriptedLm::sequence([
        Reply::fields([("reasoning", "r"), ("answer", "Paris")]),
        Reply::fields([("reasoning", "r"), ("answer", "Brussels")]),
    ]);
    let (out, trace) = with_lm(scripted, with_trace(best.forward(question()))).await;
    assert_eq!(out.unwrap().output.get_str("answer"), Some("Brussels"));
    assert_eq!(trace.len(), 1, "only the winning attempt's call");
    assert_eq!(trace[0].outputs.get_str("answer"), Some("Brussels"));
}

#[tokio::test]
async fn the_new_modules_are_send_sync_values_that_run_on_spawned_tasks() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
    assert_traits::<BestOfN<ChainOfThought>>();
    assert_traits::<kestrel_modules::Refine<Predict>>();
    assert_traits::<ReAct>();
    assert_traits::<kestrel_modules::MultiChainComparison>();
    assert_traits::<Tool>();
    assert_traits::<kestrel_modules::Parallel>();
    assert_traits::<kestrel_modules::Majority>();

    let best = BestOfN::new(qa(), 2, is_brussels, 1.0).parallel(2);
    let lm = answers(&["Brussels", "Paris"]);
    let task = tokio::spawn({
        let best = best.clone();
        async move { with_lm(lm, best.forward(question())).await }
    });
    assert_eq!(task.await.unwrap().unwrap().get_str("answer"), Some("Brussels"));

    let refine = kestrel_modules::Refine::new(qa(), 2, is_brussels, 1.0).unwrap();
    let lm = answers(&["Brussels"]);
    let task = tokio::spawn(async move { with_lm(lm, refine.forward(question())).await });
    assert_eq!(task.await.unwrap().unwrap().get_str("answer"), Some("Brussels"));

    let agent = ReAct::from_signature("question -> answer", []).unwrap();
    let lm = ScriptedLm::sequence([
        Reply::fields([
            ("next_thought", json!("t")),
            ("next_tool_name", json!("finish")),
            ("next_tool_args", json!({})),
        ]),
        Reply::fields([("reasoning", json!("r")), ("answer", json!("Brussels"))]),
    ]);
    let task = tokio::spawn(async move { with_lm(lm, agent.forward(question())).await });
    assert_eq!(task.await.unwrap().unwrap().output.get_str("answer"), Some("Brussels"));
}
