//! The MIPROv2 compile (DSPy 3.4.1's `MIPROv2.compile`): checks and
//! settings, the cost estimate, step 1 (demo sets, with the dataset summary
//! alongside), step 2 (instruction proposals), step 3 (the trial search),
//! and the budget checks between them.

use kestrel_lm::BudgetLimits;
use std::future::Future;
use std::sync::Arc;

use futures::future::join;
use kestrel_core::{Example, PyRandom};
use kestrel_eval::Evaluate;
use kestrel_lm::{SharedLm, UsageMeter, with_lm};
use kestrel_modules::{Module, Predictor, Predictors, PredictorsExt};
use tokio::sync::Semaphore;

use super::auto::{MIN_MINIBATCH_SIZE, auto_settings, num_trials_for};
use super::budget::Budget;
use super::demo_sets::{DemoSetInfo, create_demo_sets, plan_demo_sets};
use super::estimate::CostEstimate;
use super::optimizer::MiproV2;
use super::proposer::{DEFAULT_NUM_DEMOS_IN_CONTEXT, GroundedProposer};
use super::report::{MiproReport, ScoredDemoSet, ScoredInstruction, average};
use super::search::{EvalBatch, PredictorChoice, PredictorSpace, SearchProgress, TrialKind, TrialRequest, TrialSearch};
use crate::bootstrap::BootstrapFewShot;
use crate::error::OptimizerError;
use crate::phase_usage::PhaseClock;
use crate::progress::Progress;
use crate::report::{CandidateKind, CompileReport, StopReason};

/// DSPy's `BOOTSTRAPPED_FEWSHOT_EXAMPLES_IN_CONTEXT`: bootstrapped demos
/// per set in zero-shot mode (the sets only inform the proposals).
const ZERO_SHOT_BOOTSTRAPPED_DEMOS: usize = DEFAULT_NUM_DEMOS_IN_CONTEXT;

/// The settings a compile runs with, after `auto`.
struct Settings {
    num_instruct: usize,
    num_fewshot: usize,
    num_trials: usize,
    minibatch: bool,
}

