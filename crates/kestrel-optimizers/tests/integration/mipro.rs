//! MIPROv2 end to end on scripted LMs: it picks the instruction and demo
//! set that score best, the same seed gives the same program at any
//! concurrency, zero-shot mode, DSPy's `auto` settings and draws, a budget
//! stop, and bad settings as typed errors.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use kestrel_core::{Example, Role, Usage};
use kestrel_eval::Evaluate;
use kestrel_lm::{Completion, Lm, LmBuilder, LmCapabilities, LmError, LmRequest, LmResponse, SharedLm, with_lm};
use kestrel_modules::{Predict, Predictor, ProgramState};
use kestrel_optimizers::mipro::{AutoMode, EvalBatch, MiproV2, TrialKind};
use kestrel_optimizers::{CandidateKind, Optimizer, OptimizerError, StopReason};
use kestrel_testkit::{RequestLog, Rule, RuleLm};

use crate::support::{exact, example, operands, question_of};

/// Adds `a + b`. Wrong by one when the sum is a multiple of 3 unless the
/// instructions say "carefully"; wrong by one when it is a multiple of 4
/// unless the prompt has demos; "Guess" in the instructions makes it always
/// wrong. Only a "carefully" instruction with demos scores 100.
#[derive(Debug, Default)]
struct TaskLm {
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Calls in flight per first user message (a teacher's first demo: each
    /// bootstrap's teacher has its own labeled demos).
    prompts: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    /// The most distinct first messages in flight at once.
    max_prompts: AtomicUsize,
    /// First user message of every call, in call order.
    order: std::sync::Mutex<Vec<String>>,
    /// With "Guess" in the instructions, fail (provider error) on even sums
    /// and answer the others right.
    guess_fails: bool,
}

#[async_trait]
impl Lm for TaskLm {
    fn model(&self) -> &str {
        "test/task"
    }
    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default().uncacheable()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let first = request.messages.iter().find(|m| m.role == Role::User).map_or(String::new(), |m| m.content.clone());
        {
            let mut prompts = self.prompts.lock().unwrap();
            *prompts.entry(first.clone()).or_default() += 1;
            self.max_prompts.fetch_max(prompts.len(), Ordering::SeqCst);
            self.order.lock().unwrap().push(first.clone());
        }
        // A call dropped unanswered (a cancelled speculative run) leaves too.
        let _leave = Leave(self, first);
        let system = request.messages.iter().find(|m| m.role == Role::System).map_or("", |m| m.content.as_str());
        let has_demos = request
            .messages
            .iter()
            .filter(|m| m.role == Role::User && m.content.contains("[[ ## question ## ]]"))
            .count()
            > 1;
        let (a, b) = operands(&question_of(&request)).unwrap_or((0, 0));
        let sum = a + b;
        if self.guess_fails && system.contains("Guess") && sum % 2 == 0 {
            return Err(LmError::Provider { model: "test/task".into(), message: "guessing failed".into() });
        }
        // (In `guess_fails` mode a guess on an odd sum is right.)
        let wrong = (system.contains("Guess") && !self.guess_fails)
            || (sum % 3 == 0 && !system.contains("carefully"))
            || (sum % 4 == 0 && !has_demos);
        let answer = if wrong { sum + 1 } else { sum };
        // Each question takes its own time, so runs finish out of order.
        tokio::time::sleep(std::time::Duration::from_millis(1 + sum % 3)).await;
        let text = format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]");
        Ok(LmResponse::new(
            vec![Completion::stop(text)],
            Usage { prompt_tokens: 10, completion_tokens: 2 },
            "test/task",
        ))
    }
}

/// Counts a call out of [`TaskLm`]'s in-flight figures when dropped.
struct Leave<'a>(&'a TaskLm, String);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut prompts = self.0.prompts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = prompts.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                prompts.remove(&self.1);
            }
        }
    }
}

fn rule(last_contains: &str, reply: &str) -> Rule {
    Rule { last_contains: vec![last_contains.into()], replies: vec![reply.into()], ..Rule::default() }
}

