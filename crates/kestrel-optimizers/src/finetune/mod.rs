//! [`BootstrapFinetune`]: DSPy 3.4.1's weight optimizer. The teacher (by
//! default the student) runs the training set in trace scopes; runs the
//! metric accepts become chat-format training data — shared by every
//! predictor with `multitask` (the default), else one set per predictor;
//! one fine-tuning job runs per distinct (LM, data) pair on a
//! [`FinetuneBackend`]; each predictor of the compiled program gets the
//! fine-tuned LM of its pair. [`BetterTogether`](better_together) chains
//! it with prompt optimizers.
//!
//! Differences from DSPy, on purpose: the backend is given explicitly
//! (DSPy infers a provider from the LM); a predictor without its own LM
//! uses the LM in scope when the compile starts (DSPy requires one on every
//! predictor); runs that fail are skipped and listed in the report (DSPy's
//! `bootstrap_trace_data` raises on them); per-LM `train_kwargs` and
//! adapters are keyed by the LM's model string (DSPy: by LM object).

pub mod better_together;
mod data;
mod report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::try_join_all;
use kestrel_core::{Adapter, ChatAdapter, Example, PredictorId, SignatureSpec};
use kestrel_eval::Metric;
use kestrel_lm::finetune::{FinetuneJob, SharedFinetuneBackend, TrainDataFormat, TrainingData, start_finetune};
use kestrel_lm::{LmError, SharedLm, current_lm};
use kestrel_modules::{Module, Predictor};
use serde_json::{Map, Value};

pub use data::{TraceData, bootstrap_trace_data, finetune_records};
pub use report::{FinetuneJobReport, FinetuneReport};

use crate::cost_estimate::{ProgramRuns, n};
use crate::error::OptimizerError;
use crate::optimizer::{Compiled, Optimizer, measured};
use crate::report::{CompileReport, SkippedExample};
use data::{PredictorInfo, predictors_of};

/// DSPy's `settings.num_threads` default, used when `num_threads` is unset.
pub const DEFAULT_NUM_THREADS: usize = 8;

/// DSPy's polling interval for remote jobs (20 s).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(20);

/// Fine-tune the LMs of a program's predictors on its own successful traces.
#[derive(Clone)]
pub struct BootstrapFinetune {
    backend: SharedFinetuneBackend,
    metric: Option<Arc<dyn Metric>>,
    multitask: bool,
    train_kwargs: Map<String, Value>,
    train_kwargs_by_model: HashMap<String, Map<String, Value>>,
    adapter: Arc<dyn Adapter>,
    adapter_by_model: HashMap<String, Arc<dyn Adapter>>,
    exclude_demos: bool,
    num_threads: Option<usize>,
    poll_interval: Duration,
    data_dir: Option<PathBuf>,
}

impl std::fmt::Debug for BootstrapFinetune {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapFinetune")
            .field("backend", &self.backend.name())
            .field("metric", &self.metric.is_some())
            .field("multitask", &self.multitask)
            .field("train_kwargs", &self.train_kwargs)
            .field("adapter", &self.adapter.name())
            .field("exclude_demos", &self.exclude_demos)
            .field("num_threads", &self.num_threads)
            .finish_non_exhaustive()
    }
}

/// One fine-tuning job to run: the LM, the predictor (`None`: shared data)
/// and the records.
struct TrainingKey {
    lm: SharedLm,
    pred_ind: Option<usize>,
}

impl BootstrapFinetune {
    /// DSPy's defaults on `backend`: no metric (every run is kept),
    /// `multitask`, no `train_kwargs`, the ChatAdapter, demos kept in the
    /// prompts, `num_threads` unset (8), polls every 20 s.
    pub fn new(backend: SharedFinetuneBackend) -> Self {
        Self {
            backend,
            metric: None,
            multitask: true,
            train_kwargs: Map::new(),
            train_kwargs_by_model: HashMap::new(),
            adapter: Arc::new(ChatAdapter),
            adapter_by_model: HashMap::new(),
            exclude_demos: false,
            num_threads: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            data_dir: None,
        }
    }

    /// Builder: keep only the runs this metric scores non-zero.
    pub fn metric(mut self, metric: impl Metric + 'static) -> Self {
        self.metric = Some(Arc::new(metric));
        self
    }

    /// Builder: the same, with a metric already shared.
    pub fn shared_metric(mut self, metric: Arc<dyn Metric>) -> Self {
        self.metric = Some(metric);
        self
    }

    /// Builder: one data set for all predictors of an LM (`true`, DSPy's
    /// default) or one per predictor.
    pub fn multitask(mut self, on: bool) -> Self {
        self.multitask = on;
        self
    }

