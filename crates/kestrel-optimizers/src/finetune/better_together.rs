//! [`BetterTogether`]: DSPy 3.4.1's meta-optimizer. A strategy such as
//! `"p -> w -> p"` names optimizers (by default `p` =
//! BootstrapFewShotWithRandomSearch, `w` = [`BootstrapFinetune`]); each step
//! compiles the previous step's program on the trainset, shuffled first
//! with Python's `random.Random(seed)` (one generator for the whole run);
//! every program — the student first — is scored on the validation set
//! (given, or the first `valset_ratio` of the trainset), and the best wins
//! (ties: the earlier one; without a validation set, the last). A step that
//! fails stops the run with the best program so far, as DSPy does.

use std::sync::Arc;

use kestrel_core::{Example, PyRandom};
use kestrel_eval::{Evaluate, Metric};
use kestrel_lm::{SharedLm, finetune::SharedFinetuneBackend};
use kestrel_modules::{DynModule, Module, Predictor, PredictorState, Predictors};
use serde::Serialize;

use super::BootstrapFinetune;
use crate::dyn_optimizer::DynOptimizer;
use crate::error::OptimizerError;
use crate::optimizer::{Compiled, Optimizer, measured};
use crate::random_search::BootstrapFewShotWithRandomSearch;
use crate::report::CompileReport;

/// DSPy's separator between strategy steps.
pub const STRAT_SEP: &str = " -> ";

/// One program BetterTogether scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageReport {
    /// The steps that made it (`""` for the student, `"p"`, `"p -> w"`, …).
    pub strategy: String,
    /// The optimizer of its last step (`None` for the student).
    pub optimizer: Option<String>,
    /// Validation score in percent (`None` without a validation set).
    pub score: Option<f64>,
    /// Its last step's own compile report.
    pub report: Option<CompileReport>,
    /// The program: each predictor's path, instructions, demo count and LM.
    pub predictors: Vec<StagePredictor>,
}

/// One predictor of a stage's program (DSPy's `candidate_programs` keep the
/// program itself; the report keeps what tells the stages apart).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StagePredictor {
    /// Its path in the program.
    pub path: String,
    /// Its instructions.
    pub instructions: String,
    /// Its demos.
    pub demos: usize,
    /// Its own LM's model string (a fine-tuned model after a weight step).
    pub lm: Option<String>,
}

impl std::fmt::Display for BetterTogetherReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "  strategy {}", self.strategy)?;
        for (i, stage) in self.stages.iter().enumerate() {
            let name = if stage.strategy.is_empty() { "(student)" } else { stage.strategy.as_str() };
            let score = stage.score.map_or_else(|| "-".to_string(), |s| format!("{s:.2}"));
            let best = if i == self.best { "  <- best" } else { "" };
            let lms: Vec<&str> = stage.predictors.iter().map(|p| p.lm.as_deref().unwrap_or("(scope)")).collect();
            let demos: Vec<usize> = stage.predictors.iter().map(|p| p.demos).collect();
            writeln!(f, "  stage {name:<16} score {score:>6}  demos {demos:?}  lm {lms:?}{best}")?;
        }
        if let Some(error) = &self.compilation_error {
            writeln!(f, "  stopped: {error}")?;
        }
        Ok(())
    }
}

/// What a stage's program is, predictor by predictor.
fn stage_predictors<M: Predictors + ?Sized>(program: &M) -> Vec<StagePredictor> {
    let mut out = Vec::new();
    program.visit_predictors("", &mut |path, p: &dyn Predictor| {
        out.push(StagePredictor {
            path: path.to_string(),
            instructions: p.signature().instructions().to_string(),
            demos: p.demos().len(),
            lm: p.lm().map(|lm| lm.model().to_string()),
        });
    });
    out
}

/// BetterTogether's part of a [`CompileReport`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BetterTogetherReport {
    /// The strategy run.
    pub strategy: String,
    /// Every program scored, in the order made (the student first).
    pub stages: Vec<StageReport>,
    /// The index in `stages` of the program returned.
    pub best: usize,
    /// A step failed; the run stopped there (DSPy's
    /// `flag_compilation_error_occurred`).
    pub compilation_error: Option<String>,
}

/// Prompt and weight optimization in sequence.
#[derive(Clone)]
pub struct BetterTogether {
    metric: Arc<dyn Metric>,
    optimizers: Vec<(String, Arc<dyn DynOptimizer>)>,
    strategy: String,
    seed: Option<i64>,
    valset_ratio: f64,
    shuffle_trainset_between_steps: bool,
    num_threads: Option<usize>,
}