fn instruction(text: &str) -> String {
    format!("[[ ## proposed_instruction ## ]]\n{text}\n\n[[ ## completed ## ]]")
}

/// The prompt model: fixed summary and descriptions; the proposed
/// instruction depends on the tip drawn.
fn prompt_model(log: &RequestLog) -> RuleLm {
    let rules = vec![
        rule("[[ ## prior_observations ## ]]", "[[ ## observations ## ]]\n More.\n\n[[ ## completed ## ]]"),
        rule("field `[[ ## observations ## ]]`", "[[ ## observations ## ]]\nSums.\n\n[[ ## completed ## ]]"),
        rule("field `[[ ## summary ## ]]`", "[[ ## summary ## ]]\nAdditions.\n\n[[ ## completed ## ]]"),
        rule(
            "field `[[ ## program_description ## ]]`",
            "[[ ## program_description ## ]]\nAdds.\n\n[[ ## completed ## ]]",
        ),
        rule("field `[[ ## module_description ## ]]`", "[[ ## module_description ## ]]\nOne.\n\n[[ ## completed ## ]]"),
        rule("creative", &instruction("Guess the sum.")),
        rule("high stakes", &instruction("Guess fast, lives depend on it.")),
        rule("Keep the instruction clear", &instruction("Add the numbers carefully.")),
        rule("informative and descriptive", &instruction("Add both numbers carefully, digit by digit.")),
        rule("persona", &instruction("You are a careful accountant: add carefully.")),
        rule("field `[[ ## proposed_instruction ## ]]`", &instruction("Add the numbers.")),
    ];
    RuleLm::new("prompt", rules, Vec::new(), log.clone())
}

/// `n` questions with sums that hit both failure rules.
fn dataset(n: u64, offset: u64) -> Vec<Example> {
    (0..n).map(|i| example(i + offset, (i * 7 + offset) % 13)).collect()
}

fn student() -> Predict {
    Predict::from_signature("question -> answer").unwrap()
}

fn mipro(log: &RequestLog, concurrency: usize) -> MiproV2 {
    MiproV2::new(exact)
        .prompt_model(prompt_model(log))
        .auto(None)
        .num_candidates(6)
        .unwrap()
        .num_trials(15)
        .unwrap()
        .minibatch_size(10)
        .unwrap()
        .concurrency(concurrency)
        .unwrap()
        .display_progress(false)
}