pub(super) async fn run<M>(
    mipro: &MiproV2,
    student: &M,
    teacher: Option<&M>,
    trainset: &[Example],
    valset: Option<&[Example]>,
    meter: &UsageMeter,
) -> Result<(M, CompileReport), OptimizerError>
where
    M: Module + Clone + 'static,
{
    let mut report = CompileReport::new("MIPROv2");
    let mut clock = PhaseClock::start(meter);
    let paths = student.predictor_paths();
    if paths.is_empty() {
        return Err(OptimizerError::Config("the program has no predictors to optimize".into()));
    }
    let zero_shot = mipro.max_bootstrapped_demos == 0 && mipro.max_labeled_demos == 0;
    check_combination(mipro, paths.len(), zero_shot)?;
    let mut rng = PyRandom::new(mipro.seed);
    let (train, val) = split(trainset, valset)?;

    // DSPy's `_set_hyperparams_from_run_mode`: `auto` samples the valset
    // with the optimizer's generator (a permutation when it is small).
    let (settings, val) = match mipro.auto {
        Some(mode) => {
            let (num_instruct, num_fewshot, num_trials) = auto_settings(mode, paths.len(), zero_shot);
            let val = rng.sample(&val, mode.val_size().min(val.len()));
            let minibatch = val.len() > MIN_MINIBATCH_SIZE;
            (Settings { num_instruct, num_fewshot, num_trials, minibatch }, val)
        }
        None => {
            let n = mipro.num_candidates.map_or(0, |n| n.get());
            let num_trials = mipro.num_trials.map_or(0, |n| n.get());
            (Settings { num_instruct: n, num_fewshot: n, num_trials, minibatch: mipro.minibatch }, val)
        }
    };
    if settings.minibatch && mipro.minibatch_size.get() > val.len() {
        return Err(OptimizerError::Config(format!(
            "Minibatch size cannot exceed the size of the valset. Valset size: {}.",
            val.len()
        )));
    }

    let (max_boot, max_labeled) = if zero_shot {
        (ZERO_SHOT_BOOTSTRAPPED_DEMOS, 0)
    } else {
        (mipro.max_bootstrapped_demos, mipro.max_labeled_demos)
    };
    let plans = plan_demo_sets(settings.num_fewshot, &train, max_boot, max_labeled, &mut rng)?;
    let search_settings = |search: TrialSearch| {
        search
            .minibatch(settings.minibatch)
            .minibatch_size(mipro.minibatch_size.get())
            .minibatch_full_eval_steps(mipro.minibatch_full_eval_steps.get())
            .seed(mipro.seed)
            .trial_concurrency(mipro.trial_concurrency.get())
    };
    let bootstrapped_sets =
        plans.iter().filter(|p| matches!(p.kind, CandidateKind::Bootstrap | CandidateKind::Shuffled)).count();
    let estimate = CostEstimate::new(
        bootstrapped_sets,
        train.len(),
        settings.num_instruct,
        paths.len(),
        mipro.program_aware_proposer,
        &search_settings(TrialSearch::new(Vec::new(), val.len(), settings.num_trials)),
        (settings.minibatch, mipro.minibatch_size.get(), mipro.minibatch_full_eval_steps.get(), val.len()),
    );
    tracing::info!(target: "kestrel::mipro", "{estimate}");
    if mipro.display_progress {
        eprint!("{estimate}");
    }
    let mut mipro_report = MiproReport {
        auto: mipro.auto,
        zero_shot,
        minibatch: settings.minibatch,
        num_trials: settings.num_trials,
        num_instruct_candidates: settings.num_instruct,
        num_fewshot_candidates: settings.num_fewshot,
        trainset_size: train.len(),
        valset_size: val.len(),
        estimate,
        predictors: paths.clone(),
        demo_sets: plans
            .iter()
            .enumerate()
            .map(|(index, p)| DemoSetInfo {
                index,
                seed: p.seed,
                kind: p.kind,
                max_bootstrapped_demos: p.max_bootstrapped_demos,
            })
            .collect(),
        instruction_candidates: Vec::new(),
        demo_set_candidates: Vec::new(),
        data_summary: None,
        proposer_notes: Vec::new(),
        trials: Vec::new(),
        best_score: None,
        best_trial: None,
        best_params: Vec::new(),
        phases: Vec::new(),
    };
    let budget = Budget {
        limits: BudgetLimits {
            max_lm_calls: mipro.max_lm_calls,
            max_tokens: mipro.max_tokens,
            max_cost_usd: mipro.max_cost_usd,
        },
    };
    let stop_here = |mut report: CompileReport, mipro_report: MiproReport, why: StopReason| {
        report.stopped_early = Some(why);
        report.mipro = Some(Box::new(mipro_report));
        Ok((student.clone(), report))
    };
    if let Some(why) = budget.check(meter, "demo bootstrapping") {
        return stop_here(report, mipro_report, why);
    }

    // Step 1, with the dataset summary (which needs only the trainset and
    // the prompt model) alongside.
    let limiter = Arc::new(Semaphore::new(mipro.concurrency.get()));
    let mut base = BootstrapFewShot::with_shared_metric(Arc::clone(&mipro.metric))
        .max_labeled_demos(max_labeled)
        .max_errors(mipro.max_errors)?
        .with_concurrency(mipro.concurrency)
        .display_progress(false);
    if let Some(threshold) = mipro.metric_threshold {
        base = base.metric_threshold(threshold);
    }
    if let Some(lm) = &mipro.teacher_lm {
        base = base.teacher_lm(lm.clone());
    }
    if let Some(config) = &mipro.teacher_config {
        base = base.teacher_config(config.clone());
    }
    let proposer = proposer(mipro);
    let step1 = in_task_scope(
        mipro.task_model.as_ref(),
        create_demo_sets(&plans, student, teacher, &train, &base, max_labeled, &limiter),
    );
    let summary = async { if mipro.data_aware_proposer { Some(proposer.dataset_summary(&train).await) } else { None } };
    let (demo_sets, summary) =
        if mipro.concurrency.get() == 1 { (step1.await, summary.await) } else { join(step1, summary).await };
    let demo_sets = demo_sets?;
    for child in demo_sets.reports {
        report.teacher_runs += child.teacher_runs;
        report.speculative_runs += child.speculative_runs;
        report.bootstrapped += child.bootstrapped;
        report.skipped.extend(child.skipped.iter().cloned());
        report.children.push(child);
    }
    let summary = match summary {
        Some(Ok(text)) => Some(text),
        Some(Err(e)) => {
            mipro_report.proposer_notes.push(format!("dataset summary failed, proposing without it: {e}"));
            None
        }
        None => None,
    };
    let sets = demo_sets.sets;
    mipro_report.phases.push(clock.lap("demo sets and dataset summary"));
    mipro_report.demo_set_candidates = scored_demo_sets(&sets, &mipro_report.demo_sets, zero_shot, &[]);
    if let Some(why) = budget.check(meter, "instruction proposal") {
        return stop_here(report, mipro_report, why);
    }

    // Step 2: one proposal per predictor and demo set; candidate 0 is the
    // original instruction.
    let proposals =
        proposer.propose_instructions_with_summary(student, &sets, &mut rng, settings.num_instruct, summary).await?;
    let originals: Vec<String> =
        student.predictor_states().into_iter().map(|(_, s)| s.signature.instructions().to_string()).collect();
    let mut instructions = proposals.instructions;
    instructions.resize(paths.len(), Vec::new());
    for (list, original) in instructions.iter_mut().zip(&originals) {
        match list.first_mut() {
            Some(first) => first.clone_from(original),
            None => list.push(original.clone()),
        }
    }
    mipro_report.phases.push(clock.lap("instruction proposal"));
    mipro_report.data_summary = proposals.data_summary;
    mipro_report.proposer_notes.extend(proposals.notes);
    mipro_report.instruction_candidates = scored_instructions(&instructions, &[]);
    if let Some(why) = budget.check(meter, "trials") {
        return stop_here(report, mipro_report, why);
    }

    // Step 3: the search; zero-shot searches instructions only.
    let search_sets: Vec<Vec<Vec<Example>>> = if zero_shot { vec![Vec::new(); paths.len()] } else { sets.clone() };
    let space: Vec<PredictorSpace> = instructions
        .iter()
        .zip(&search_sets)
        .map(|(i, d)| PredictorSpace { instructions: i.len(), demo_sets: d.len() })
        .collect();
    let search = search_settings(TrialSearch::new(space, val.len(), settings.num_trials)).python_rng(rng);
    let progress = Progress::new(search.adjusted_num_trials(), mipro.display_progress, "MIPROv2 trials");
    let full: Arc<[Example]> = val.into();
    let evaluate = |request: TrialRequest| {
        let program = if request.kind == TrialKind::Default {
            Ok(student.clone())
        } else {
            candidate(student, &instructions, &search_sets, &request.params)
        };
        let devset: Arc<[Example]> = match &request.batch {
            EvalBatch::Full => Arc::clone(&full),
            EvalBatch::Minibatch(indices) => indices.iter().filter_map(|&i| full.get(i).cloned()).collect(),
        };
        let limiter = Arc::clone(&limiter);
        let progress = &progress;
        async move {
            let program = program?;
            let evaluate = Evaluate::new(devset)
                .concurrency(mipro.concurrency)?
                .max_errors(mipro.max_errors)?
                .limiter(limiter)
                .display_progress(false);
            let result = evaluate.run(&program, mipro.metric.as_ref()).await?;
            progress.inc();
            // DSPy's Evaluate raises once `max_errors` examples fail, and
            // `eval_candidate_program` scores that evaluation 0.
            Ok(if result.is_complete() { result.score } else { 0.0 })
        }
    };
    let mut stopped: Option<StopReason> = None;
    let mut check_budget = |_: &SearchProgress| {
        let why = budget.check(meter, "trials");
        let text = why.as_ref().map(ToString::to_string);
        if why.is_some() {
            stopped = why;
        }
        text
    };
    let outcome = in_task_scope(mipro.task_model.as_ref(), search.run(evaluate, &mut check_budget)).await?;
    progress.finish();
    mipro_report.phases.push(clock.lap("trials"));

    // The winner, as DSPy's loop picks it: the default program, replaced by
    // any full evaluation (or full-set trial without minibatches) that
    // scores higher.
    let mut best: Option<(usize, f64)> = None;
    for t in &outcome.trials {
        let counts = match t.kind {
            TrialKind::Default => best.is_none(),
            TrialKind::Full => true,
            TrialKind::Minibatch => !settings.minibatch,
        };
        if counts && best.is_none_or(|(_, s)| t.score > s) {
            best = Some((t.number, t.score));
        }
    }
    let program = match best {
        Some((number, _)) if number > 1 => candidate(student, &instructions, &search_sets, &outcome.best_params)?,
        _ => student.clone(),
    };
    mipro_report.instruction_candidates = scored_instructions(&instructions, &outcome.trials);
    mipro_report.demo_set_candidates = scored_demo_sets(&sets, &mipro_report.demo_sets, zero_shot, &outcome.trials);
    mipro_report.best_trial = best.map(|(n, _)| n);
    mipro_report.best_score = outcome.best_score;
    mipro_report.best_params = outcome.best_params;
    report.evaluations = outcome.trials.len();
    mipro_report.trials = outcome.trials;
    report.stopped_early = stopped;
    report.mipro = Some(Box::new(mipro_report));
    Ok((program, report))
}