    /// Builder: `train_kwargs` for every LM (OpenAI's `hyperparameters`).
    pub fn train_kwargs(mut self, kwargs: Map<String, Value>) -> Self {
        self.train_kwargs = kwargs;
        self
    }

    /// Builder: `train_kwargs` for the LM whose model string is `model`.
    pub fn train_kwargs_for(mut self, model: impl Into<String>, kwargs: Map<String, Value>) -> Self {
        self.train_kwargs_by_model.insert(model.into(), kwargs);
        self
    }

    /// Builder: the adapter that formats the data (default ChatAdapter; an
    /// adapter without a fine-tuning format, such as the JSON adapter, is
    /// an error at compile time, as in DSPy).
    pub fn adapter(mut self, adapter: Arc<dyn Adapter>) -> Self {
        self.adapter = adapter;
        self
    }

    /// Builder: the adapter for the LM whose model string is `model`.
    pub fn adapter_for(mut self, model: impl Into<String>, adapter: Arc<dyn Adapter>) -> Self {
        self.adapter_by_model.insert(model.into(), adapter);
        self
    }

    /// Builder: format records without the predictors' demos and clear the
    /// demos of the compiled program's predictors.
    pub fn exclude_demos(mut self, on: bool) -> Self {
        self.exclude_demos = on;
        self
    }

    /// Builder: teacher runs in flight, and the most jobs one compile may
    /// start (DSPy refuses more jobs than threads).
    pub fn num_threads(mut self, n: usize) -> Self {
        self.num_threads = Some(n.max(1));
        self
    }

    /// Builder: how often jobs are polled (default 20 s, as DSPy).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Builder: where training files are written (default
    /// [`kestrel_lm::finetune::finetune_dir`], DSPy's place).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    fn threads(&self) -> usize {
        self.num_threads.unwrap_or(DEFAULT_NUM_THREADS)
    }

    fn adapter_of(&self, lm: &SharedLm) -> &dyn Adapter {
        self.adapter_by_model.get(lm.model()).unwrap_or(&self.adapter).as_ref()
    }

    fn kwargs_of(&self, lm: &SharedLm) -> Map<String, Value> {
        self.train_kwargs_by_model.get(lm.model()).unwrap_or(&self.train_kwargs).clone()
    }

    /// DSPy's `compile(student, trainset, teacher)`: `teachers` (none: the
    /// student itself) must have the student's predictors, path for path.
    pub async fn compile_with_teachers<M>(
        &self,
        student: &M,
        trainset: &[Example],
        teachers: &[M],
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        measured(self.name(), student, self.run(student, trainset, teachers)).await
    }

    async fn run<M>(
        &self,
        student: &M,
        trainset: &[Example],
        teachers: &[M],
    ) -> Result<(M, CompileReport), OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        let mut report = CompileReport::new(self.name());
        let student_preds = predictors_of(student);
        let scope_lm = current_lm();
        let pred_lms = student_preds
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.lm.clone().or_else(|| scope_lm.clone()).ok_or_else(|| {
                    OptimizerError::Config(format!(
                        "Predictor {i} (`{}`) does not have an LM assigned and none is in scope: give the \
                         student's predictors their LM before fine-tuning",
                        p.path
                    ))
                })
            })
            .collect::<Result<Vec<SharedLm>, _>>()?;

        let teachers: Vec<&M> = if teachers.is_empty() { vec![student] } else { teachers.iter().collect() };
        let mut known: HashMap<PredictorId, (SignatureSpec, Vec<Example>)> = HashMap::new();
        let mut trace_data = Vec::new();
        for teacher in &teachers {
            let teacher_preds = predictors_of(*teacher);
            check_structure(&student_preds, &teacher_preds)?;
            known.extend(teacher_preds.into_iter().map(|p| (p.id, (p.signature, p.demos))));
            let (data, failed) = bootstrap_trace_data(*teacher, trainset, self.metric.as_ref(), self.threads()).await;
            report.teacher_runs += trainset.len();
            report.skipped.extend(failed.into_iter().map(|(index, error)| SkippedExample { index, error }));
            trace_data.extend(data);
        }
        let kept = trace_data.iter().filter(|d| d.score.is_none_or(|s| s != 0.0)).count();
        report.bootstrapped = kept;
        tracing::info!(target: "kestrel_optimizers", collected = trace_data.len(), kept, "BootstrapFinetune: traces");

        // One key per distinct (LM, predictor index or shared), in predictor order.
        let mut keys: Vec<TrainingKey> = Vec::new();
        let mut key_of_pred = Vec::with_capacity(pred_lms.len());
        for (i, lm) in pred_lms.iter().enumerate() {
            let pred_ind = (!self.multitask).then_some(i);
            let at = keys.iter().position(|k| k.lm.same_as(lm) && k.pred_ind == pred_ind).unwrap_or_else(|| {
                keys.push(TrainingKey { lm: lm.clone(), pred_ind });
                keys.len() - 1
            });
            key_of_pred.push(at);
        }
        if keys.len() > self.threads() {
            return Err(OptimizerError::Config(format!(
                "BootstrapFinetune requires `num_threads` to be bigger than or equal to the number of fine-tuning \
                 jobs. There are {} fine-tuning jobs to start, but the number of threads is: {}!",
                keys.len(),
                self.threads()
            )));
        }

        let filter = self.metric.is_some();
        let mut jobs = Vec::with_capacity(keys.len());
        for key in &keys {
            let records = finetune_records(
                &trace_data,
                &known,
                self.adapter_of(&key.lm),
                key.pred_ind,
                self.exclude_demos,
                filter,
            )?;
            tracing::info!(target: "kestrel_optimizers", model = key.lm.model(), records = records.len(), "BootstrapFinetune: data");
            let data = TrainingData::new(TrainDataFormat::Chat, records).map_err(finetune_error)?;
            jobs.push((key, data));
        }
        let started = try_join_all(jobs.into_iter().map(|(key, data)| self.train(key, data))).await?;

        let mut program = student.clone();
        let mut index = 0;
        let exclude_demos = self.exclude_demos;
        program.visit_predictors_mut("", &mut |_, p: &mut dyn Predictor| {
            if let Some((_, lm)) = key_of_pred.get(index).and_then(|&key| started.get(key)) {
                p.set_lm(Some(lm.clone()));
            }
            if exclude_demos {
                p.set_demos(Vec::new());
            }
            index += 1;
        });
        report.finetune = Some(Box::new(FinetuneReport { jobs: started.into_iter().map(|(job, _)| job).collect() }));
        Ok((program, report))
    }

    /// One job: save, start, wait; the report entry and the trained LM.
    async fn train(
        &self,
        key: &TrainingKey,
        data: TrainingData,
    ) -> Result<(FinetuneJobReport, SharedLm), OptimizerError> {
        let records = data.len();
        let job: FinetuneJob = start_finetune(
            self.backend.clone(),
            key.lm.model(),
            data,
            self.kwargs_of(&key.lm),
            self.data_dir.as_deref(),
        )
        .await
        .map_err(finetune_error)?;
        let data_path = job.data_path().to_path_buf();
        let job_id = job.id().to_string();
        let done = job.wait(self.poll_interval).await.map_err(finetune_error)?;
        let entry = FinetuneJobReport {
            base_model: key.lm.model().to_string(),
            predictor: key.pred_ind,
            records,
            data_path,
            job_id,
            fine_tuned_model: done.model.clone(),
            trained_tokens: done.progress.trained_tokens,
            cost_usd: done.progress.cost_usd,
        };
        Ok((entry, done.lm))
    }
}

