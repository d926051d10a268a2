//! [`BootstrapFewShot`]: DSPy's bootstrapping optimizer. A teacher (the
//! student with labeled demos, or a program you give) runs each training
//! example inside a trace scope; when the metric accepts its prediction,
//! every predictor call of that run becomes an `augmented` demo for its
//! predictor. Remaining demo slots are filled with labeled examples.
//!
//! DSPy runs the training examples one at a time. Here up to `concurrency`
//! teacher runs are in flight, and their results are accepted in
//! training-set order (see `in_order`), so the demos chosen are exactly the
//! sequential algorithm's: the first successes in order, stopping once
//! `max_bootstrapped_demos` are found. Seeded choices use Python's
//! `random.Random` ([`PyRandom`]), so the labeled fill matches DSPy's too.

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use kestrel_core::{Example, Fields, PredictorId, PyRandom};
use kestrel_eval::{ExampleError, Metric};
use kestrel_lm::{CallConfig, SharedLm, with_lm};
use kestrel_modules::{Module, ModuleExt, Predictor, Predictors, PredictorsExt, Trace, with_call_config, with_trace};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::budget_stop::{budget_stop, refusal};
use crate::cost_estimate::{ProgramRuns, n};
use crate::error::OptimizerError;
use crate::in_order::{Flow, run_in_order};
use crate::labeled::LabeledFewShot;
use crate::optimizer::{Compiled, Optimizer, has_demos, measured, reset_copy};
use crate::progress::Progress;
use crate::report::{CompileReport, SkippedExample, StopReason};

/// DSPy's `settings.max_errors`.
pub const DEFAULT_MAX_ERRORS: NonZeroUsize = NonZeroUsize::MIN.saturating_add(9);
/// Teacher runs in flight by default.
pub const DEFAULT_CONCURRENCY: NonZeroUsize = NonZeroUsize::MIN.saturating_add(15);

/// Bootstrap few-shot demos from a teacher's successful traces.
#[derive(Clone)]
pub struct BootstrapFewShot {
    metric: Arc<dyn Metric>,
    metric_threshold: Option<f64>,
    teacher_lm: Option<SharedLm>,
    teacher_config: Option<CallConfig>,
    max_bootstrapped_demos: usize,
    max_labeled_demos: usize,
    max_rounds: NonZeroUsize,
    max_errors: NonZeroUsize,
    concurrency: NonZeroUsize,
    limiter: Option<Arc<Semaphore>>,
    display_progress: bool,
}

impl std::fmt::Debug for BootstrapFewShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapFewShot")
            .field("metric_threshold", &self.metric_threshold)
            .field("teacher_lm", &self.teacher_lm.as_ref().map(SharedLm::model))
            .field("max_bootstrapped_demos", &self.max_bootstrapped_demos)
            .field("max_labeled_demos", &self.max_labeled_demos)
            .field("max_rounds", &self.max_rounds)
            .field("max_errors", &self.max_errors)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// One training example's teacher runs: the traces of the accepted run
/// (by predictor path), or none, and the errors met on the way.
struct Attempt {
    accepted: Option<Vec<(String, Example)>>,
    errors: Vec<ExampleError>,
}

impl BootstrapFewShot {
    /// DSPy's defaults: 4 bootstrapped and 16 labeled demos, 1 round, no
    /// threshold (the metric's truthiness decides), 10 errors allowed.
    pub fn new(metric: impl Metric + 'static) -> Self {
        Self::with_shared_metric(Arc::new(metric))
    }

    /// The same, with a metric already shared.
    pub fn with_shared_metric(metric: Arc<dyn Metric>) -> Self {
        Self {
            metric,
            metric_threshold: None,
            teacher_lm: None,
            teacher_config: None,
            max_bootstrapped_demos: 4,
            max_labeled_demos: 16,
            max_rounds: NonZeroUsize::MIN,
            max_errors: DEFAULT_MAX_ERRORS,
            concurrency: DEFAULT_CONCURRENCY,
            limiter: None,
            display_progress: true,
        }
    }

