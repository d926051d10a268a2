//! BootstrapFinetune and BetterTogether end to end on a scripted LM and the
//! mock server's fine-tuning routes (no network): the fine-tuned model is
//! simulated by a documented rule — a model trained on at least two records
//! answers every sum right; the base model gets every third sum wrong (every
//! ninth with a demo in its prompt). The tests check the plumbing that turns traces
//! into a better program: data, job, LM swap, scores, stage choice, seeded
//! shuffles (against CPython's `random.Random(7)`), and a failed step.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kestrel_core::{Example, Role, Usage};
use kestrel_eval::Evaluate;
use kestrel_lm::finetune::OpenAiFinetune;
use kestrel_lm::{Completion, Lm, LmCapabilities, LmError, LmRequest, LmResponse, RetryPolicy, SharedLm, with_lm};
use kestrel_modules::{Module, Predict, Predictor, Predictors};
use kestrel_optimizers::{
    BetterTogether, BootstrapFewShotWithRandomSearch, BootstrapFinetune, Compiled, DynOptimizer, Optimizer,
    OptimizerError,
};
use kestrel_testkit::ScriptedLm;
use kestrel_testkit::mock::{FinetuneBehavior, FinetuneOutcome, MockServer};

use crate::support::{exact, operands, question_of, trainset};

/// Sums: the base model is wrong when `(a + b) % 3 == 0` (with a demo in
/// the prompt: only when `(a + b) % 9 == 0`); a fine-tuned model (`tuned`)
/// is always right.
#[derive(Debug)]
struct TieredLm {
    model: String,
    tuned: bool,
}

#[async_trait]
impl Lm for TieredLm {
    fn model(&self) -> &str {
        &self.model
    }
    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default().uncacheable()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let question = question_of(&request);
        let has_demos = request
            .messages
            .iter()
            .filter(|m| m.role == Role::User && m.content.contains("[[ ## question ## ]]"))
            .count()
            > 1;
        let answer = match operands(&question) {
            Some((a, b)) if self.tuned || (a + b) % if has_demos { 9 } else { 3 } != 0 => a + b,
            Some((a, b)) => a + b + 1,
            None => 0,
        };
        let text = format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]");
        Ok(LmResponse::new(vec![Completion::stop(text)], Usage::default(), self.model.clone()))
    }
}

fn base_lm() -> SharedLm {
    SharedLm::new(TieredLm { model: "test/tiered".into(), tuned: false })
}

/// A backend on `server` whose trained models follow the rule: trained on
/// two records or more, always right; else the base model under a new name.
fn backend(server: &Arc<MockServer>) -> Arc<OpenAiFinetune> {
    let seen = Arc::clone(server);
    Arc::new(OpenAiFinetune::new(server.base_url()).retry(RetryPolicy::none()).lm_factory(Arc::new(
        move |model: &str| {
            let job = seen.finetune_jobs().into_iter().find(|j| model.ends_with(&j.id));
            let records = job
                .and_then(|j| seen.uploaded_files().into_iter().find(|f| f.id == j.training_file))
                .map_or(0, |f| f.bytes.iter().filter(|b| **b == b'\n').count());
            Ok(SharedLm::new(TieredLm { model: model.to_string(), tuned: records >= 2 }))
        },
    )))
}

fn finetune(server: &Arc<MockServer>, dir: &std::path::Path) -> BootstrapFinetune {
    BootstrapFinetune::new(backend(server)).metric(exact).poll_interval(Duration::from_millis(1)).data_dir(dir)
}

async fn score<M: Module>(program: &M, devset: &[Example]) -> f64 {
    let evaluate = Evaluate::new(devset.to_vec()).display_progress(false);
    with_lm(base_lm(), evaluate.run(program, &exact)).await.unwrap().score
}

fn student() -> Predict {
    Predict::from_signature("question -> answer").unwrap()
}