fn finetune_error(e: LmError) -> OptimizerError {
    OptimizerError::Finetune(e)
}

/// DSPy's `assert_structural_equivalency`: same predictor count and paths.
fn check_structure(student: &[PredictorInfo], teacher: &[PredictorInfo]) -> Result<(), OptimizerError> {
    if student.len() != teacher.len() {
        return Err(OptimizerError::Structure(format!(
            "Structurally equivalent programs must have the same number of predictors: {} != {}",
            student.len(),
            teacher.len()
        )));
    }
    for (i, (s, t)) in student.iter().zip(teacher).enumerate() {
        if s.path != t.path {
            return Err(OptimizerError::Structure(format!(
                "The predictor names for the programs do not match at index {i}: '{}' != '{}'",
                s.path, t.path
            )));
        }
    }
    Ok(())
}

impl Optimizer for BootstrapFinetune {
    fn name(&self) -> &'static str {
        "BootstrapFinetune"
    }

    /// One teacher run per training example (the student as teacher);
    /// training itself calls no LM. The fine-tuned model's own price is
    /// not in the estimate.
    fn program_runs_bound(&self, trainset: usize, _valset: usize, _predictors: usize) -> Option<ProgramRuns> {
        Some(ProgramRuns { runs: n(trainset), extra_lm_calls: 0 })
    }

    /// DSPy's `BootstrapFinetune.compile` takes no valset: it is ignored.
    async fn compile_with_valset<'a, M>(
        &'a self,
        student: &'a M,
        trainset: &'a [Example],
        _valset: Option<&'a [Example]>,
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        self.compile_with_teachers(student, trainset, &[]).await
    }
}