    /// Builder: accept a run when its score is at least this (without a
    /// threshold: when the score is non-zero). `0.0` is DSPy's "unset"
    /// (`if self.metric_threshold:` is false for 0), so it too accepts
    /// exactly the non-zero scores.
    pub fn metric_threshold(mut self, threshold: f64) -> Self {
        self.metric_threshold = Some(threshold);
        self
    }

    /// Builder: the LM the teacher runs with (DSPy's `teacher_settings=dict(lm=..)`).
    pub fn teacher_lm(mut self, lm: impl Into<SharedLm>) -> Self {
        self.teacher_lm = Some(lm.into());
        self
    }

    /// Builder: call options for every teacher call (DSPy's teacher
    /// settings), below the predictors' own.
    pub fn teacher_config(mut self, config: CallConfig) -> Self {
        self.teacher_config = Some(config);
        self
    }

    /// Builder: at most this many bootstrapped demos per predictor (and
    /// successful examples to collect).
    pub fn max_bootstrapped_demos(mut self, n: usize) -> Self {
        self.max_bootstrapped_demos = n;
        self
    }

    /// Builder: fill up to this many demos per predictor with labeled
    /// examples; 0 also leaves the teacher without labeled demos.
    pub fn max_labeled_demos(mut self, n: usize) -> Self {
        self.max_labeled_demos = n;
        self
    }