fn lm_models<M: Predictors>(program: &M) -> Vec<Option<String>> {
    let mut out = Vec::new();
    program.visit_predictors("", &mut |_, p: &dyn Predictor| out.push(p.lm().map(|lm| lm.model().to_string())));
    out
}

#[tokio::test]
async fn bootstrap_finetune_trains_on_passing_traces_and_improves_the_program() {
    let server = Arc::new(MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let train = trainset(12);
    let dev: Vec<Example> = (20..35).map(|i| crate::support::example(i, i + 1)).collect();
    let before = score(&student(), &dev).await;
    let compiled = with_lm(base_lm(), finetune(&server, dir.path()).compile(&student(), &train)).await.unwrap();
    let after = score(&compiled.program, &dev).await;
    assert!(before < 100.0 && after == 100.0, "before {before}, after {after}");
    let jobs = &compiled.report.finetune.as_ref().unwrap().jobs;
    assert_eq!(jobs.len(), 1);
    // Training examples the base model got right (sums not divisible by 3).
    let right = (0..12u64).filter(|i| (2 * i + 1) % 3 != 0).count();
    assert_eq!(jobs[0].records, right);
    assert_eq!(compiled.report.bootstrapped, right);
    assert_eq!(jobs[0].base_model, "test/tiered");
    assert_eq!(lm_models(&compiled.program), vec![Some(jobs[0].fine_tuned_model.clone())]);
    assert_eq!(server.finetune_jobs()[0].model, "test/tiered");
}

fn better_together(server: &Arc<MockServer>, dir: &std::path::Path) -> BetterTogether {
    let metric: Arc<dyn kestrel_eval::Metric> = Arc::new(exact);
    let p = BootstrapFewShotWithRandomSearch::new(metric.clone()).num_candidate_programs(2).display_progress(false);
    let w = finetune(server, dir).shared_metric(metric.clone());
    BetterTogether::with_optimizers(
        metric,
        [("p", Arc::new(p) as Arc<dyn DynOptimizer>), ("w", Arc::new(w) as Arc<dyn DynOptimizer>)],
    )
    .seed(0)
}

#[tokio::test]
async fn better_together_reports_every_stage_and_keeps_the_best() {
    let server = Arc::new(MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let train = trainset(16);
    let val: Vec<Example> = (40..52).map(|i| crate::support::example(i, i + 1)).collect();
    let optimizer = better_together(&server, dir.path()).strategy("p -> w");
    let compiled: Compiled<Predict> =
        with_lm(base_lm(), optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    let report = compiled.report.better_together.as_ref().unwrap();
    let strategies: Vec<&str> = report.stages.iter().map(|s| s.strategy.as_str()).collect();
    assert_eq!(strategies, ["", "p", "p -> w"]);
    let scores: Vec<f64> = report.stages.iter().map(|s| s.score.unwrap()).collect();
    assert!(scores[0] < scores[1] && scores[1] < scores[2] && scores[2] == 100.0, "{scores:?}");
    assert_eq!(report.best, 2);
    assert_eq!(report.compilation_error, None);
    assert_eq!(report.stages[1].optimizer.as_deref(), Some("BootstrapFewShotWithRandomSearch"));
    assert_eq!(report.stages[2].optimizer.as_deref(), Some("BootstrapFinetune"));
    assert!(report.stages[2].report.as_ref().unwrap().finetune.is_some());
    // Each stage's program: p added demos, w swapped the LM.
    let stage = |i: usize| &report.stages[i].predictors[0];
    assert_eq!((stage(0).demos, stage(0).lm.as_deref()), (0, None));
    assert!(stage(1).demos > 0 && stage(1).lm.is_none());
    assert!(stage(2).lm.as_deref().is_some_and(|m| m.starts_with("ft:")) && stage(2).demos == stage(1).demos);
    let text = compiled.report.to_string();
    assert!(text.contains("stage p -> w") && text.contains("<- best"), "{text}");
    let weights = report.stages[2].report.as_ref().unwrap().to_string();
    assert!(weights.contains("records -> ft:test/tiered"), "{weights}");
    // The returned program is the last stage's: the fine-tuned LM and p's demos.
    assert!(lm_models(&compiled.program)[0].as_deref().is_some_and(|m| m.starts_with("ft:test/tiered")));
    assert!(!compiled.program.demos().is_empty());
    assert_eq!(score(&compiled.program, &val).await, 100.0);
}

#[tokio::test]
async fn a_failed_step_stops_with_the_best_program_so_far() {
    let server = Arc::new(MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap());
    server.set_finetune_behavior(FinetuneBehavior {
        outcome: FinetuneOutcome::Fail("out of quota".into()),
        ..FinetuneBehavior::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let train = trainset(16);
    let val: Vec<Example> = (40..52).map(|i| crate::support::example(i, i + 1)).collect();
    let optimizer = better_together(&server, dir.path()).strategy("p -> w -> p");
    let compiled = with_lm(base_lm(), optimizer.compile_with_valset(&student(), &train, Some(&val))).await.unwrap();
    let report = compiled.report.better_together.as_ref().unwrap();
    assert_eq!(report.stages.len(), 2, "the student and p; w failed, the second p never ran");
    let error = report.compilation_error.as_deref().unwrap();
    assert!(error.contains("step 2 (p -> w)") && error.contains("out of quota"), "{error}");
    assert_eq!(lm_models(&compiled.program), vec![None], "no fine-tuned LM on the program returned");
}

/// Records the trainset order each compile is given; returns the student.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Vec<u64>>>>,
}

impl Optimizer for Recorder {
    fn name(&self) -> &'static str {
        "Recorder"
    }
    async fn compile_with_valset<'a, M>(
        &'a self,
        student: &'a M,
        trainset: &'a [Example],
        _valset: Option<&'a [Example]>,
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        let order = trainset.iter().filter_map(|e| operands(e.get_str("question")?).map(|(a, _)| a)).collect();
        self.seen.lock().unwrap().push(order);
        Ok(Compiled { program: student.clone(), report: kestrel_optimizers::CompileReport::new("Recorder") })
    }
}

#[tokio::test]
async fn shuffles_and_the_valset_split_are_dspys() {
    let recorder = Recorder::default();
    let metric: Arc<dyn kestrel_eval::Metric> = Arc::new(exact);
    let optimizer =
        BetterTogether::with_optimizers(metric, [("r", Arc::new(recorder.clone()) as Arc<dyn DynOptimizer>)])
            .strategy("r -> r")
            .seed(7);
    // 20 examples, valset_ratio 0.1: the first two are the valset.
    let compiled = with_lm(base_lm(), optimizer.compile(&student(), &trainset(20))).await.unwrap();
    let seen = recorder.seen.lock().unwrap().clone();
    // CPython: t = list(range(2, 20)); r = random.Random(7); r.shuffle(t); (twice)
    assert_eq!(seen[0], [16, 4, 11, 18, 9, 8, 13, 5, 15, 7, 17, 10, 3, 2, 19, 14, 6, 12]);
    assert_eq!(seen[1], [9, 12, 10, 8, 5, 3, 15, 13, 16, 19, 17, 18, 14, 7, 6, 4, 2, 11]);
    // Equal scores: the earliest program (the student) wins the tie.
    assert_eq!(compiled.report.better_together.as_ref().unwrap().best, 0);
}

#[tokio::test]
async fn strategies_are_checked() {
    let server = Arc::new(MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    for bad in ["", "p -> x", "p->w"] {
        let optimizer = better_together(&server, dir.path()).strategy(bad);
        let err = optimizer.compile(&student(), &trainset(4)).await.unwrap_err();
        assert!(matches!(err, OptimizerError::InvalidArgument { name: "strategy", .. }), "{bad}: {err}");
    }
    let optimizer = better_together(&server, dir.path()).valset_ratio(1.0);
    assert!(matches!(
        optimizer.compile(&student(), &trainset(4)).await.unwrap_err(),
        OptimizerError::InvalidArgument { name: "valset_ratio", .. }
    ));
}
