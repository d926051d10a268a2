//! Running the matrix: for each program, evaluate it uncompiled on dev
//! (the baseline), then for each optimizer compile it on train and evaluate
//! the compiled program on dev, measuring wall time, LM usage (deltas of the
//! LM client's totals) and the HTTP requests the simulated LM's server saw.
//! Programs and optimizers are boxed ([`DynModule`], [`DynOptimizer`]), so
//! the matrix is two plain loops.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use kestrel_core::{Example, SignatureSpec};
use kestrel_eval::{Evaluate, EvaluationResult, Metric};
use kestrel_lm::{Budget, LmClient, LmError, SharedLm, with_budget};
use kestrel_modules::{ChainOfThought, DynModule, Module, Predict, Predictors, PredictorsExt, ProgramState};
use kestrel_optimizers::{
    BetterTogether, BootstrapFewShot, BootstrapFewShotWithRandomSearch, BootstrapFinetune, CallProfile, CompileReport,
    Compiled, Copro, DynOptimizer, Gepa, JournalOptions, LabeledFewShot, MiproV2, OptimizerError, Simba,
    compile_resumable, demo_counts, estimate_compile,
};
use kestrel_testkit::mock::MockServer;
use sha2::{Digest, Sha256};

use super::cli::{BenchArgs, OptimizerKind, ProgramKind};
use super::datasets::Loaded;
use super::fallbacks::FallbackCounter;
use super::metrics::CountingMetric;
use super::predictions;
use super::report::{Baseline, Candidate, Phase, Row};

/// An optimizer and the counter of its metric calls.
type Counted = (Box<dyn DynOptimizer>, Arc<CountingMetric>);

/// Everything a row needs.
pub struct Runner<'a> {
    /// The model string rows name.
    pub model: String,
    /// The LM client every call goes through (usage is read from it).
    pub lm: LmClient,
    /// The same client behind the JSON-fallback counter (what programs call).
    pub counter: FallbackCounter,
    /// The simulated LM's server (request counts), if simulated.
    pub server: Option<&'a MockServer>,
    /// `--api-base` of this model (the fine-tuning backend's), if given.
    pub api_base: Option<&'a str>,
    /// The data.
    pub data: &'a Loaded,
    /// The metric.
    pub metric: Arc<dyn Metric>,
    /// The flags.
    pub args: &'a BenchArgs,
    /// The dev set (a `--shard`'s slice of it), shared by every evaluation.
    pub dev: Arc<[Example]>,
    /// The whole dev set's index of `dev[0]` (0 unless sharded).
    pub dev_offset: usize,
    /// Where compiled programs are saved (`<program>-<optimizer>.json`), if anywhere.
    pub save_dir: Option<std::path::PathBuf>,
    /// `--save-dir`: where compiled programs are saved as
    /// `<dataset>-<program>-<optimizer>.json`, if anywhere.
    pub saved_dir: Option<std::path::PathBuf>,
    /// Where dev predictions are written (`<program>-<optimizer>.jsonl`), if anywhere.
    pub predictions_dir: Option<std::path::PathBuf>,
    /// Compiles are resumable: their journals (in the cache directory).
    pub journal: Option<JournalOptions>,
}