    /// Builder: teacher attempts per example; rounds after the first use a
    /// fresh rollout id at temperature 1.0 to get past the cache. Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn max_rounds(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.max_rounds = non_zero("max_rounds", n)?;
        Ok(self)
    }

    /// Builder: failed teacher runs (errors, not rejections) that end
    /// bootstrapping (DSPy's `error_count >= max_errors`); the compile then
    /// finishes with what it has (DSPy raises instead). Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn max_errors(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.max_errors = non_zero("max_errors", n)?;
        Ok(self)
    }

    /// Builder: teacher runs in flight at once (1 = DSPy's sequential run;
    /// the chosen demos are the same either way). Zero is an
    /// [`OptimizerError::InvalidArgument`].
    pub fn concurrency(mut self, n: impl TryInto<NonZeroUsize>) -> Result<Self, OptimizerError> {
        self.concurrency = non_zero("concurrency", n)?;
        Ok(self)
    }

    /// `concurrency` for a count that is
    /// already non-zero (cannot fail).
    pub(crate) fn with_concurrency(mut self, n: NonZeroUsize) -> Self {
        self.concurrency = n;
        self
    }

    /// Builder: share a limit on program calls in flight with other work
    /// (a random search runs many bootstraps under one limit).
    pub fn limiter(mut self, limiter: Arc<Semaphore>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Builder: show a progress bar on a terminal (default on).
    pub fn display_progress(mut self, on: bool) -> Self {
        self.display_progress = on;
        self
    }

    /// The metric.
    pub fn metric(&self) -> &dyn Metric {
        self.metric.as_ref()
    }

    /// The metric threshold, if one is set.
    pub fn get_metric_threshold(&self) -> Option<f64> {
        self.metric_threshold
    }

    /// Bootstrapped demos per predictor (at most).
    pub fn get_max_bootstrapped_demos(&self) -> usize {
        self.max_bootstrapped_demos
    }

    /// Labeled demos per predictor (at most).
    pub fn get_max_labeled_demos(&self) -> usize {
        self.max_labeled_demos
    }

    /// Teacher attempts per example.
    pub fn get_max_rounds(&self) -> NonZeroUsize {
        self.max_rounds
    }

    /// Failed teacher runs that end bootstrapping.
    pub fn get_max_errors(&self) -> NonZeroUsize {
        self.max_errors
    }

    /// Program calls in flight at once.
    pub fn get_concurrency(&self) -> NonZeroUsize {
        self.concurrency
    }

    /// Compile with an explicit teacher of the student's structure. A
    /// teacher that has no demos gets labeled ones first (DSPy does this to
    /// an uncompiled teacher); one with demos is used as it is.
    pub async fn compile_with_teacher<M>(
        &self,
        student: &M,
        teacher: &M,
        trainset: &[Example],
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        measured("BootstrapFewShot", student, self.run(student, teacher, trainset)).await
    }

    async fn run<M>(&self, student: &M, teacher: &M, trainset: &[Example]) -> Result<(M, CompileReport), OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        let mut report = CompileReport::new("BootstrapFewShot");
        let student = reset_copy(student);
        let teacher = if self.max_labeled_demos > 0 && !has_demos(teacher) {
            LabeledFewShot::new(self.max_labeled_demos).apply(teacher, trainset)
        } else {
            teacher.clone()
        };
        check_structure(&student, &teacher)?;
        let id_to_path = predictor_paths_by_id(&teacher)?;
        let paths = student.predictor_paths();
        let mut traces: HashMap<String, Vec<Example>> = paths.iter().map(|p| (p.clone(), Vec::new())).collect();

        let wanted = self.max_bootstrapped_demos;
        let mut bootstrapped: BTreeSet<usize> = BTreeSet::new();
        if wanted > 0 && !trainset.is_empty() {
            let progress = Progress::new(trainset.len(), self.display_progress, "bootstrap");
            let (done, successes, errors_seen) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
            let mut errors_in_order = 0usize;
            let stats = run_in_order(
                trainset.len(),
                || speculation_window(self.concurrency.get(), wanted, done.load(Relaxed), successes.load(Relaxed)),
                self.limiter.clone(),
                |i| self.attempt(&teacher, &trainset[i], &id_to_path),
                |_, attempt: &Attempt| {
                    progress.inc();
                    done.fetch_add(1, Relaxed);
                    let ok = successes.fetch_add(usize::from(attempt.accepted.is_some()), Relaxed)
                        + usize::from(attempt.accepted.is_some());
                    let errors = errors_seen.fetch_add(attempt.errors.len(), Relaxed) + attempt.errors.len();
                    ok < wanted && errors < self.max_errors.get()
                },
                |i, attempt| {
                    // A refused call is no failure of the example: the
                    // budget is spent, keep the demos found so far.
                    if let Some(why) = attempt.errors.iter().find_map(refusal) {
                        report.stopped_early = Some(budget_stop(why, "demo bootstrapping"));
                        return Flow::Stop;
                    }
                    for error in attempt.errors {
                        errors_in_order += 1;
                        report.skipped.push(SkippedExample { index: i, error });
                        if errors_in_order >= self.max_errors.get() {
                            report.stopped_early = Some(StopReason::ErrorBudgetSpent {
                                errors: errors_in_order,
                                max_errors: self.max_errors.get(),
                            });
                            return Flow::Stop;
                        }
                    }
                    if let Some(accepted) = attempt.accepted {
                        bootstrapped.insert(i);
                        for (path, demo) in accepted {
                            traces.entry(path).or_default().push(demo);
                        }
                    }
                    progress.message(format!("{} bootstrapped", bootstrapped.len()));
                    if bootstrapped.len() >= wanted { Flow::Stop } else { Flow::Continue }
                },
            )
            .await;
            progress.finish();
            report.teacher_runs = stats.started;
            report.speculative_runs = stats.speculative();
        }
        report.bootstrapped = bootstrapped.len();

        // Examples not bootstrapped (failed, rejected or never reached) are
        // the labeled pool, shuffled as DSPy does.
        let mut pool: Vec<Example> =
            trainset.iter().enumerate().filter(|(i, _)| !bootstrapped.contains(i)).map(|(_, e)| e.clone()).collect();
        PyRandom::new(0).shuffle(&mut pool);

        // DSPy's `_train`: every predictor samples from the whole pool, one
        // generator shared by the predictors in order.
        let mut program = student;
        let mut rng = PyRandom::new(0);
        let (max_boot, max_labeled) = (self.max_bootstrapped_demos, self.max_labeled_demos);
        program.visit_predictors_mut("", &mut |path, p: &mut dyn Predictor| {
            let augmented: Vec<Example> =
                traces.get(path).map(|t| t.iter().take(max_boot).cloned().collect()).unwrap_or_default();
            let size = max_labeled.saturating_sub(augmented.len()).min(pool.len());
            let mut demos = augmented;
            demos.extend(rng.sample(&pool, size));
            p.set_demos(demos);
        });
        Ok((program, report))
    }

    /// Run the teacher on one example for up to `max_rounds` rounds, until
    /// the metric accepts a run.
    async fn attempt<M>(&self, teacher: &M, example: &Example, id_to_path: &HashMap<PredictorId, String>) -> Attempt
    where
        M: Module + Clone + 'static,
    {
        let mut errors = Vec::new();
        for round in 0..self.max_rounds.get() {
            match self.teacher_run(teacher, example, round).await {
                Ok((accepted, trace)) if accepted => {
                    return Attempt { accepted: Some(trace_demos(&trace, id_to_path)), errors };
                }
                Ok(_) => {}
                Err(error) => errors.push(error),
            }
        }
        Attempt { accepted: None, errors }
    }

    /// One teacher run with the example removed from its demos; the
    /// metric's verdict and the trace.
    async fn teacher_run<M>(&self, teacher: &M, example: &Example, round: usize) -> Result<(bool, Trace), ExampleError>
    where
        M: Module + Clone + 'static,
    {
        let mut teacher = teacher.clone();
        teacher.visit_predictors_mut("", &mut |_, p: &mut dyn Predictor| {
            if p.demos().iter().any(|d| d.fields() == example.fields()) {
                let kept = p.demos().iter().filter(|d| d.fields() != example.fields()).cloned().collect();
                p.set_demos(kept);
            }
        });
        let mut config = self.teacher_config.clone().unwrap_or_default();
        if round > 0 {
            config.temperature = Some(1.0);
            config.rollout_id = Some(round as u64);
        }
        let run = with_call_config(config, with_trace(teacher.call_example(example)));
        let (outcome, trace) = match &self.teacher_lm {
            Some(lm) => with_lm(lm.clone(), run).await,
            None => run.await,
        };
        let prediction = outcome.map_err(ExampleError::Program)?;
        let score = self.metric.score(example, &prediction, Some(&trace)).await.map_err(ExampleError::Metric)?;
        Ok((score.is_success(self.metric_threshold), trace))
    }
}