/// DSPy's checks of `auto`, `num_candidates` and `num_trials` (its
/// `ValueError`s, as configuration errors).
fn check_combination(mipro: &MiproV2, num_predictors: usize, zero_shot: bool) -> Result<(), OptimizerError> {
    match (mipro.auto, mipro.num_candidates, mipro.num_trials) {
        (None, Some(n), None) => Err(OptimizerError::Config(format!(
            "If auto is None, num_trials must also be provided. Given num_candidates={n}, we'd recommend setting \
             num_trials to ~{}.",
            num_trials_for(num_predictors, zero_shot, n.get())
        ))),
        (None, None, _) => Err(OptimizerError::Config("If auto is None, num_candidates must also be provided.".into())),
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(OptimizerError::Config(
            "If auto is not None, num_candidates and num_trials cannot be set, since they would be overridden by the \
             auto settings. Please either set auto to None, or do not specify num_candidates and num_trials."
                .into(),
        )),
        _ => Ok(()),
    }
}

/// DSPy's `_set_and_validate_datasets`: without a valset, the last 80% of
/// the trainset (at most 1000 examples) validates.
fn split(trainset: &[Example], valset: Option<&[Example]>) -> Result<(Vec<Example>, Vec<Example>), OptimizerError> {
    if trainset.is_empty() {
        return Err(OptimizerError::InvalidArgument { name: "trainset", message: "Trainset cannot be empty.".into() });
    }
    match valset {
        Some([]) => Err(OptimizerError::InvalidArgument {
            name: "valset",
            message: "Validation set must have at least 1 example.".into(),
        }),
        Some(valset) => Ok((trainset.to_vec(), valset.to_vec())),
        None if trainset.len() < 2 => Err(OptimizerError::InvalidArgument {
            name: "trainset",
            message: "Trainset must have at least 2 examples if no valset specified.".into(),
        }),
        None => {
            let valset_size = ((trainset.len() as f64 * 0.8) as usize).clamp(1, 1000);
            let cutoff = trainset.len() - valset_size;
            Ok((trainset[..cutoff].to_vec(), trainset[cutoff..].to_vec()))
        }
    }
}

