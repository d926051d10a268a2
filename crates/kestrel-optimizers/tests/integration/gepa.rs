//! GEPA on scripted LMs: a reflection LM that writes down the questions the
//! feedback says were missed, and a task LM that gets a question right once
//! its instruction names it. GEPA accepts a candidate only when its
//! minibatch improves, improves the metric, gives the same program for the
//! same seed at any concurrency, reports its candidate tree, and the result
//! saves and loads in DSPy's format.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use kestrel_core::{Example, Prediction, Role, Usage};
use kestrel_eval::{Evaluate, Score, Trace, feedback_metric_fn};
use kestrel_lm::{Completion, Lm, LmCapabilities, LmError, LmRequest, LmResponse, SharedLm, with_lm};
use kestrel_modules::{Predict, PredictorsExt, ProgramState};
use kestrel_optimizers::{Gepa, GepaOrigin, Optimizer, OptimizerError};
use serde_json::Value;

use crate::support::{example, operands, question_of};

/// Right when the sum is not a multiple of 3, or when the system prompt
/// (the instruction) names the question or says "Mind multiples of 3.";
/// "Guess" makes it always wrong.
#[derive(Debug, Default)]
struct TaskLm {
    calls: AtomicUsize,
    gauge: Arc<Gauge>,
}

/// LM calls in flight now and at most (shared by the task and reflection LMs).
#[derive(Debug, Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

/// One call in flight while it lives.
struct InFlight<'a>(&'a Gauge);

impl Gauge {
    fn enter(&self) -> InFlight<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
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
        let _in_flight = self.gauge.enter();
        let system = request.messages.iter().find(|m| m.role == Role::System).map_or("", |m| m.content.as_str());
        let question = question_of(&request);
        let (a, b) = operands(&question).unwrap_or((0, 0));
        let sum = a + b;
        let right = !system.contains("Guess")
            && (sum % 3 != 0 || system.contains(&question) || system.contains("Mind multiples of 3."));
        let answer = if right { sum } else { sum + 1 };
        // Different questions take different times: concurrent runs finish
        // out of order.
        tokio::time::sleep(std::time::Duration::from_millis(sum % 4)).await;
        let text = format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]");
        Ok(LmResponse::new(vec![Completion::stop(text)], Usage::default(), "test/task"))
    }
}

/// How the reflection LM answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reflect {
    /// Generalize from the missed questions: "Mind multiples of 3."
    Learn,
    /// Propose the same behaviour in other words, a harmful one, or the
    /// missed questions themselves, by a hash of the prompt.
    NeutralBadLearn,
}

/// A reflection LM: reads `Missed: <question>` feedback out of the
/// reflective dataset and writes a new instruction (JSON adapter reply).
#[derive(Debug)]
struct ReflectionLm {
    mode: Reflect,
    calls: AtomicUsize,
    gauge: Arc<Gauge>,
}

impl ReflectionLm {
    fn new(mode: Reflect) -> Arc<Self> {
        Self::gauged(mode, Arc::default())
    }

    fn gauged(mode: Reflect, gauge: Arc<Gauge>) -> Arc<Self> {
        Arc::new(Self { mode, calls: AtomicUsize::new(0), gauge })
    }
}

fn field<'a>(text: &'a str, name: &str) -> &'a str {
    let marker = format!("[[ ## {name} ## ]]\n");
    let after = text.rsplit(&marker).next().unwrap_or("");
    after.split("\n\n").next().unwrap_or("")
}

#[async_trait]
impl Lm for ReflectionLm {
    fn model(&self) -> &str {
        "test/reflection"
    }
    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default().uncacheable()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let _in_flight = self.gauge.enter();
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        let last = request.messages.last().map_or("", |m| m.content.as_str());
        // A function of the request only (never of the call order), as a
        // cached or deterministic LM: the same prompt gets the same reply.
        let turn = last.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
        let current = field(last, "current_instruction").to_string();
        let examples: Vec<Value> = serde_json::from_str(field(last, "examples_with_feedback")).unwrap_or_default();
        let mut missed: Vec<String> = Vec::new();
        for e in &examples {
            if let Some(q) = e["Feedback"].as_str().and_then(|f| f.strip_prefix("Missed: ")) {
                if !current.contains(q) && !missed.iter().any(|m| m == q) {
                    missed.push(q.to_string());
                }
            }
        }
        let learned = if missed.is_empty() {
            format!("{current} Check again.")
        } else {
            format!("{current} {}", missed.join(" "))
        };
        let instruction = match (self.mode, turn % 3) {
            (Reflect::Learn, _) if missed.is_empty() => learned,
            (Reflect::Learn, _) => format!("{current} Mind multiples of 3."),
            (Reflect::NeutralBadLearn, 2) => learned,
            (Reflect::NeutralBadLearn, 0) => format!("{current} Be neutral {}.", turn % 1000),
            (Reflect::NeutralBadLearn, _) => "Guess the sum.".to_string(),
        };
        let text = serde_json::json!({ "new_instruction": instruction }).to_string();
        Ok(LmResponse::new(vec![Completion::stop(text)], Usage::default(), "test/reflection"))
    }
}