impl std::fmt::Debug for BetterTogether {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<(&str, &str)> = self.optimizers.iter().map(|(k, o)| (k.as_str(), o.optimizer_name())).collect();
        f.debug_struct("BetterTogether")
            .field("optimizers", &names)
            .field("strategy", &self.strategy)
            .field("seed", &self.seed)
            .field("valset_ratio", &self.valset_ratio)
            .finish_non_exhaustive()
    }
}

impl BetterTogether {
    /// DSPy's defaults: `p` = BootstrapFewShotWithRandomSearch(metric), `w` =
    /// BootstrapFinetune(metric) on `backend`, strategy `p -> w -> p`,
    /// valset ratio 0.1, shuffles between steps, no seed (a random one).
    pub fn new(metric: impl Metric + 'static, backend: SharedFinetuneBackend) -> Self {
        let metric: Arc<dyn Metric> = Arc::new(metric);
        let p = BootstrapFewShotWithRandomSearch::new(metric.clone());
        let w = BootstrapFinetune::new(backend).shared_metric(metric.clone());
        Self::with_optimizers(metric, [("p", Arc::new(p) as Arc<dyn DynOptimizer>), ("w", Arc::new(w))])
    }

    /// DSPy's `BetterTogether(metric, **optimizers)`: the names are the
    /// strategy's letters.
    pub fn with_optimizers<S: Into<String>>(
        metric: Arc<dyn Metric>,
        optimizers: impl IntoIterator<Item = (S, Arc<dyn DynOptimizer>)>,
    ) -> Self {
        Self {
            metric,
            optimizers: optimizers.into_iter().map(|(k, o)| (k.into(), o)).collect(),
            strategy: "p -> w -> p".into(),
            seed: None,
            valset_ratio: 0.1,
            shuffle_trainset_between_steps: true,
            num_threads: None,
        }
    }

    /// Builder: the steps, separated by `" -> "`.
    pub fn strategy(mut self, strategy: impl Into<String>) -> Self {
        self.strategy = strategy.into();
        self
    }

    /// Builder: the seed of the trainset shuffles.
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builder: the share of the trainset held out as validation set when
    /// none is given (in `[0, 1)`; 0: no validation, the last program wins).
    pub fn valset_ratio(mut self, ratio: f64) -> Self {
        self.valset_ratio = ratio;
        self
    }

    /// Builder: shuffle the trainset before each step (default true).
    pub fn shuffle_trainset_between_steps(mut self, on: bool) -> Self {
        self.shuffle_trainset_between_steps = on;
        self
    }

    /// Builder: examples evaluated at once on the validation set.
    pub fn num_threads(mut self, n: usize) -> Self {
        self.num_threads = Some(n.max(1));
        self
    }

    /// The steps, checked against the optimizer names.
    pub fn parsed_strategy(&self) -> Result<Vec<String>, OptimizerError> {
        if self.strategy.trim().is_empty() {
            return Err(OptimizerError::InvalidArgument {
                name: "strategy",
                message: "strategy cannot be empty".into(),
            });
        }
        let steps: Vec<String> = self.strategy.split(STRAT_SEP).map(str::to_string).collect();
        let invalid: Vec<&String> = steps.iter().filter(|s| !self.optimizers.iter().any(|(k, _)| k == *s)).collect();
        if !invalid.is_empty() {
            let valid: Vec<&str> = self.optimizers.iter().map(|(k, _)| k.as_str()).collect();
            return Err(OptimizerError::InvalidArgument {
                name: "strategy",
                message: format!("Strategy contains invalid optimizer keys: {invalid:?}. Valid keys are: {valid:?}"),
            });
        }
        Ok(steps)
    }

    async fn score<M: Module + ?Sized>(
        &self,
        program: &M,
        valset: Option<&[Example]>,
    ) -> Result<Option<f64>, OptimizerError> {
        let Some(valset) = valset.filter(|v| !v.is_empty()) else { return Ok(None) };
        let mut evaluate = Evaluate::new(valset.to_vec()).display_progress(false);
        if let Some(n) = self.num_threads {
            evaluate = evaluate.concurrency(n)?;
        }
        Ok(Some(evaluate.run(program, self.metric.as_ref()).await?.score))
    }

    async fn run<M>(
        &self,
        student: &M,
        trainset: &[Example],
        valset: Option<&[Example]>,
    ) -> Result<(M, CompileReport), OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        if trainset.is_empty() {
            return Err(OptimizerError::InvalidArgument {
                name: "trainset",
                message: "trainset cannot be empty".into(),
            });
        }
        if !(0.0..1.0).contains(&self.valset_ratio) {
            return Err(OptimizerError::InvalidArgument {
                name: "valset_ratio",
                message: format!("valset_ratio must be in range [0, 1), got {}", self.valset_ratio),
            });
        }
        let steps = self.parsed_strategy()?;
        let mut trainset = trainset.to_vec();
        let valset: Option<Vec<Example>> = match valset.filter(|v| !v.is_empty()) {
            Some(v) => Some(v.to_vec()),
            None if self.valset_ratio == 0.0 => None,
            None => {
                let n = (self.valset_ratio * trainset.len() as f64) as usize;
                let rest = trainset.split_off(n);
                Some(std::mem::replace(&mut trainset, rest))
            }
        };
        let valset = valset.as_deref();
        let mut rng = PyRandom::new(self.seed.unwrap_or_else(rand::random));

