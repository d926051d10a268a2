//! COPRO on scripted LMs: it picks the instruction that scores best, the
//! same inputs give the same program at any concurrency, several
//! predictors are searched in turn, bad settings and failed proposals are
//! handled without losing the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use kestrel_core::{Example, Prediction, Role, Usage};
use kestrel_eval::Evaluate;
use kestrel_lm::{Completion, Lm, LmCapabilities, LmError, LmRequest, LmResponse, SharedLm, with_lm};
use kestrel_modules::{Module, ModuleError, Predict, PredictorsExt, ProgramState};
use kestrel_optimizers::{Copro, Optimizer, OptimizerError, StatsKind};
use kestrel_testkit::{RequestLog, Rule, RuleLm};

use crate::support::{exact, operands, question_of, trainset};

/// Adds the numbers right only when its instructions say "carefully";
/// otherwise it is off by one on every third question. "Guess" makes it
/// always wrong.
#[derive(Debug, Default)]
pub(crate) struct InstructionLm {
    calls: AtomicUsize,
}

#[async_trait]
impl Lm for InstructionLm {
    fn model(&self) -> &str {
        "test/instructions"
    }
    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default().uncacheable()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let system = request.messages.iter().find(|m| m.role == Role::System).map_or("", |m| m.content.as_str());
        let question = question_of(&request);
        let (a, b) = operands(&question).unwrap_or((0, 0));
        let sum = a + b;
        let answer = if system.contains("Guess") {
            sum + 7
        } else if system.contains("carefully") || sum % 3 != 0 {
            sum
        } else {
            sum + 1
        };
        // Each question takes a different time, so concurrent runs finish
        // out of order.
        tokio::time::sleep(std::time::Duration::from_millis(sum % 3)).await;
        let text = format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]");
        Ok(LmResponse::new(vec![Completion::stop(text)], Usage::default(), "test/instructions"))
    }
}

fn reply(instruction: &str, prefix: &str) -> String {
    format!(
        "[[ ## proposed_instruction ## ]]\n{instruction}\n\n[[ ## proposed_prefix_for_output_field ## ]]\n{prefix}\n\n[[ ## completed ## ]]"
    )
}

/// A prompt model: first proposals include a bad and a good instruction;
/// proposals from attempts include an even more explicit one.
fn prompt_model(log: &RequestLog) -> RuleLm {
    RuleLm::new(
        "prompt",
        vec![
            Rule {
                last_contains: vec!["[[ ## basic_instruction ## ]]".into()],
                replies: vec![reply("Guess the sum.", "Sum:"), reply("\"Add the numbers carefully.\"", "Total:")],
                ..Rule::default()
            },
            Rule {
                last_contains: vec!["[[ ## attempted_instructions ## ]]".into()],
                replies: vec![
                    reply("Add the two numbers carefully, digit by digit.", "Answer:"),
                    reply("Guess quickly.", "Answer:"),
                    reply("Add the numbers carefully.", "Total:"),
                ],
                ..Rule::default()
            },
        ],
        Vec::new(),
        log.clone(),
    )
}

pub(crate) fn copro(log: &RequestLog, concurrency: usize) -> Copro {
    Copro::new(exact)
        .prompt_model(prompt_model(log))
        .breadth(3)
        .unwrap()
        .depth(2)
        .unwrap()
        .concurrency(concurrency)
        .unwrap()
        .display_progress(false)
}

#[tokio::test]
async fn chooses_the_instruction_that_scores_best() {
    let lm = Arc::new(InstructionLm::default());
    let task: SharedLm = SharedLm::from_arc(lm.clone());
    let train = trainset(12);
    let student = Predict::from_signature("question -> answer").unwrap();
    let log = RequestLog::new();

    let before = with_lm(task.clone(), Evaluate::new(train.clone()).run(&student, &exact)).await.unwrap();
    let compiled = with_lm(task.clone(), copro(&log, 8).compile(&student, &train)).await.unwrap();
    let after = with_lm(task.clone(), Evaluate::new(train.clone()).run(&compiled.program, &exact)).await.unwrap();

    assert!(before.score < 100.0, "the baseline must leave room: {}", before.score);
    assert_eq!(after.score, 100.0);
    let signature = compiled.program.signature_spec();
    assert_eq!(
        signature.instructions(),
        "Add the numbers carefully.",
        "quotes stripped; the first of equal scores wins"
    );
    assert_eq!(signature.field("answer").unwrap().prefix, "Total:");
    // 3 first candidates + 3 from attempts, each scored once on 12 examples.
    assert_eq!(compiled.report.evaluations, 6);
    assert_eq!(lm.calls.load(Ordering::SeqCst), 12 + 6 * 12 + 12);
    let best = &compiled.report.instruction_candidates[0];
    assert_eq!((best.score, best.depth), (100.0, 0));
    // The repeated (instruction, prefix) at depth 1 is not listed twice.
    let repeats =
        compiled.report.instruction_candidates.iter().filter(|c| c.instruction == "Add the numbers carefully.").count();
    assert_eq!(repeats, 1);
    // The student is untouched.
    assert_eq!(student.signature_spec().instructions(), "Given the fields `question`, produce the fields `answer`.");
}