#[tokio::test]
async fn chooses_the_instruction_and_demos_that_score_best() {
    let task = SharedLm::new(TaskLm::default());
    let (train, val) = (dataset(16, 0), dataset(30, 40));
    let log = RequestLog::new();
    let before = with_lm(task.clone(), Evaluate::new(val.clone()).run(&student(), &exact)).await.unwrap();
    let compiled =
        with_lm(task.clone(), mipro(&log, 8).compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    let after = with_lm(task.clone(), Evaluate::new(val.clone()).run(&compiled.program, &exact)).await.unwrap();

    assert!(before.score < 70.0, "the default program must leave room: {}", before.score);
    assert_eq!(after.score, 100.0, "{}", compiled.report);
    let signature = compiled.program.signature_spec();
    assert!(signature.instructions().contains("carefully"), "{}", signature.instructions());
    assert!(!compiled.program.demos().is_empty());

    let report = compiled.report.mipro.as_deref().unwrap();
    assert_eq!(report.best_score, Some(100.0));
    let best_trial = report.best_trial.unwrap();
    assert!(best_trial > 1);
    let winner = report.trials.iter().find(|t| t.number == best_trial).unwrap();
    assert_eq!(winner.kind, TrialKind::Full);
    assert_eq!(winner.params, report.best_params);
    // DSPy's schedule: 15 trials, a full evaluation after every 5 and the
    // default program first: 1 + 15 + 3 trial numbers.
    assert_eq!(report.trials.len(), 19);
    assert_eq!(report.trials[0].kind, TrialKind::Default);
    assert_eq!(report.trials[0].score, before.score);
    assert_eq!(report.trials.last().unwrap().total_eval_calls_so_far, 30 + 15 * 10 + 3 * 30);
    // Candidate 0 is the original instruction; demo set 0 is zero-shot,
    // 1 labeled, 2 the unshuffled bootstrap.
    let instructions = &report.instruction_candidates[0];
    assert_eq!(instructions.len(), 6);
    assert_eq!(instructions[0].instruction, student().signature_spec().instructions());
    let sets = &report.demo_set_candidates[0];
    assert_eq!(sets.len(), 6);
    assert_eq!(sets[0].kind, CandidateKind::ZeroShot);
    assert!(sets[0].demos.is_empty());
    assert_eq!(sets[1].kind, CandidateKind::Labeled);
    assert_eq!(sets[2].kind, CandidateKind::Bootstrap);
    assert!(sets[3..].iter().all(|s| s.kind == CandidateKind::Shuffled));
    let tried: usize = instructions.iter().map(|i| i.trials).sum();
    assert_eq!(tried, 15, "every minibatch trial counts for one instruction");
    // The student is untouched; the report serializes.
    assert!(student().demos().is_empty());
    let json = serde_json::to_value(&compiled.report).unwrap();
    assert_eq!(json["mipro"]["best_trial"], serde_json::json!(best_trial));
    assert!(compiled.report.to_string().contains("<- best"));
}

#[tokio::test]
async fn the_same_seed_gives_the_same_program_at_any_concurrency() {
    let task = SharedLm::new(TaskLm::default());
    let (train, val) = (dataset(16, 0), dataset(30, 40));
    let mut runs = Vec::new();
    for concurrency in [8, 1, 8] {
        let compiled = with_lm(
            task.clone(),
            mipro(&RequestLog::new(), concurrency).compile_with_valset(&student(), &train, Some(&val)),
        )
        .await
        .unwrap();
        let report = compiled.report.mipro.clone().unwrap();
        runs.push((compiled.program.dump_state(), report.trials, report.instruction_candidates));
    }
    assert_eq!(runs[0], runs[1], "concurrency 8 and 1");
    assert_eq!(runs[0], runs[2], "two runs");
    let other_seed =
        with_lm(task.clone(), mipro(&RequestLog::new(), 8).seed(3).compile_with_valset(&student(), &train, Some(&val)))
            .await
            .unwrap();
    assert_ne!(other_seed.report.mipro.unwrap().trials, runs[0].1, "the seed matters");
}

#[tokio::test]
async fn zero_shot_searches_instructions_only() {
    let task = SharedLm::new(TaskLm::default());
    let log = RequestLog::new();
    // auto light, zero-shot, no valset: 30 examples split 6 / 24.
    let optimizer = MiproV2::new(exact)
        .prompt_model(prompt_model(&log))
        .max_bootstrapped_demos(0)
        .max_labeled_demos(0)
        .display_progress(false);
    let compiled = with_lm(task, optimizer.compile(&student(), &dataset(30, 0))).await.unwrap();
    let report = compiled.report.mipro.as_deref().unwrap();
    assert!(report.zero_shot);
    assert_eq!((report.trainset_size, report.valset_size), (6, 24));
    assert!(!report.minibatch, "24 validation examples are not more than 50");
    // DSPy's light zero-shot settings: 6 instructions, 6 sets (3 demos
    // each, to inform the proposals), 9 trials (full evaluations).
    assert_eq!((report.num_instruct_candidates, report.num_fewshot_candidates, report.num_trials), (6, 6, 9));
    assert_eq!(report.trials.len(), 1 + 9);
    assert!(report.trials.iter().all(|t| t.params.iter().all(|c| c.demos.is_none())));
    assert!(report.demo_set_candidates.is_empty());
    // Without labeled demos DSPy's seed -2 set is a shuffled bootstrap.
    assert_eq!(report.demo_sets[1].kind, CandidateKind::Shuffled);
    assert!(compiled.program.demos().is_empty());
    assert!(compiled.program.signature_spec().instructions().contains("carefully"));
}

/// The seeded draws of an `auto = light` compile, in DSPy 3.4.1's order on
/// its one `random.Random(9)`: `create_minibatch` samples the 80-example
/// valset, `create_n_fewshot_demo_sets` shuffles the 20 training examples
/// and draws a demo count per shuffled set, `GroundedProposer` draws a tip
/// and a rollout id per proposal, then `eval_candidate_program` draws the
/// first minibatch.
#[tokio::test]
async fn auto_light_draws_as_dspy() {
    let task = SharedLm::new(TaskLm::default());
    let log = RequestLog::new();
    let optimizer = MiproV2::new(exact).prompt_model(prompt_model(&log)).display_progress(false);
    let data = dataset(100, 0);
    let compiled = with_lm(task, optimizer.compile(&student(), &data)).await.unwrap();
    let report = compiled.report.mipro.as_deref().unwrap();
    assert_eq!(report.auto, Some(AutoMode::Light));
    assert_eq!((report.trainset_size, report.valset_size, report.minibatch), (20, 80, true));
    assert_eq!((report.num_instruct_candidates, report.num_fewshot_candidates, report.num_trials), (3, 6, 10));
    // 10 minibatch trials, full evaluations after trials 6 and 12 and at the end.
    assert_eq!(report.trials.len(), 13);
    // CPython 3.11: rng = random.Random(9); rng.sample(range(80), 80);
    // 3 x (rng.shuffle(list(range(20))), rng.randint(1, 4)); 3 x
    // (rng.choice(tip keys), rng.randint(0, 10**9)); rng.sample(range(80), 35).
    let sizes: Vec<usize> = report.demo_sets.iter().map(|s| s.max_bootstrapped_demos).collect();
    assert_eq!(sizes, [0, 0, 4, 3, 2, 1]);
    let minibatch = match &report.trials[1].batch {
        EvalBatch::Minibatch(indices) => indices.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        minibatch,
        [
            47, 71, 79, 17, 37, 21, 33, 3, 6, 22, 73, 74, 15, 18, 1, 78, 7, 28, 13, 50, 24, 66, 39, 0, 51, 70, 58, 9,
            30, 35, 76, 8, 5, 60, 53
        ]
    );
    // The estimate DSPy's `_estimate_lm_calls` gives for these settings.
    assert_eq!(report.estimate.prompt_model_calls, 10 + 3 + 2);
    assert_eq!(report.estimate.trial_program_calls, 35 * 10 + 80 * 3);
}

#[tokio::test]
async fn a_budget_stop_returns_a_usable_program_and_says_why() {
    let task: SharedLm = SharedLm::new(LmBuilder::new(TaskLm::default()).no_cache().build().unwrap());
    let log = RequestLog::new();
    let prompt: SharedLm = SharedLm::new(LmBuilder::new(prompt_model(&log)).no_cache().build().unwrap());
    let (train, val) = (dataset(16, 0), dataset(30, 40));
    let optimizer = mipro(&log, 4).prompt_model(prompt).max_lm_calls(150).unwrap();
    let compiled = with_lm(task.clone(), optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    match &compiled.report.stopped_early {
        Some(StopReason::BudgetReached { budget, limit, spent, phase }) => {
            assert_eq!(budget, "max_lm_calls");
            assert_eq!(*limit, 150.0);
            assert!(*spent >= 150.0);
            assert_eq!(phase, "trials");
        }
        other => panic!("expected a budget stop, got {other:?}"),
    }
    let report = compiled.report.mipro.as_deref().unwrap();
    assert!(report.trials.len() < 19, "stopped before the end");
    assert!(report.best_score.is_some(), "the default program was scored");
    assert!(compiled.report.to_string().contains("budget reached during trials"));
    // What each phase spent adds up to the whole compile.
    let phases: Vec<&str> = report.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(phases, ["demo sets and dataset summary", "instruction proposal", "trials"]);
    assert!(report.phases.iter().all(|p| p.usage.calls > 0), "{:?}", report.phases);
    let calls: u64 = report.phases.iter().map(|p| p.usage.calls).sum();
    assert_eq!(calls, compiled.report.lm_calls());
    // The program runs.
    let result = with_lm(task, Evaluate::new(val).run(&compiled.program, &exact)).await.unwrap();
    assert!(result.score > 0.0);
}

/// DSPy's `Evaluate` raises once `max_errors` examples failed, and MIPROv2
/// scores such an evaluation 0 (not the partial score).
#[tokio::test]
async fn an_evaluation_stopped_by_errors_scores_zero() {
    let task = SharedLm::new(TaskLm { guess_fails: true, ..TaskLm::default() });
    let (train, val) = (dataset(16, 0), dataset(30, 40));
    let optimizer = mipro(&RequestLog::new(), 4).max_errors(2).unwrap().seed(3);
    let compiled = with_lm(task, optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    let report = compiled.report.mipro.as_deref().unwrap();
    let guessing: Vec<usize> =
        report.instruction_candidates[0].iter().filter(|c| c.instruction.contains("Guess")).map(|c| c.index).collect();
    let failed: Vec<f64> =
        report.trials.iter().filter(|t| guessing.contains(&t.params[0].instruction)).map(|t| t.score).collect();
    assert!(!failed.is_empty(), "some trial tried a guessing instruction: {:?}", report.instruction_candidates[0]);
    assert!(failed.iter().all(|&s| s == 0.0), "{failed:?}");
    assert!(compiled.program.signature_spec().instructions().contains("carefully"));
}

#[tokio::test]
async fn a_cost_budget_stops_the_trials() {
    // 10 prompt + 2 completion tokens a call at $1,000 per million tokens
    // of each: $0.012 a call.
    let prices = kestrel_lm::PriceTable::empty().with_price("test/task", 1_000.0, 1_000.0);
    let task: SharedLm = SharedLm::new(LmBuilder::new(TaskLm::default()).no_cache().prices(prices).build().unwrap());
    let (train, val) = (dataset(16, 0), dataset(30, 40));
    let unbounded =
        with_lm(task.clone(), mipro(&RequestLog::new(), 4).compile_with_valset(&student(), &train, Some(&val)))
            .await
            .unwrap();
    let full_cost = unbounded.report.cost_usd();
    assert!(full_cost > 1.0, "{full_cost}");
    let optimizer = mipro(&RequestLog::new(), 4).max_cost_usd(full_cost / 2.0).unwrap();
    let compiled = with_lm(task, optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    match &compiled.report.stopped_early {
        Some(StopReason::BudgetReached { budget, limit, spent, phase }) => {
            assert_eq!((budget.as_str(), phase.as_str()), ("max_cost_usd", "trials"));
            assert_eq!(*limit, full_cost / 2.0);
            assert!(*spent >= *limit);
        }
        other => panic!("expected a budget stop, got {other:?}"),
    }
    // Trials in flight when the budget is reached are dropped: the cost
    // overshoots by at most one trial's evaluation.
    assert!(compiled.report.cost_usd() < full_cost, "{} vs {full_cost}", compiled.report.cost_usd());
    let unbounded_trials = &unbounded.report.mipro.as_deref().unwrap().trials;
    let trials = &compiled.report.mipro.as_deref().unwrap().trials;
    assert!(trials.len() < unbounded_trials.len());
    assert_eq!(trials[..], unbounded_trials[..trials.len()], "the same trials up to the stop");
}

#[tokio::test]
async fn a_budget_reached_during_bootstrapping_skips_the_rest() {
    let task: SharedLm = SharedLm::new(LmBuilder::new(TaskLm::default()).no_cache().build().unwrap());
    let log = RequestLog::new();
    let (train, val) = (dataset(16, 0), dataset(30, 40));
    let optimizer = mipro(&log, 4).max_cost_usd(1e-9).unwrap();
    // No prices known: cost stays 0, so the cost budget is never reached...
    let compiled = with_lm(task.clone(), optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    assert_eq!(compiled.report.stopped_early, None);
    // ...while 1 call is reached during demo bootstrapping.
    let optimizer = mipro(&log, 4).max_lm_calls(1).unwrap();
    let compiled = with_lm(task, optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    match &compiled.report.stopped_early {
        Some(StopReason::BudgetReached { phase, .. }) => assert_eq!(phase, "instruction proposal"),
        other => panic!("expected a budget stop, got {other:?}"),
    }
    assert!(compiled.report.mipro.as_deref().unwrap().trials.is_empty());
    assert_eq!(compiled.program.dump_state(), student().dump_state(), "the student, unchanged");
}

/// Step 1 alone (a one-call budget stops the compile after it): the
/// bootstraps of the demo sets run at once, under one limit.
#[tokio::test]
async fn demo_sets_are_bootstrapped_at_once_under_one_limit() {
    let (train, val) = (dataset(16, 0), dataset(30, 40));
    let (mut max, mut teachers) = (Vec::new(), Vec::new());
    let mut sets = Vec::new();
    for concurrency in [1, 6] {
        let lm = std::sync::Arc::new(TaskLm::default());
        let task = SharedLm::new(LmBuilder::new(SharedLm::from_arc(lm.clone())).no_cache().build().unwrap());
        let optimizer = mipro(&RequestLog::new(), concurrency).max_lm_calls(1).unwrap();
        let compiled = with_lm(task, optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
        max.push(lm.max_in_flight.load(Ordering::SeqCst));
        teachers.push(lm.max_prompts.load(Ordering::SeqCst));
        if concurrency == 1 {
            // DSPy's order: one bootstrap after the other, so each teacher's
            // calls form one run.
            let order = lm.order.lock().unwrap().clone();
            let runs = 1 + order.windows(2).filter(|w| w[0] != w[1]).count();
            let distinct = order.iter().collect::<std::collections::HashSet<_>>().len();
            assert_eq!(runs, distinct, "{order:#?}");
            assert!(distinct >= 3, "several bootstraps ran: {distinct}");
        }
        sets.push(compiled.report.mipro.unwrap().demo_set_candidates);
    }
    assert_eq!(max[0], 1);
    assert!(max[1] > 1 && max[1] <= 6, "{max:?}");
    // The 4 bootstraps (unshuffled and 3 shuffled sets) each have their
    // own teacher demos: several were running at once.
    assert_eq!(teachers[0], 1);
    assert!(teachers[1] > 1, "{teachers:?}");
    assert_eq!(sets[0], sets[1], "the same demo sets at any concurrency");
}

/// The smallest settings: one candidate (the original instruction, the
/// zero-shot set) and one trial.
#[tokio::test]
async fn one_candidate_and_one_trial_keep_the_student() {
    let task = SharedLm::new(TaskLm::default());
    let (train, val) = (dataset(6, 0), dataset(4, 40));
    let optimizer = MiproV2::new(exact)
        .prompt_model(prompt_model(&RequestLog::new()))
        .auto(None)
        .num_candidates(1)
        .unwrap()
        .num_trials(1)
        .unwrap()
        .minibatch(false)
        .display_progress(false);
    let compiled = with_lm(task, optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    let report = compiled.report.mipro.as_deref().unwrap();
    assert_eq!(report.instruction_candidates[0].len(), 1);
    assert_eq!(report.demo_set_candidates[0].len(), 1);
    assert_eq!(report.trials.len(), 2, "the default program and one trial");
    assert_eq!(report.best_trial, Some(1), "an equal score does not replace the default");
    assert_eq!(compiled.program.dump_state(), student().dump_state());
}

#[tokio::test]
async fn bad_settings_are_typed_errors() {
    let m = || MiproV2::new(exact).display_progress(false);
    let run = |opt: MiproV2, train: Vec<Example>, val: Option<Vec<Example>>| async move {
        let task = SharedLm::new(TaskLm::default());
        with_lm(task, opt.compile_with_valset(&student(), &train, val.as_deref())).await.unwrap_err()
    };
    let config = |e: &OptimizerError, text: &str| {
        assert!(matches!(e, OptimizerError::Config(m) if m.contains(text)), "{e}");
    };
    let train = dataset(10, 0);
    config(&run(m().num_candidates(3).unwrap(), train.clone(), None).await, "If auto is not None");
    config(&run(m().num_trials(3).unwrap(), train.clone(), None).await, "If auto is not None");
    config(&run(m().auto(None), train.clone(), None).await, "num_candidates must also be provided");
    config(
        &run(m().auto(None).num_candidates(4).unwrap(), train.clone(), None).await,
        "we'd recommend setting num_trials to ~8",
    );
    config(
        &run(m().auto(None).num_candidates(4).unwrap().num_trials(4).unwrap(), train.clone(), None).await,
        "Minibatch size cannot exceed the size of the valset. Valset size: 8.",
    );
    let e = run(m(), Vec::new(), None).await;
    assert!(matches!(e, OptimizerError::InvalidArgument { name: "trainset", .. }), "{e}");
    let e = run(m(), dataset(1, 0), None).await;
    assert!(matches!(e, OptimizerError::InvalidArgument { name: "trainset", .. }), "{e}");
    let e = run(m(), train.clone(), Some(Vec::new())).await;
    assert!(matches!(e, OptimizerError::InvalidArgument { name: "valset", .. }), "{e}");
    // DSPy's randint(1, 0) for a shuffled set with labeled demos.
    let e = run(m().max_bootstrapped_demos(0), train.clone(), None).await;
    assert!(matches!(e, OptimizerError::InvalidArgument { name: "max_bootstrapped_demos", .. }), "{e}");
    for (name, e) in [
        ("num_candidates", m().num_candidates(0).unwrap_err()),
        ("num_trials", m().num_trials(0).unwrap_err()),
        ("concurrency", m().concurrency(0).unwrap_err()),
        ("trial_concurrency", m().trial_concurrency(0).unwrap_err()),
        ("max_errors", m().max_errors(0).unwrap_err()),
        ("minibatch_size", m().minibatch_size(0).unwrap_err()),
        ("minibatch_full_eval_steps", m().minibatch_full_eval_steps(0).unwrap_err()),
        ("view_data_batch_size", m().view_data_batch_size(0).unwrap_err()),
        ("max_lm_calls", m().max_lm_calls(0).unwrap_err()),
        ("max_cost_usd", m().max_cost_usd(-1.0).unwrap_err()),
        ("max_cost_usd", m().max_cost_usd(f64::NAN).unwrap_err()),
        ("auto", "extreme".parse::<AutoMode>().unwrap_err()),
    ] {
        assert!(matches!(e, OptimizerError::InvalidArgument { name: n, .. } if n == name), "{name}: {e}");
    }
}

#[derive(Clone, kestrel_macros::Module)]
struct TwoSteps {
    first: Predict,
    second: Predict,
}

impl kestrel_modules::Module for TwoSteps {
    type Input = Example;
    type Output = kestrel_core::Prediction;

    async fn forward(&self, input: Example) -> Result<kestrel_core::Prediction, kestrel_modules::ModuleError> {
        self.first.forward_example(&input, None).await?;
        self.second.forward_example(&input, None).await
    }
}

/// A MIPROv2-compiled two-predictor program, saved by Kestrel, loads in
/// Python DSPy 3.4.1 with its instructions and demos intact and runs
/// (`tests/dspy_reference/mipro_load.py`; needs a Python with DSPy 3.4.1,
/// `DSPY_PYTHON`, default `python3`).
#[tokio::test]
#[ignore = "needs Python with dspy 3.4.1 (set DSPY_PYTHON)"]
async fn a_saved_program_loads_in_python_dspy() {
    use kestrel_modules::PredictorsExt;
    let task = SharedLm::new(TaskLm::default());
    let student = TwoSteps { first: student(), second: student() };
    let (train, val) = (dataset(16, 0), dataset(30, 40));
    let compiled =
        with_lm(task, mipro(&RequestLog::new(), 8).compile_with_valset(&student, &train, Some(&val))).await.unwrap();
    let states = compiled.program.predictor_states();
    assert!(states.iter().any(|(_, s)| !s.demos.is_empty()), "a program with demos is saved");
    assert!(
        states.iter().any(|(_, s)| s.signature.instructions() != student.first.signature_spec().instructions()),
        "a program with a new instruction is saved"
    );
    let expected: serde_json::Map<String, serde_json::Value> = states
        .iter()
        .map(|(path, s)| {
            let demos: Vec<serde_json::Value> = s.demos.iter().map(|d| serde_json::to_value(d).unwrap()).collect();
            (path.clone(), serde_json::json!({"instructions": s.signature.instructions(), "demos": demos}))
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("kestrel-mipro-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (saved, wanted) = (dir.join("program.json"), dir.join("expected.json"));
    compiled.program.save(&saved).unwrap();
    std::fs::write(&wanted, serde_json::to_string_pretty(&expected).unwrap()).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dspy_reference/mipro_load.py");
    let python = std::env::var("DSPY_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = std::process::Command::new(python).arg(&script).arg(&saved).arg(&wanted).output().unwrap();
    if std::env::var_os("KEEP_MIPRO_FILES").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.trim(), "ok");
}

#[tokio::test]
async fn a_budget_in_scope_stops_mipro_at_the_exact_call_and_the_token_budget_too() {
    let task: SharedLm = SharedLm::new(LmBuilder::new(TaskLm::default()).no_cache().build().unwrap());
    let (train, val) = (dataset(16, 0), dataset(30, 40));
    let (student, optimizer) = (student(), mipro(&RequestLog::new(), 4));
    let counter = kestrel_lm::Budget::new(kestrel_lm::BudgetLimits::default()).unwrap();
    let compile = optimizer.compile_with_valset(&student, &train, Some(&val));
    let unbounded = with_lm(task.clone(), kestrel_lm::with_budget(&counter, compile)).await.unwrap();
    let total = counter.spent().lm_calls;
    let unbounded_trials = &unbounded.report.mipro.as_deref().unwrap().trials;
    // The estimate before the compile bounds what it made (one call per run).
    let profile = kestrel_optimizers::CallProfile {
        lm_calls_per_run: 1.0,
        prompt_tokens_per_call: 10.0,
        completion_tokens_per_call: 2.0,
    };
    let prices = kestrel_lm::PriceTable::empty();
    let estimate = kestrel_optimizers::estimate_compile(
        &optimizer,
        (train.len(), val.len(), 1),
        &profile,
        "test/task",
        &prices,
        None,
    );
    assert!(total <= estimate.lm_calls.unwrap(), "{total} calls, {estimate}");

    // A hard budget (prompt and task model calls alike) of half the calls.
    let budget = kestrel_lm::Budget::lm_calls(total / 2);
    let compile = optimizer.compile_with_valset(&student, &train, Some(&val));
    let compiled = with_lm(task.clone(), kestrel_lm::with_budget(&budget, compile)).await.unwrap();
    match &compiled.report.stopped_early {
        Some(StopReason::BudgetReached { budget: name, limit, spent, phase }) => {
            assert_eq!((name.as_str(), phase.as_str()), ("max_lm_calls", "trials"));
            assert_eq!((*limit, *spent), ((total / 2) as f64, (total / 2) as f64));
        }
        other => panic!("expected a budget stop, got {other:?}"),
    }
    assert_eq!(budget.spent().lm_calls, total / 2, "never overshot");
    let trials = &compiled.report.mipro.as_deref().unwrap().trials;
    assert!(trials.len() < unbounded_trials.len());
    // The trials before the one the budget cut are those of the unbounded run.
    assert_eq!(trials[..trials.len() - 1], unbounded_trials[..trials.len() - 1]);
    let result = with_lm(task.clone(), Evaluate::new(val.clone()).run(&compiled.program, &exact)).await.unwrap();
    assert!(result.score > 0.0);

    // MIPROv2's own soft token budget: 12 tokens a task call.
    let tokens = unbounded.report.usage.total.prompt_tokens + unbounded.report.usage.total.completion_tokens;
    let optimizer = optimizer.max_tokens(tokens / 2).unwrap();
    assert_eq!(optimizer.get_max_tokens(), Some(tokens / 2));
    let compiled = with_lm(task, optimizer.compile_with_valset(&student, &train, Some(&val))).await.unwrap();
    match &compiled.report.stopped_early {
        Some(StopReason::BudgetReached { budget: name, phase, .. }) => {
            assert_eq!((name.as_str(), phase.as_str()), ("max_tokens", "trials"));
        }
        other => panic!("expected a budget stop, got {other:?}"),
    }
    assert!(mipro(&RequestLog::new(), 1).max_tokens(0).is_err());
}