/// The demos a successful trace yields, by predictor path: one per call
/// (`augmented: true`, then the call's inputs and outputs); when a
/// predictor ran several times, DSPy keeps one — the last or, half the
/// time, a random earlier one — chosen by a generator seeded from the
/// demos themselves.
fn trace_demos(trace: &Trace, id_to_path: &HashMap<PredictorId, String>) -> Vec<(String, Example)> {
    let mut by_path: Vec<(String, Vec<Example>)> = Vec::new();
    for entry in trace {
        let Some(path) = id_to_path.get(&entry.predictor) else { continue };
        let mut fields = Fields::new();
        fields.insert("augmented".to_string(), Value::Bool(true));
        fields.extend(entry.inputs.fields().iter().map(|(k, v)| (k.clone(), v.clone())));
        fields.extend(entry.outputs.fields().iter().map(|(k, v)| (k.clone(), v.clone())));
        let demo = Example::from_fields(fields);
        match by_path.iter_mut().find(|(p, _)| p == path) {
            Some((_, demos)) => demos.push(demo),
            None => by_path.push((path.clone(), vec![demo])),
        }
    }
    by_path
        .into_iter()
        .filter_map(|(path, demos)| {
            let chosen = if demos.len() > 1 {
                let mut rng = PyRandom::new(seed_of(&demos));
                if rng.random() < 0.5 { rng.choice(&demos[..demos.len() - 1]).cloned() } else { demos.last().cloned() }
            } else {
                demos.into_iter().next()
            };
            chosen.map(|demo| (path, demo))
        })
        .collect()
}