fn metric() -> impl kestrel_eval::Metric + 'static {
    feedback_metric_fn(
        "exact_with_feedback",
        |gold: &Example, pred: &Prediction, _: Option<&Trace>, _: Option<&str>, _: Option<&Trace>| {
            let text = |v: Option<&Value>| v.map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
            if text(gold.get("answer")) == text(pred.get("answer")) {
                Score::with_feedback(1.0, "Correct.")
            } else {
                let question = gold.get_str("question").unwrap_or_default();
                Score::with_feedback(0.0, format!("Missed: {question}"))
            }
        },
    )
}

/// Questions "What is i + (i+1)?" for i in `range`: sums 2i+1, a multiple
/// of 3 every third one.
fn data(range: std::ops::Range<u64>) -> Vec<Example> {
    range.map(|i| example(i, i + 1)).collect()
}

fn student() -> Predict {
    Predict::from_signature("question -> answer").unwrap().instructions("Add the numbers.")
}

fn gepa(reflection: &Arc<ReflectionLm>, calls: usize) -> Gepa {
    Gepa::new(metric())
        .max_metric_calls(calls)
        .reflection_lm(SharedLm::from_arc(reflection.clone()))
        .display_progress(false)
        .track_stats(true)
}

async fn val_score(program: &Predict, valset: &[Example]) -> f64 {
    let task = SharedLm::from_arc(Arc::new(TaskLm::default()));
    with_lm(task, Evaluate::new(valset.to_vec()).display_progress(false).run(program, &metric())).await.unwrap().score
}