fn proposer(mipro: &MiproV2) -> GroundedProposer {
    let mut proposer = GroundedProposer::new()
        .view_data_batch_size(mipro.view_data_batch_size.get())
        .use_dataset_summary(mipro.data_aware_proposer)
        .program_aware(mipro.program_aware_proposer)
        .use_task_demos(mipro.fewshot_aware_proposer)
        .num_demos_in_context(DEFAULT_NUM_DEMOS_IN_CONTEXT)
        .use_tip(mipro.tip_aware_proposer)
        .init_temperature(mipro.init_temperature)
        .concurrency(mipro.concurrency.get());
    if let Some(lm) = &mipro.prompt_model {
        proposer = proposer.prompt_model(lm.clone());
    }
    if let Some(code) = &mipro.program_code {
        proposer = proposer.program_code(code.clone());
    }
    proposer
}

/// Runs `future` with the task model in scope, if one is set.
async fn in_task_scope<F: Future>(task_model: Option<&SharedLm>, future: F) -> F::Output {
    match task_model {
        Some(lm) => with_lm(lm.clone(), future).await,
        None => future.await,
    }
}

/// The student with each predictor's chosen instruction and demo set (a
/// clone: signatures and demos are shared, not copied deeply).
fn candidate<M: Predictors + Clone>(
    student: &M,
    instructions: &[Vec<String>],
    demo_sets: &[Vec<Vec<Example>>],
    params: &[PredictorChoice],
) -> Result<M, OptimizerError> {
    let mut program = student.clone();
    let mut index = 0;
    let mut outcome = Ok(());
    program.visit_predictors_mut("", &mut |_, p: &mut dyn Predictor| {
        let i = index;
        index += 1;
        let Some(choice) = params.get(i) else { return };
        if let Some(text) = instructions.get(i).and_then(|list| list.get(choice.instruction)) {
            let signature = p.signature().clone().with_instructions(text.clone());
            if let Err(e) = p.set_signature(signature) {
                outcome = Err(e);
            }
        }
        if let Some(demos) = choice.demos.and_then(|d| demo_sets.get(i).and_then(|sets| sets.get(d))) {
            p.set_demos(demos.clone());
        }
    });
    outcome?;
    Ok(program)
}

