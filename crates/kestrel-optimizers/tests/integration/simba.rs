//! SIMBA on a scripted LM: the rule strategy and the demo strategy each
//! fire, change the program and raise its trainset score; the same seed
//! gives the same program whatever the concurrency; the compiled program
//! saves and loads in DSPy's format; bad settings are typed errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use kestrel_core::{Example, Role, Usage};
use kestrel_lm::{Completion, Lm, LmCapabilities, LmError, LmRequest, LmResponse, SharedLm, with_lm};
use kestrel_modules::{Predict, Predictor, Predictors, ProgramState};
use kestrel_optimizers::simba::SimbaStrategy;
use kestrel_optimizers::{Compiled, Optimizer, OptimizerError, Simba};

use crate::support::{exact, operands, question_of, trainset};

const RULE: &str = "Add the two numbers exactly.";

/// Task model: answers "What is a + b?" wrongly when `(a + b) % 3 == 0`,
/// unless the instructions hold [`RULE`], the prompt has a demo, or the
/// request is rollout 0 (so SIMBA's sampled runs disagree). Prompt model:
/// answers the OfferFeedback prompt with [`RULE`] for `self`, or with
/// text that does not parse when `broken_rules`.
#[derive(Debug, Default)]
struct SimbaLm {
    broken_rules: bool,
    rule_requests: AtomicUsize,
}

#[async_trait]
impl Lm for SimbaLm {
    fn model(&self) -> &str {
        "test/simba"
    }
    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default().uncacheable()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let system = request.messages.first().map(|m| m.content.as_str()).unwrap_or("");
        let text = if system.contains("module_advice") {
            self.rule_requests.fetch_add(1, Ordering::SeqCst);
            if self.broken_rules {
                "no fields here".to_string()
            } else {
                format!(
                    "[[ ## discussion ## ]]\nThe worse run added wrongly.\n\n[[ ## module_advice ## ]]\n{{\"self\": \
                     \"{RULE}\"}}\n\n[[ ## completed ## ]]"
                )
            }
        } else {
            let has_demo = request
                .messages
                .iter()
                .filter(|m| m.role == Role::User && m.content.contains("[[ ## question ## ]]"))
                .count()
                > 1;
            let helped = system.contains(RULE) || has_demo || request.rollout_id == Some(0);
            let answer = match operands(&question_of(&request)) {
                Some((a, b)) if helped || (a + b) % 3 != 0 => a + b,
                Some((a, b)) => a + b + 1,
                None => 0,
            };
            format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]")
        };
        Ok(LmResponse::new(
            vec![Completion::stop(text)],
            Usage { prompt_tokens: 10, completion_tokens: 5 },
            "test/simba",
        ))
    }
}

fn simba(concurrency: usize) -> Simba {
    Simba::new(exact)
        .bsize(6)
        .unwrap()
        .num_candidates(3)
        .unwrap()
        .max_steps(2)
        .concurrency(concurrency)
        .unwrap()
        .seed(7)
}

async fn compile(simba: Simba, lm: Arc<SimbaLm>) -> Compiled<Predict> {
    let student = Predict::from_signature("question -> answer").unwrap();
    let lm = SharedLm::from_arc(lm);
    with_lm(lm, simba.compile(&student, &trainset(12))).await.unwrap()
}

/// The student's and the chosen program's trainset scores.
fn scores(compiled: &Compiled<Predict>) -> (f64, f64) {
    let report = compiled.report.simba.as_ref().unwrap();
    let of = |program: usize| report.final_candidates.iter().find(|c| c.program == program).unwrap().score;
    (of(0), of(report.best_program))
}

fn instructions(program: &Predict) -> String {
    let mut out = String::new();
    program.visit_predictors("", &mut |_, p| out = p.signature().instructions().to_string());
    out
}

#[tokio::test]
async fn the_rule_strategy_fires_and_improves_the_program() {
    let lm = Arc::new(SimbaLm::default());
    // No demos allowed: rules are the only strategy.
    let compiled = compile(simba(4).max_demos(0), lm.clone()).await;
    assert!(lm.rule_requests.load(Ordering::SeqCst) > 0);
    let report = compiled.report.simba.as_ref().unwrap();
    let applied: Vec<_> = report.steps.iter().flat_map(|s| &s.candidates).filter(|c| c.applied).collect();
    assert!(!applied.is_empty());
    assert!(applied.iter().all(|c| c.strategy == SimbaStrategy::AppendARule));
    assert!(instructions(&compiled).ends_with(&format!("\n\n{RULE}")), "{:?}", instructions(&compiled));
    assert!(compiled.demos().is_empty());
    let (student, best) = scores(&compiled);
    assert!(student < 1.0 && best == 1.0, "student {student}, best {best}");
}