        let mut report = BetterTogetherReport { strategy: self.strategy.clone(), ..Default::default() };
        let mut programs = vec![student.clone()];
        let score = self.score(student, valset).await?;
        report.stages.push(StageReport {
            strategy: String::new(),
            optimizer: None,
            score,
            report: None,
            predictors: stage_predictors(student),
        });

        let mut current = student.clone();
        for (i, step) in steps.iter().enumerate() {
            let strategy = steps[..=i].join(STRAT_SEP);
            let Some((_, optimizer)) = self.optimizers.iter().find(|(k, _)| k == step) else { break };
            if self.shuffle_trainset_between_steps {
                rng.shuffle(&mut trainset);
            }
            let lms_before = lms_of(&current);
            let compiled = match optimizer.compile_boxed(&current, &trainset, valset).await {
                Ok(compiled) => compiled,
                Err(e) => {
                    tracing::error!(target: "kestrel_optimizers", "BetterTogether step {} ({strategy}) failed: {e}", i + 1);
                    report.compilation_error = Some(format!("step {} ({strategy}): {e}", i + 1));
                    break;
                }
            };
            let mut next = current.clone();
            transfer(compiled.program.as_ref(), &mut next, &lms_before)?;
            let score = self.score(&next, valset).await?;
            report.stages.push(StageReport {
                strategy,
                optimizer: Some(optimizer.optimizer_name().to_string()),
                score,
                report: Some(compiled.report),
                predictors: stage_predictors(&next),
            });
            programs.push(next.clone());
            current = next;
        }

        // Best score first, ties to the earlier program; without a
        // validation set, the last program.
        report.best = if valset.is_some() {
            let mut best = 0;
            for (i, stage) in report.stages.iter().enumerate() {
                let s = stage.score.unwrap_or(f64::NEG_INFINITY);
                if s > report.stages[best].score.unwrap_or(f64::NEG_INFINITY) {
                    best = i;
                }
            }
            best
        } else {
            report.stages.len() - 1
        };
        let program = programs.swap_remove(report.best);
        let mut compile_report = CompileReport::new(self.name());
        compile_report.better_together = Some(Box::new(report));
        Ok((program, compile_report))
    }
}

/// The LMs of a program's predictors, in order.
fn lms_of<M: Predictors + ?Sized>(program: &M) -> Vec<Option<SharedLm>> {
    let mut out = Vec::new();
    program.visit_predictors("", &mut |_, p: &dyn Predictor| out.push(p.lm().cloned()));
    out
}

/// Copy each predictor's state, LM and call options from `from` (a compiled
/// copy of `to`) onto `to`, in predictor order. A predictor the optimizer
/// left without an LM gets its LM from before back (DSPy restores them).
fn transfer<M: Predictors>(
    from: &dyn DynModule,
    to: &mut M,
    lms_before: &[Option<SharedLm>],
) -> Result<(), OptimizerError> {
    let mut states: Vec<(PredictorState, Option<SharedLm>, kestrel_lm::CallConfig)> = Vec::new();
    from.visit_predictors("", &mut |_, p: &dyn Predictor| {
        states.push((p.state(), p.lm().cloned(), p.config().clone()))
    });
    let mut index = 0;
    let mut failure = None;
    to.visit_predictors_mut("", &mut |_, p: &mut dyn Predictor| {
        if let Some((state, lm, config)) = states.get(index).cloned() {
            if let Err(e) = p.set_state(state) {
                failure.get_or_insert(e);
            }
            p.set_lm(lm.or_else(|| lms_before.get(index).cloned().flatten()));
            p.set_config(config);
        }
        index += 1;
    });
    match failure {
        Some(e) => Err(e.into()),
        None if index != states.len() => Err(OptimizerError::Structure(format!(
            "the compiled program has {} predictors, the student {index}",
            states.len()
        ))),
        None => Ok(()),
    }
}

impl Optimizer for BetterTogether {
    fn name(&self) -> &'static str {
        "BetterTogether"
    }

    async fn compile_with_valset<'a, M>(
        &'a self,
        student: &'a M,
        trainset: &'a [Example],
        valset: Option<&'a [Example]>,
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        measured(self.name(), student, self.run(student, trainset, valset)).await
    }
}