fn scored_instructions(
    instructions: &[Vec<String>],
    trials: &[super::search::TrialLog],
) -> Vec<Vec<ScoredInstruction>> {
    instructions
        .iter()
        .enumerate()
        .map(|(p, list)| {
            list.iter()
                .enumerate()
                .map(|(index, instruction)| {
                    let (average_score, trials) =
                        average(trials, |t| t.params.get(p).is_some_and(|c| c.instruction == index));
                    ScoredInstruction { index, instruction: instruction.clone(), average_score, trials }
                })
                .collect()
        })
        .collect()
}

fn scored_demo_sets(
    sets: &[Vec<Vec<Example>>],
    info: &[DemoSetInfo],
    zero_shot: bool,
    trials: &[super::search::TrialLog],
) -> Vec<Vec<ScoredDemoSet>> {
    if zero_shot {
        return Vec::new();
    }
    sets.iter()
        .enumerate()
        .map(|(p, list)| {
            list.iter()
                .zip(info)
                .enumerate()
                .map(|(index, (demos, info))| {
                    let (average_score, trials) =
                        average(trials, |t| t.params.get(p).is_some_and(|c| c.demos == Some(index)));
                    ScoredDemoSet {
                        index,
                        seed: info.seed,
                        kind: info.kind,
                        demos: demos.clone(),
                        average_score,
                        trials,
                    }
                })
                .collect()
        })
        .collect()
}