impl Runner<'_> {
    /// Run `future`, returning its output and what it spent.
    pub(super) async fn measure<F: Future>(&self, future: F) -> (F::Output, Phase) {
        let usage = self.lm.usage().total;
        let requests = self.server.map(|s| s.request_count() as u64);
        let fallbacks = self.counter.fallbacks();
        let started = Instant::now();
        let output = future.await;
        let seconds = started.elapsed().as_secs_f64();
        let mut phase = Phase::between(&usage, &self.lm.usage().total);
        phase.seconds = seconds;
        phase.json_fallbacks = self.counter.fallbacks().saturating_sub(fallbacks);
        phase.http_requests = self.server.zip(requests).map(|(s, r)| (s.request_count() as u64).saturating_sub(r));
        (output, phase)
    }

    /// Evaluate on dev; `name` (`<program>-<optimizer>`) names the
    /// `--predictions` file.
    pub(super) async fn evaluate<M: Module>(&self, program: &M, name: &str) -> Result<(EvaluationResult, Phase)> {
        let evaluate = Evaluate::new(Arc::clone(&self.dev))
            .concurrency(self.args.concurrency)?
            .unlimited_errors()
            .display_progress(false);
        let (result, phase) = self.measure(evaluate.run(program, self.metric.as_ref())).await;
        let result = result.context("evaluating on the dev set")?;
        if let Some(dir) = &self.predictions_dir {
            let history = self.lm.history(usize::try_from(phase.lm_calls).unwrap_or(usize::MAX));
            predictions::write(&dir.join(format!("{name}.jsonl")), &result, &history, self.dev_offset)?;
        }
        Ok((result, phase))
    }

    /// The baseline and one row per optimizer for one program.
    pub async fn run_program(&self, kind: ProgramKind, program: Box<dyn DynModule>) -> Result<(Baseline, Vec<Row>)> {
        let dataset = self.data.name.clone();
        let (before, before_phase) = self.evaluate(&program, &format!("{}-none", kind.name())).await?;
        progress(kind, "baseline", &before_phase, before.score);
        let baseline = Baseline {
            lm: self.model.clone(),
            dataset: dataset.clone(),
            program: kind.name().into(),
            score: before.score,
            eval_errors: before.errors,
            parse_failures: parse_failures(&before),
            json_fallbacks: before_phase.json_fallbacks,
            eval: before_phase,
            outcomes: outcomes(&before),
            dev_outcomes: None,
        };
        let mut rows = Vec::new();
        for kind_of_optimizer in self.args.optimizers() {
            if let Some(row) = self.per_call_row(kind, kind_of_optimizer, program.as_ref(), &baseline).await? {
                progress(kind, kind_of_optimizer.name(), &row.compile.plus(&row.eval), row.score_after);
                rows.push(row);
                continue;
            }
            let row = match self.optimizer(kind_of_optimizer)? {
                // No optimizer: the row is the baseline.
                None => {
                    let mut row =
                        self.row(kind, kind_of_optimizer, &program, &baseline, Phase::default(), before_phase);
                    row.eval_errors = before.errors;
                    row.parse_failures = baseline.parse_failures;
                    row.outcomes = baseline.outcomes.clone();
                    row.score_after = before.score;
                    row
                }
                Some((optimizer, counter)) => {
                    let train = &self.data.train[..];
                    // The cost estimate before the compile: the optimizer's
                    // bound of program runs, the baseline's calls and tokens
                    // per run, list prices, capped by the budget.
                    if let Some(profile) = CallProfile::from_usage(before.results.len(), &before.usage) {
                        let valset = self.data.val.as_ref().map_or(train.len(), Vec::len);
                        let sizes = (train.len(), valset, program.predictor_paths().len());
                        let budget = self.args.compile_budget();
                        let prices = self.lm.price_table();
                        let estimate =
                            estimate_compile(optimizer.as_ref(), sizes, &profile, &self.model, prices, budget.as_ref());
                        eprintln!("  estimate {:<8} {estimate}", kind.name());
                    }
                    let valset = self.data.val.as_deref();
                    let compile: BoxFuture<'_, Result<Compiled<Box<dyn DynModule>>, OptimizerError>> =
                        match &self.journal {
                            Some(journal) => {
                                let options = journal
                                    .clone()
                                    .identity("program", kind.name())
                                    .identity("optimizer", kind_of_optimizer.name());
                                let (optimizer, student) = (optimizer.as_ref(), program.as_ref());
                                Box::pin(
                                    async move { compile_resumable(optimizer, student, train, valset, &options).await },
                                )
                            }
                            None => optimizer.compile_boxed(program.as_ref(), train, valset),
                        };
                    // `--max-lm-calls` / `--max-tokens` / `--max-cost-usd`:
                    // a fresh budget per compile (the dev evaluation after
                    // it is measurement, outside the budget).
                    let (compiled, compile_phase) = match self.args.compile_budget() {
                        Some(limits) => {
                            let budget = Budget::new(limits)?;
                            self.measure(with_budget(&budget, compile)).await
                        }
                        None => self.measure(compile).await,
                    };
                    let compiled = compiled
                        .with_context(|| format!("compiling {} with {}", kind.name(), kind_of_optimizer.name()))?;
                    if let Some(dir) = &self.args.report_html {
                        let file = dir.join(format!("{}-{}.html", kind.name(), kind_of_optimizer.name()));
                        compiled.report.write_html(&file, &program, &compiled.program)?;
                    }
                    if let Some(dir) = &self.save_dir {
                        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                        let file = dir.join(format!("{}-{}.json", kind.name(), kind_of_optimizer.name()));
                        compiled.program.save(&file).with_context(|| format!("saving {}", file.display()))?;
                    }
                    if let Some(dir) = &self.saved_dir {
                        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                        let dataset = super::file_name_of(&self.data.name);
                        let file = dir.join(format!("{dataset}-{}-{}.json", kind.name(), kind_of_optimizer.name()));
                        compiled.program.save(&file).with_context(|| format!("saving {}", file.display()))?;
                    }
                    let name = format!("{}-{}", kind.name(), kind_of_optimizer.name());
                    let (after, eval_phase) = self.evaluate(&compiled.program, &name).await?;
                    let mut row =
                        self.row(kind, kind_of_optimizer, &compiled.program, &baseline, compile_phase, eval_phase);
                    row.score_after = after.score;
                    row.eval_errors = after.errors;
                    row.parse_failures = parse_failures(&after);
                    row.outcomes = outcomes(&after);
                    fill_from_report(&mut row, kind_of_optimizer, &compiled.report);
                    row.metric_calls = Some(counter.calls());
                    row
                }
            };
            progress(kind, kind_of_optimizer.name(), &row.compile.plus(&row.eval), row.score_after);
            rows.push(row);
        }
        Ok((baseline, rows))
    }

    /// The optimizer of one kind with the flags' settings (`None` for
    /// `--optimizer none`), and the counter of the metric calls it makes.
    fn optimizer(&self, kind: OptimizerKind) -> Result<Option<Counted>> {
        let a = self.args;
        let counter = Arc::new(CountingMetric::new(Arc::clone(&self.metric)));
        let metric: Arc<dyn Metric> = Arc::clone(&counter) as Arc<dyn Metric>;
        let optimizer: Box<dyn DynOptimizer> = match kind {
            OptimizerKind::None => return Ok(None),
            OptimizerKind::Labeled => Box::new(LabeledFewShot::new(a.max_labeled_demos)),
            OptimizerKind::Bootstrap => Box::new(
                BootstrapFewShot::with_shared_metric(metric)
                    .max_bootstrapped_demos(a.max_bootstrapped_demos)
                    .max_labeled_demos(a.max_labeled_demos)
                    .concurrency(a.concurrency)?
                    .display_progress(false),
            ),
            OptimizerKind::RandomSearch => Box::new(
                BootstrapFewShotWithRandomSearch::new(metric)
                    .num_candidate_programs(a.candidates)
                    .max_bootstrapped_demos(a.max_bootstrapped_demos)
                    .max_labeled_demos(a.max_labeled_demos)
                    .concurrency(a.concurrency)?
                    .display_progress(false),
            ),
            // The prompt model is the LM in scope: the task LM.
            OptimizerKind::Copro => Box::new(
                Copro::with_shared_metric(metric)
                    .breadth(a.breadth)?
                    .depth(a.depth)?
                    .concurrency(a.concurrency)?
                    .display_progress(false),
            ),
            OptimizerKind::MiproLight | OptimizerKind::MiproMedium | OptimizerKind::MiproHeavy => {
                let mut mipro = MiproV2::with_shared_metric(metric)
                    .auto(kind.mipro_auto())
                    .prompt_model(SharedLm::new(self.counter.clone()))
                    .max_bootstrapped_demos(a.max_bootstrapped_demos)
                    .max_labeled_demos(a.max_labeled_demos)
                    .seed(i64::try_from(a.seed).context("--seed must fit in an i64 for MIPROv2")?)
                    .concurrency(a.concurrency)?
                    .trial_concurrency(a.trial_concurrency)?
                    .display_progress(false);
                if let Some(calls) = a.budget_calls {
                    mipro = mipro.max_lm_calls(calls)?;
                }
                if let Some(usd) = a.budget_usd {
                    mipro = mipro.max_cost_usd(usd)?;
                }
                Box::new(mipro)
            }
            // The reflection LM is the task LM (the simulated LM answers
            // GEPA's reflection prompt by its rule 6).
            OptimizerKind::GepaLight | OptimizerKind::GepaMedium | OptimizerKind::GepaHeavy => {
                let mode = kind.gepa_auto().context("a GEPA kind has an auto mode")?;
                Box::new(
                    Gepa::with_shared_metric(metric)
                        .auto(mode)
                        .reflection_lm(SharedLm::new(self.lm.clone()))
                        .seed(i64::try_from(a.seed).context("--seed must fit in an i64 for GEPA")?)
                        .concurrency(a.concurrency)?
                        .display_progress(false),
                )
            }
            OptimizerKind::Simba => Box::new(
                Simba::new(metric)
                    .bsize(self.data.train.len().clamp(1, 32))?
                    .concurrency(a.concurrency)?
                    .seed(i64::try_from(a.seed).context("--seed must fit in an i64 for SIMBA")?),
            ),
            OptimizerKind::Knn | OptimizerKind::Ensemble => {
                anyhow::bail!("{} rows are built by per_call_row", kind.name())
            }
            OptimizerKind::Finetune => Box::new(self.bootstrap_finetune(metric)?),
            OptimizerKind::BetterTogether => {
                let p = BootstrapFewShotWithRandomSearch::new(Arc::clone(&metric))
                    .num_candidate_programs(a.candidates)
                    .max_bootstrapped_demos(a.max_bootstrapped_demos)
                    .max_labeled_demos(a.max_labeled_demos)
                    .concurrency(a.concurrency)?
                    .display_progress(false);
                let w = self.bootstrap_finetune(Arc::clone(&metric))?;
                let steps: [(&str, Arc<dyn DynOptimizer>); 2] = [("p", Arc::new(p)), ("w", Arc::new(w))];
                Box::new(
                    BetterTogether::with_optimizers(metric, steps)
                        .seed(i64::try_from(a.seed).context("--seed must fit in an i64 for BetterTogether")?)
                        .num_threads(a.concurrency),
                )
            }
        };
        Ok(Some((optimizer, counter)))
    }

    /// BootstrapFinetune on this model's fine-tuning backend (the
    /// simulated server's routes, or the real endpoint).
    fn bootstrap_finetune(&self, metric: Arc<dyn Metric>) -> Result<BootstrapFinetune> {
        let constrained = self.args.constrained == super::Constrained::On;
        let backend = super::finetune::backend(self.server, self.api_base, &self.model, constrained)?;
        let mut optimizer =
            BootstrapFinetune::new(backend).shared_metric(metric).num_threads(self.args.concurrency.max(1));
        if self.server.is_some() {
            // Simulated runs keep their training files out of the user's cache.
            optimizer = optimizer
                .poll_interval(super::finetune::SIMULATED_POLL)
                .data_dir(std::env::temp_dir().join(super::finetune::SIMULATED_DATA_DIR));
        } else if self.model.starts_with("local/") {
            // Training in process: no request to spare, so no reason to wait 20 s.
            optimizer = optimizer.poll_interval(super::finetune::LOCAL_POLL);
        }
        Ok(optimizer)
    }

    pub(super) fn row<M: Predictors>(
        &self,
        kind: ProgramKind,
        optimizer: OptimizerKind,
        program: &M,
        baseline: &Baseline,
        compile: Phase,
        eval: Phase,
    ) -> Row {
        let total = compile.plus(&eval);
        Row {
            lm: self.model.clone(),
            dataset: baseline.dataset.clone(),
            program: kind.name().into(),
            optimizer: optimizer.name().into(),
            score_before: baseline.score,
            score_after: baseline.score,
            lm_calls: total.lm_calls,
            cache_hits: total.cache_hits,
            prompt_tokens: total.prompt_tokens,
            completion_tokens: total.completion_tokens,
            cost_usd: total.cost_usd,
            compile_seconds: compile.seconds,
            eval_seconds: eval.seconds,
            http_requests: total.http_requests,
            teacher_runs: 0,
            speculative_runs: 0,
            bootstrapped: 0,
            skipped: 0,
            eval_errors: 0,
            parse_failures: 0,
            json_fallbacks: eval.json_fallbacks,
            demos: demo_counts(program),
            demos_sha256: demos_sha256(program),
            best_seed: None,
            candidates: Vec::new(),
            trials: None,
            stopped: None,
            metric_calls: None,
            compile,
            eval,
            outcomes: Vec::new(),
            dev_outcomes: None,
        }
    }
}