/// A stable seed from the demos' JSON (DSPy hashes the pickled tuple; the
/// seed differs, the rule is the same).
fn seed_of(demos: &[Example]) -> i64 {
    let mut hasher = Sha256::new();
    for demo in demos {
        hasher.update(serde_json::to_vec(demo.fields()).unwrap_or_default());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(bytes) >> 1) as i64
}

/// A count that must be at least 1, or [`OptimizerError::InvalidArgument`].
pub(crate) fn non_zero(name: &'static str, n: impl TryInto<NonZeroUsize>) -> Result<NonZeroUsize, OptimizerError> {
    n.try_into().map_err(|_| OptimizerError::InvalidArgument { name, message: "must be at least 1".into() })
}

/// How many teacher runs to keep in flight: enough to find the successes
/// still missing at the success rate seen so far (Laplace-smoothed, starting
/// from one in two), never more than `concurrency`. A high success rate thus
/// wastes few speculative runs; a strict metric quickly opens the window.
fn speculation_window(concurrency: usize, wanted: usize, done: usize, successes: usize) -> usize {
    let missing = wanted.saturating_sub(successes).max(1);
    let runs_per_success = (done + 2) as f64 / (successes + 1) as f64;
    ((missing as f64 * runs_per_success).ceil() as usize).clamp(1, concurrency)
}

/// Each predictor's path by its id. Two paths sharing an id (one predictor
/// cloned into two places) would make their traces indistinguishable, so
/// that is a [`OptimizerError::Structure`] error.
pub(crate) fn predictor_paths_by_id<M: Predictors>(
    program: &M,
) -> Result<HashMap<PredictorId, String>, OptimizerError> {
    let mut by_id: HashMap<PredictorId, String> = HashMap::new();
    let mut shared = None;
    program.visit_predictors("", &mut |path, p| {
        if let Some(first) = by_id.insert(p.id(), path.to_string()) {
            shared.get_or_insert((first, path.to_string()));
        }
    });
    match shared {
        Some((first, second)) => Err(OptimizerError::Structure(format!(
            "the predictors at `{first}` and `{second}` are clones of one predictor (same identity), so their \
             traces cannot be told apart; construct each with its own `Predict::new` / `from_signature`"
        ))),
        None => Ok(by_id),
    }
}

/// Student and teacher must have the same predictors with the same fields.
fn check_structure<M: Predictors>(student: &M, teacher: &M) -> Result<(), OptimizerError> {
    let shape = |m: &M| {
        let mut out = Vec::new();
        m.visit_predictors("", &mut |path, p| {
            out.push((path.to_string(), p.signature().fields().map(|f| f.name.clone()).collect::<Vec<_>>()))
        });
        out
    };
    let (s, t) = (shape(student), shape(teacher));
    if s != t {
        return Err(OptimizerError::Structure(format!("student predictors {s:?}, teacher predictors {t:?}")));
    }
    Ok(())
}

impl Optimizer for BootstrapFewShot {
    fn name(&self) -> &'static str {
        "BootstrapFewShot"
    }

    /// Every training example, each up to `max_rounds` teacher runs.
    fn program_runs_bound(&self, trainset: usize, _valset: usize, _predictors: usize) -> Option<ProgramRuns> {
        Some(ProgramRuns { runs: n(trainset).saturating_mul(n(self.max_rounds.get())), extra_lm_calls: 0 })
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
        self.compile_with_teacher(student, student, trainset).await
    }
}