#[tokio::test]
async fn concurrency_never_changes_the_program() {
    let task = SharedLm::new(InstructionLm::default());
    let train = trainset(9);
    let student = Predict::from_signature("question -> answer").unwrap();
    let mut states = Vec::new();
    for concurrency in [1, 4, 64] {
        let compiled =
            with_lm(task.clone(), copro(&RequestLog::new(), concurrency).compile(&student, &train)).await.unwrap();
        states.push((compiled.program.dump_state(), compiled.report.instruction_candidates.clone()));
    }
    assert_eq!(states[0], states[1]);
    assert_eq!(states[0], states[2]);
}

#[derive(Clone, kestrel_macros::Module)]
struct TwoSteps {
    first: Predict,
    second: Predict,
}

impl Module for TwoSteps {
    type Input = Example;
    type Output = Prediction;

    async fn forward(&self, input: Example) -> Result<Prediction, ModuleError> {
        self.first.forward_example(&input, None).await?;
        self.second.forward_example(&input, None).await
    }
}

#[tokio::test]
async fn searches_every_predictor_in_turn() {
    let task = SharedLm::new(InstructionLm::default());
    let train = trainset(6);
    let student = TwoSteps {
        first: Predict::from_signature("question -> answer").unwrap(),
        second: Predict::from_signature("question -> answer").unwrap(),
    };
    let log = RequestLog::new();
    let compiled = with_lm(task, copro(&log, 4).track_stats(true).compile(&student, &train)).await.unwrap();
    // Only the second predictor's answer is scored, so it must end up with a
    // "carefully" instruction.
    let states = compiled.program.predictor_states();
    assert_eq!(states[1].0, "second");
    assert!(states[1].1.signature.instructions().contains("carefully"), "{:?}", states[1].1.signature.instructions());
    // Proposals: 2 first ones and 2 from attempts, for two predictors.
    assert_eq!(log.requests().len(), 4);
    // With several predictors every candidate so far is re-scored: 3 + 6 per predictor.
    assert_eq!(compiled.report.evaluations, 2 * (3 + 6));
    let latest = compiled.report.depth_stats.iter().filter(|s| s.kind == StatsKind::Latest).count();
    assert_eq!(latest, 2 * 2, "one `latest` row per predictor and depth");
    assert!(compiled.report.depth_stats.iter().any(|s| s.kind == StatsKind::Best && s.max == 100.0));
}

#[test]
fn breadth_of_one_and_zero_counts_are_invalid_arguments() {
    let err = Copro::new(exact).breadth(1).unwrap_err();
    assert!(matches!(err, OptimizerError::InvalidArgument { name: "breadth", .. }), "{err}");
    let err = Copro::new(exact).depth(0).unwrap_err();
    assert!(matches!(err, OptimizerError::InvalidArgument { name: "depth", .. }), "{err}");
    let err = Copro::new(exact).concurrency(0).unwrap_err();
    assert!(matches!(err, OptimizerError::InvalidArgument { name: "concurrency", .. }), "{err}");
}

#[tokio::test]
async fn a_failed_proposal_is_reported_and_the_search_goes_on() {
    let log = RequestLog::new();
    // A prompt model with no rules and no default: every proposal fails.
    let broken = RuleLm::new("broken", Vec::new(), Vec::new(), log.clone());
    let task = SharedLm::new(InstructionLm::default());
    let student = Predict::from_signature("question -> answer").unwrap();
    let compiled = with_lm(
        task,
        Copro::new(exact)
            .prompt_model(broken)
            .breadth(3)
            .unwrap()
            .depth(2)
            .unwrap()
            .display_progress(false)
            .compile(&student, &trainset(6)),
    )
    .await
    .unwrap();
    assert_eq!(compiled.report.proposal_failures.len(), 2, "{:?}", compiled.report.proposal_failures);
    // Only the original instruction was left to score, once per depth.
    assert_eq!(compiled.report.instruction_candidates.len(), 1);
    assert_eq!(
        compiled.program.signature_spec().instructions(),
        "Given the fields `question`, produce the fields `answer`."
    );
    assert_eq!(compiled.report.evaluations, 1);
}

#[tokio::test]
async fn a_budget_stops_copro_with_the_best_instruction_scored_so_far() {
    let lm = Arc::new(InstructionLm::default());
    let task: SharedLm = SharedLm::from_arc(lm.clone());
    let student = Predict::from_signature("question -> answer").unwrap();
    // One proposal call, then "Guess" (0%) and "carefully" (100%) are scored
    // on 12 examples each; the original instruction's evaluation is cut.
    let budget = kestrel_lm::Budget::lm_calls(1 + 12 + 12 + 5);
    let compiled =
        with_lm(task, kestrel_lm::with_budget(&budget, copro(&RequestLog::new(), 1).compile(&student, &trainset(12))))
            .await
            .unwrap();
    assert_eq!(compiled.program.signature_spec().instructions(), "Add the numbers carefully.");
    assert_eq!(compiled.report.evaluations, 2);
    let scores: Vec<f64> = compiled.report.instruction_candidates.iter().map(|c| c.score).collect();
    assert_eq!(scores, [100.0, 0.0]);
    match &compiled.report.stopped_early {
        Some(kestrel_optimizers::StopReason::BudgetReached { budget, spent, phase, .. }) => {
            assert_eq!((budget.as_str(), *spent, phase.as_str()), ("max_lm_calls", 30.0, "depth 0"));
        }
        other => panic!("expected a budget stop, got {other:?}"),
    }
    assert_eq!(lm.calls.load(Ordering::SeqCst), 29);
}