fn fill_from_report(row: &mut Row, kind: OptimizerKind, report: &CompileReport) {
    row.teacher_runs = report.teacher_runs;
    row.speculative_runs = report.speculative_runs;
    row.bootstrapped = if report.children.is_empty() {
        report.bootstrapped
    } else {
        report.children.iter().map(|c| c.bootstrapped).sum()
    };
    row.skipped = report.skipped.len();
    row.best_seed = report.best_seed;
    row.stopped = report.stopped_early.as_ref().map(ToString::to_string);
    row.trials = trials(kind, report);
    row.candidates = report
        .candidates
        .iter()
        .map(|c| Candidate { seed: c.seed, label: c.kind.to_string(), score: c.score, demos: c.demos.clone() })
        .collect();
}

/// The row's `trials`: COPRO's candidate evaluations, RandomSearch's
/// candidate programs, MIPROv2's trials (the default program's included),
/// `None` for optimizers that run no trials.
fn trials(kind: OptimizerKind, report: &CompileReport) -> Option<usize> {
    match kind {
        OptimizerKind::Copro => Some(report.evaluations),
        OptimizerKind::RandomSearch => Some(report.candidates.len()),
        OptimizerKind::MiproLight | OptimizerKind::MiproMedium | OptimizerKind::MiproHeavy => {
            report.mipro.as_ref().map(|m| m.trials.len())
        }
        OptimizerKind::GepaLight | OptimizerKind::GepaMedium | OptimizerKind::GepaHeavy => {
            report.gepa.as_ref().map(|g| g.iterations)
        }
        OptimizerKind::Simba => report.simba.as_ref().map(|s| s.steps.iter().map(|step| step.candidates.len()).sum()),
        OptimizerKind::None
        | OptimizerKind::Labeled
        | OptimizerKind::Bootstrap
        | OptimizerKind::Knn
        | OptimizerKind::Ensemble
        | OptimizerKind::Finetune
        | OptimizerKind::BetterTogether => None,
    }
}