#[tokio::test]
async fn gepa_improves_the_metric_from_feedback() {
    let (train, val) = (data(0..12), data(20..32));
    let reflection = ReflectionLm::new(Reflect::Learn);
    let task = SharedLm::from_arc(Arc::new(TaskLm::default()));
    let optimizer = gepa(&reflection, 120);
    let compiled = with_lm(task, optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    let report = compiled.report.gepa.as_ref().unwrap();
    assert!(report.candidates.len() > 1, "{}", compiled.report);
    let before = val_score(&student(), &val).await;
    let after = val_score(&compiled.program, &val).await;
    assert!(after > before, "{before} -> {after}\n{}", compiled.report);
    // The chosen candidate is the best on the validation set.
    let best = &report.candidates[report.best_idx];
    assert!(report.candidates.iter().all(|c| c.val_score <= best.val_score));
    assert_eq!(compiled.program.signature_spec().instructions(), best.instructions["self"]);
    // Budget: spent, and overshot by at most one iteration's calls.
    assert!(report.total_metric_calls >= 120);
    assert!(report.total_metric_calls <= 120 + 2 * 3 + val.len());
    assert!(reflection.calls.load(Ordering::SeqCst) > 0);
}

#[tokio::test]
async fn a_candidate_is_accepted_only_when_its_minibatch_score_improves() {
    let (train, val) = (data(0..12), data(20..32));
    let reflection = ReflectionLm::new(Reflect::NeutralBadLearn);
    let task = SharedLm::from_arc(Arc::new(TaskLm::default()));
    // Reflect on every minibatch, perfect or not, to see many proposals.
    let optimizer = gepa(&reflection, 200).use_merge(false).skip_perfect_score(false);
    let compiled = with_lm(task, optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    let report = compiled.report.gepa.as_ref().unwrap();
    for c in report.candidates.iter().skip(1) {
        assert_eq!(c.origin, GepaOrigin::Reflection);
        assert!(c.minibatch_after > c.minibatch_before, "{c:?}");
        let instruction = &c.instructions["self"];
        assert!(!instruction.contains("Be neutral") && !instruction.contains("Guess"), "{instruction}");
    }
    assert!(report.candidates.len() > 1, "{}", compiled.report);
    // Neutral proposals (equal minibatch scores) and harmful ones were rejected.
    assert!(report.rejected.iter().any(|r| r.minibatch_after == r.minibatch_before), "{}", compiled.report);
    assert!(report.rejected.iter().any(|r| r.minibatch_after < r.minibatch_before), "{}", compiled.report);
    assert!(report.rejected.iter().all(|r| r.minibatch_after <= r.minibatch_before));
}

/// The compiled instructions and the candidate tree, and the iterations
/// dropped.
async fn run_once(seed: i64, concurrency: usize) -> (Vec<(String, Vec<usize>)>, Value, usize) {
    let (train, val) = (data(0..15), data(20..32));
    let gauge = Arc::new(Gauge::default());
    let reflection = ReflectionLm::gauged(Reflect::NeutralBadLearn, gauge.clone());
    let task = SharedLm::from_arc(Arc::new(TaskLm { gauge: gauge.clone(), ..TaskLm::default() }));
    let optimizer = gepa(&reflection, 150).seed(seed).concurrency(concurrency).unwrap();
    let compiled = with_lm(task, optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    let report = compiled.report.gepa.as_ref().unwrap();
    // One semaphore bounds all the LM work of the compile (program runs,
    // reflections, speculative iterations included).
    let max = gauge.max.load(Ordering::SeqCst);
    assert!(max <= concurrency, "{max} calls in flight at concurrency {concurrency}");
    assert_eq!(max > 1, concurrency > 1, "{max} calls in flight at concurrency {concurrency}");
    // The window grows by two per iteration that added nothing since the
    // last accepted candidate, so each accepted candidate drops at most
    // twice as many iterations as the ones that added nothing before it.
    let unproductive = report.rejected.len() + report.skipped.len();
    assert!(report.speculative_iterations_dropped <= 2 * unproductive, "{}", compiled.report);
    let tree = report.candidates.iter().map(|c| (c.instructions["self"].clone(), c.parents.clone())).collect();
    (tree, compiled.program.dump_state(), report.speculative_iterations_dropped)
}

#[tokio::test]
async fn the_same_seed_gives_the_same_program_at_any_concurrency() {
    let (tree, state, dropped) = run_once(3, 1).await;
    assert!(tree.len() > 1, "{tree:?}");
    assert_eq!(dropped, 0, "one iteration at a time");
    // Above 1, several iterations run at once (up to one per permit); those
    // after an accepted candidate are dropped and redone.
    let mut dropped_at = Vec::new();
    for concurrency in [2, 4, 16] {
        let (again, again_state, dropped) = run_once(3, concurrency).await;
        assert_eq!(again, tree, "concurrency {concurrency}");
        assert_eq!(again_state, state);
        dropped_at.push(dropped);
    }
    assert!(dropped_at.iter().any(|&d| d > 0), "{dropped_at:?}");
    // Another seed samples other minibatches: another search.
    let (other, _, _) = run_once(11, 4).await;
    assert_ne!(other, tree);
}

/// The window starts at one iteration, so a first proposal that is
/// accepted drops nothing; the iteration after it is guessed (the new
/// candidate as parent) and run during its validation, and adopted since
/// the guess is right: no request is spent twice, and the tree is the
/// one-at-a-time loop's.
#[tokio::test]
async fn an_accepted_first_proposal_and_its_guessed_successor_waste_nothing() {
    let (train, val) = (data(0..12), data(20..32));
    let run = |concurrency: usize| {
        let (train, val) = (train.clone(), val.clone());
        async move {
            let reflection = ReflectionLm::new(Reflect::Learn);
            let task = Arc::new(TaskLm::default());
            let optimizer = gepa(&reflection, 120).use_merge(false).concurrency(concurrency).unwrap();
            let lm = SharedLm::from_arc(task.clone());
            let compiled = with_lm(lm, optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
            let calls = task.calls.load(Ordering::SeqCst) + reflection.calls.load(Ordering::SeqCst);
            (compiled, calls)
        }
    };
    let (one, one_calls) = run(1).await;
    let (many, many_calls) = run(16).await;
    let (a, b) = (one.report.gepa.as_ref().unwrap(), many.report.gepa.as_ref().unwrap());
    assert_eq!(a.candidates.len(), 2, "{}", one.report);
    assert_eq!(a.candidates[1].iteration, 1, "{}", one.report);
    assert_eq!(b.speculative_iterations_dropped, 0, "{}", many.report);
    assert_eq!(many_calls, one_calls);
    let tree = |r: &kestrel_optimizers::GepaReport| {
        r.candidates.iter().map(|c| (c.instructions["self"].clone(), c.parents.clone())).collect::<Vec<_>>()
    };
    assert_eq!(tree(a), tree(b));
    assert_eq!(a.total_metric_calls, b.total_metric_calls);
}

#[tokio::test]
async fn the_report_holds_the_candidate_tree_as_text_and_json() {
    let (train, val) = (data(0..12), data(20..32));
    let reflection = ReflectionLm::new(Reflect::Learn);
    let task = SharedLm::from_arc(Arc::new(TaskLm::default()));
    let compiled =
        with_lm(task, gepa(&reflection, 80).compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    let text = compiled.report.to_string();
    assert!(text.contains("candidate tree:"), "{text}");
    assert!(text.contains("#0 seed"), "{text}");
    assert!(text.contains("#1 reflection of #0 [self]"), "{text}");
    assert!(text.contains("<- best"), "{text}");
    let json = serde_json::to_value(&compiled.report).unwrap();
    let first = &json["gepa"]["candidates"][1];
    assert_eq!(first["parents"], serde_json::json!([0]));
    assert_eq!(first["changed"], serde_json::json!(["self"]));
    assert!(first["minibatch_before"].as_f64().unwrap() < first["minibatch_after"].as_f64().unwrap());
    assert_eq!(json["gepa"]["candidates"][0]["val_subscores"].as_array().unwrap().len(), val.len());
    let html = compiled.report.to_html(&student(), &compiled.program);
    assert!(html.contains("<h3>GEPA candidates</h3>"), "{html}");
    assert!(html.contains("Mind multiples of 3."), "{html}");
}

#[tokio::test]
async fn the_compiled_program_saves_and_loads_in_dspy_format() {
    let (train, val) = (data(0..12), data(20..32));
    let reflection = ReflectionLm::new(Reflect::Learn);
    let task = SharedLm::from_arc(Arc::new(TaskLm::default()));
    let compiled =
        with_lm(task, gepa(&reflection, 80).compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    let dir = std::env::temp_dir().join(format!("kestrel-gepa-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gepa.json");
    compiled.program.save(&path).unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let instruction = compiled.program.signature_spec().instructions().to_string();
    assert_ne!(instruction, "Add the numbers.");
    assert_eq!(saved["signature"]["instructions"], Value::from(instruction.clone()));
    let mut loaded = student();
    loaded.load(&path).unwrap();
    assert_eq!(loaded.signature_spec().instructions(), instruction);
    assert_eq!(loaded.predictor_states(), compiled.program.predictor_states());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_missing_or_double_budget_is_a_config_error() {
    let reflection = ReflectionLm::new(Reflect::Learn);
    let task = SharedLm::from_arc(Arc::new(TaskLm::default()));
    let train = data(0..3);
    let none = Gepa::new(metric()).reflection_lm(SharedLm::from_arc(reflection.clone())).display_progress(false);
    let err = with_lm(task.clone(), none.compile(&student(), &train)).await.unwrap_err();
    assert!(matches!(err, OptimizerError::Config(_)), "{err}");
    let two = none.clone().max_metric_calls(10).max_full_evals(2);
    let err = with_lm(task.clone(), two.compile(&student(), &train)).await.unwrap_err();
    assert!(matches!(err, OptimizerError::Config(_)), "{err}");
    let empty = none.max_metric_calls(10);
    let err = with_lm(task, empty.compile(&student(), &[])).await.unwrap_err();
    assert!(matches!(err, OptimizerError::Config(_)), "{err}");
    assert!(Gepa::new(metric()).reflection_minibatch_size(0).is_err());
}

/// Generated word problems as (question, answer) examples.
fn problems(seed: u64, range: std::ops::Range<usize>) -> Vec<Example> {
    kestrel_testkit::simulated::generate(seed, range.end)[range]
        .iter()
        .map(|p| {
            Example::from_pairs([
                ("question", Value::from(p.render())),
                ("answer", Value::from(p.answer().to_string())),
            ])
            .with_inputs(["question"])
        })
        .collect()
}

fn numeric(gold: &Example, pred: &Prediction) -> f64 {
    f64::from(u8::from(gold.get_str("answer").map(str::trim) == pred.get_str("answer").map(str::trim)))
}

/// GEPA light on the simulated LM (task and reflection LM, its rule 6):
/// with the benchmark's feedback (the operations a problem takes) the
/// instruction learns to name them and the validation score rises; with a
/// bare score (DSPy's default feedback text) nothing is learned.
#[tokio::test]
async fn on_the_simulated_lm_feedback_is_what_gepa_learns_from() {
    use kestrel_testkit::simulated::{Problem, SimulatedLm, skill};
    let (train, val) = (problems(5, 0..40), problems(5, 40..80));
    let told = feedback_metric_fn(
        "numeric_with_feedback",
        |gold: &Example, pred: &Prediction, _: Option<&Trace>, _: Option<&str>, _: Option<&Trace>| {
            let problem = gold.get_str("question").and_then(Problem::parse).unwrap();
            Score::with_feedback(numeric(gold, pred), skill::feedback(&problem, pred.get_str("answer")))
        },
    );
    let bare = |gold: &Example, pred: &Prediction, _: Option<&Trace>| numeric(gold, pred);
    let lm = SharedLm::new(SimulatedLm::new());
    let student = Predict::from_signature("question -> answer").unwrap();
    let run = |gepa: Gepa| {
        let (lm, student, train, val) = (lm.clone(), student.clone(), train.clone(), val.clone());
        async move {
            let gepa = gepa.max_metric_calls(300).reflection_lm(lm.clone()).display_progress(false);
            with_lm(lm, gepa.compile_with_valset(&student, &train, Some(&val))).await.unwrap()
        }
    };
    let with_feedback = run(Gepa::new(told)).await;
    let without = run(Gepa::new(bare)).await;
    let report = with_feedback.report.gepa.as_ref().unwrap();
    let (seed_score, best) = (report.candidates[0].val_score, report.candidates[report.best_idx].val_score);
    assert!(best > seed_score, "{}", with_feedback.report);
    let instruction = with_feedback.program.signature_spec().instructions();
    assert!(kestrel_testkit::simulated::propose::RELEVANT.iter().any(|f| instruction.contains(f)), "{instruction}");
    let bare_report = without.report.gepa.as_ref().unwrap();
    assert!(bare_report.candidates.len() == 1, "{}", without.report);
}

/// A GEPA compile (one iteration at a time) under `budget`.
async fn compile_under(budget: &kestrel_lm::Budget) -> kestrel_optimizers::Compiled<Predict> {
    let (train, val) = (data(0..12), data(20..32));
    let reflection = ReflectionLm::new(Reflect::Learn);
    let task = SharedLm::from_arc(Arc::new(TaskLm::default()));
    let optimizer = gepa(&reflection, 120).concurrency(1).unwrap();
    let student = student();
    let compile = optimizer.compile_with_valset(&student, &train, Some(&val));
    with_lm(task, kestrel_lm::with_budget(budget, compile)).await.unwrap()
}

fn budget_phase(stop: Option<&kestrel_optimizers::StopReason>) -> String {
    match stop {
        Some(kestrel_optimizers::StopReason::BudgetReached { phase, .. }) => phase.clone(),
        other => panic!("expected a budget stop, got {other:?}"),
    }
}

#[tokio::test]
async fn a_budget_stops_gepa_with_the_best_fully_scored_candidate() {
    let counter = kestrel_lm::Budget::new(kestrel_lm::BudgetLimits::default()).unwrap();
    let full = compile_under(&counter).await;
    let total = counter.spent().lm_calls;
    let full_report = full.report.gepa.as_ref().unwrap();
    assert!(full_report.candidates.len() > 1 && full.report.stopped_early.is_none());

    let budget = kestrel_lm::Budget::lm_calls(total / 2);
    let cut = compile_under(&budget).await;
    assert!(budget_phase(cut.report.stopped_early.as_ref()).starts_with("iteration "));
    let report = cut.report.gepa.as_ref().unwrap();
    assert!(report.candidates.len() <= full_report.candidates.len());
    assert!(report.total_metric_calls < full_report.total_metric_calls);
    // Every kept candidate was scored on the whole valset, and the program
    // is the best of them.
    assert!(report.candidates.iter().all(|c| c.val_subscores.len() == 12));
    let best = &report.candidates[report.best_idx];
    assert!(report.candidates.iter().all(|c| c.val_score <= best.val_score));
    assert_eq!(cut.program.signature_spec().instructions(), best.instructions["self"]);
    assert_eq!(budget.spent().lm_calls, total / 2);

    // Cut in the seed evaluation: the student comes back.
    let budget = kestrel_lm::Budget::lm_calls(5);
    let early = compile_under(&budget).await;
    assert_eq!(budget_phase(early.report.stopped_early.as_ref()), "seed evaluation");
    assert_eq!(early.program.signature_spec().instructions(), "Add the numbers.");
}