#[tokio::test]
async fn the_demo_strategy_fires_and_improves_the_program() {
    // Rules fail to parse: only demo candidates are made.
    let lm = Arc::new(SimbaLm { broken_rules: true, ..SimbaLm::default() });
    let compiled = compile(simba(4), lm.clone()).await;
    let report = compiled.report.simba.as_ref().unwrap();
    let failures: Vec<_> = report.steps.iter().flat_map(|s| &s.failures).collect();
    assert!(!failures.is_empty() && failures.iter().all(|f| f.strategy == SimbaStrategy::AppendARule));
    // A rule that skips (percentile checks) still yields its source as a
    // candidate, as in DSPy; every applied change is a demo.
    let applied: Vec<_> = report.steps.iter().flat_map(|s| &s.candidates).filter(|c| c.applied).collect();
    assert!(!applied.is_empty() && applied.iter().all(|c| c.strategy == SimbaStrategy::AppendADemo));
    assert_eq!(instructions(&compiled), "Given the fields `question`, produce the fields `answer`.");
    let demos = compiled.demos();
    assert!(!demos.is_empty());
    assert_eq!(demos[0].get("augmented"), Some(&serde_json::Value::Bool(true)));
    let (student, best) = scores(&compiled);
    assert!(student < 1.0 && best == 1.0, "student {student}, best {best}");
}

#[tokio::test]
async fn the_same_seed_gives_the_same_program_at_any_concurrency() {
    let runs = [
        compile(simba(1), Arc::new(SimbaLm::default())).await,
        compile(simba(8), Arc::new(SimbaLm::default())).await,
        compile(simba(3), Arc::new(SimbaLm::default())).await,
    ];
    let states: Vec<_> = runs.iter().map(|c| c.program.dump_state()).collect();
    assert_eq!(states[0], states[1]);
    assert_eq!(states[0], states[2]);
    let reports: Vec<_> = runs.iter().map(|c| c.report.simba.as_ref().unwrap()).collect();
    assert_eq!(reports[0], reports[1]);
    assert_eq!(reports[0], reports[2]);
    // Another seed draws other batches.
    let other = compile(simba(4).seed(8), Arc::new(SimbaLm::default())).await;
    assert_ne!(other.report.simba.as_ref().unwrap().steps[0].batch, reports[0].steps[0].batch);
}

#[tokio::test]
async fn a_compiled_program_saves_and_loads_in_dspy_format() {
    let compiled = compile(simba(4), Arc::new(SimbaLm::default())).await;
    let dir = std::env::temp_dir().join(format!("kestrel-simba-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("program.json");
    compiled.save(&path).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["signature"]["instructions"], serde_json::json!(instructions(&compiled)));
    assert!(saved["demos"].is_array());
    let mut loaded = Predict::from_signature("question -> answer").unwrap();
    loaded.load(&path).unwrap();
    assert_eq!(loaded.dump_state(), compiled.program.dump_state());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_trainset_smaller_than_bsize_is_a_typed_error() {
    let student = Predict::from_signature("question -> answer").unwrap();
    let lm = SharedLm::from_arc(Arc::new(SimbaLm::default()));
    let small: Vec<Example> = trainset(3);
    let err = with_lm(lm, Simba::new(exact).compile(&student, &small)).await.unwrap_err();
    assert!(matches!(err, OptimizerError::InvalidArgument { name: "bsize", .. }), "{err}");
    assert!(matches!(Simba::new(exact).num_candidates(0), Err(OptimizerError::InvalidArgument { .. })));
    assert!(matches!(Simba::new(exact).temperature_for_sampling(0.0), Err(OptimizerError::InvalidArgument { .. })));
}

/// A compile of `simba` under `budget`.
async fn compile_under(simba: Simba, budget: &kestrel_lm::Budget) -> Compiled<Predict> {
    let student = Predict::from_signature("question -> answer").unwrap();
    let lm = SharedLm::from_arc(Arc::new(SimbaLm::default()));
    with_lm(lm, kestrel_lm::with_budget(budget, simba.compile(&student, &trainset(12)))).await.unwrap()
}

fn budget_phase(compiled: &Compiled<Predict>) -> String {
    match &compiled.report.stopped_early {
        Some(kestrel_optimizers::StopReason::BudgetReached { phase, .. }) => phase.clone(),
        other => panic!("expected a budget stop, got {other:?}"),
    }
}

#[tokio::test]
async fn a_budget_stops_simba_with_the_best_program_so_far() {
    // An unlimited budget counts the calls of a full compile.
    let counter = kestrel_lm::Budget::new(kestrel_lm::BudgetLimits::default()).unwrap();
    let full = compile_under(simba(1).max_demos(0), &counter).await;
    let total = counter.spent().lm_calls;
    assert!(full.report.stopped_early.is_none());
    assert!(instructions(&full).ends_with(RULE));

    // Cut in the final full-trainset choice: the latest step winner that
    // beat its baseline (here one with the rule).
    let budget = kestrel_lm::Budget::lm_calls(total - 1);
    let cut = compile_under(simba(1).max_demos(0), &budget).await;
    assert_eq!(budget_phase(&cut), "final evaluation");
    assert!(instructions(&cut).ends_with(RULE), "{}", instructions(&cut));
    assert!(cut.report.simba.as_ref().unwrap().final_candidates.is_empty());
    assert_eq!(budget.spent().lm_calls, total - 1);

    // Cut in the first step: nothing was scored, the student comes back.
    let budget = kestrel_lm::Budget::lm_calls(3);
    let early = compile_under(simba(4), &budget).await;
    assert_eq!(budget_phase(&early), "step 0: trajectories");
    assert_eq!(instructions(&early), "Given the fields `question`, produce the fields `answer`.");
    assert!(early.demos().is_empty());
    assert_eq!(budget.spent().lm_calls, 3);
}