/// Dev examples whose reply no adapter could parse.
pub(super) fn parse_failures(result: &EvaluationResult) -> usize {
    result
        .results
        .iter()
        .filter(|r| r.error.as_ref().and_then(|e| e.lm_error()).is_some_and(|e| matches!(e, LmError::Parse(_))))
        .count()
}

/// Each dev example's score, in devset order (0 for failures).
pub(super) fn outcomes(result: &EvaluationResult) -> Vec<f64> {
    result.results.iter().map(|r| if r.is_ok() { r.score.score } else { 0.0 }).collect()
}

/// SHA-256 over every predictor's path and demos, in order.
pub fn demos_sha256<M: Predictors>(program: &M) -> String {
    let mut hasher = Sha256::new();
    for (path, state) in program.predictor_states() {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        for demo in &state.demos {
            hasher.update(serde_json::to_vec(demo.fields()).unwrap_or_default());
            hasher.update([0]);
        }
        hasher.update([1]);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The program of one kind on `signature`.
pub fn program(kind: ProgramKind, signature: &SignatureSpec) -> Result<Box<dyn DynModule>> {
    Ok(match kind {
        ProgramKind::Predict => Box::new(Predict::with_spec(signature.clone())),
        ProgramKind::Cot => Box::new(ChainOfThought::with_spec(signature.clone())?),
    })
}

/// One progress line on stderr per finished row.
fn progress(kind: ProgramKind, what: &str, phase: &Phase, score: f64) {
    let http = phase.http_requests.map_or_else(String::new, |n| format!(", {n} HTTP requests"));
    eprintln!(
        "  {:<8} {:<14} score {:>5.1}  {:>7.2} s  {} LM calls ({} cached){http}",
        kind.name(),
        what,
        score,
        phase.seconds,
        phase.lm_calls,
        phase.cache_hits
    );
}
