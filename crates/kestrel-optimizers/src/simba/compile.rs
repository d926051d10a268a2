//! SIMBA's loop (DSPy 3.4.1's `SIMBA.compile`): steps of trajectory
//! sampling, bucketing, candidate building and minibatch scoring, then the
//! final choice among the winners on the full trainset; a budget stops it
//! between phases with the best program so far (`stopped`).

use std::collections::HashMap;

use kestrel_core::{Example, PredictorId, PyRandom};
use kestrel_lm::{CallConfig, exhausted_in_scope};
use kestrel_modules::{Module, Predictor, Predictors};

use super::Simba;
use super::numpy_random::NumpyGenerator;
use super::report::{SimbaCandidate, SimbaFailure, SimbaFinalCandidate, SimbaReport, SimbaStep, SimbaStrategy};
use super::rollout::{Outcome, Sampling, rollout, run_ordered};
use super::sampling::{average, final_indices, percentile, softmax_sample, top_k_plus_baseline};
use super::strategies::{StrategyContext, append_a_demo, append_a_rule};
use crate::bootstrap::predictor_paths_by_id;
use crate::budget_stop::budget_stop;
use crate::error::OptimizerError;
use crate::mipro::default_program_code;
use crate::report::{CompileReport, StopReason};

/// The program pool: programs by index (DSPy's `simba_idx`) and the
/// minibatch scores each was registered with.
struct Pool<M> {
    programs: Vec<M>,
    scores: Vec<Vec<f64>>,
}

/// The random draws for one bucket's candidate, and the generators' state
/// after them (to rewind to when DSPy's loop would have stopped there).
struct Decision {
    bucket: usize,
    source: usize,
    drop: Vec<usize>,
    strategy: SimbaStrategy,
    after: (PyRandom, NumpyGenerator),
}

/// DSPy's `prepare_models_for_resampling`: the teacher first (rollout id
/// 0, its own temperature) when given, then copies of the task LM with
/// rollout ids counting on, at temperature 1.0.
fn samplings(simba: &Simba) -> Vec<Sampling> {
    let n = simba.num_candidates.get();
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    if let Some(teacher) = &simba.teacher_settings {
        out.push(Sampling {
            lm: Some(teacher.clone()),
            config: CallConfig { rollout_id: Some(0), ..CallConfig::default() },
        });
        start = 1;
    }
    for r in start..n {
        let config = CallConfig { rollout_id: Some(r as u64), temperature: Some(1.0), ..CallConfig::default() };
        out.push(Sampling { lm: None, config });
    }
    out
}

/// Drop the demos at `drop` (indices) from every predictor.
fn drop_demos<M: Predictors>(program: &mut M, drop: &[usize]) {
    if drop.is_empty() {
        return;
    }
    program.visit_predictors_mut("", &mut |_, p: &mut dyn Predictor| {
        let kept = p.demos().iter().enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, d)| d.clone()).collect();
        p.set_demos(kept);
    });
}

fn max_demo_count<M: Predictors>(program: &M) -> usize {
    let mut most = 0;
    program.visit_predictors("", &mut |_, p| most = most.max(p.demos().len()));
    most
}

pub(super) async fn run<M>(
    simba: &Simba,
    student: &M,
    trainset: &[Example],
) -> Result<(M, CompileReport), OptimizerError>
where
    M: Module + Clone + 'static,
{
    let paths: HashMap<PredictorId, String> = predictor_paths_by_id(student)?;
    let program_code = simba.program_code.clone().unwrap_or_else(|| default_program_code(student));
    let metric = simba.metric.as_ref();
    let concurrency = simba.concurrency.get();
    let (bsize, num_candidates) = (simba.bsize.get(), simba.num_candidates.get());
    let strategies: &[SimbaStrategy] = if simba.max_demos > 0 {
        &[SimbaStrategy::AppendADemo, SimbaStrategy::AppendARule]
    } else {
        &[SimbaStrategy::AppendARule]
    };
    let max_demos_tmp = if simba.max_demos > 0 { simba.max_demos } else { 3 };

    let mut rng = PyRandom::new(simba.seed);
    let mut rng_np = NumpyGenerator::new(simba.seed);
    let mut pool = Pool { programs: vec![student.clone()], scores: vec![Vec::new()] };
    let mut winners: Vec<usize> = vec![0];
    let mut simba_report = SimbaReport { seed: simba.seed, ..SimbaReport::default() };

    let plain = Sampling::default();
    let mut data: Vec<usize> = (0..trainset.len()).collect();
    rng.shuffle(&mut data);
    let mut instance = 0;

    for step in 0..simba.max_steps {
        // A budget spent (`kestrel_lm::with_budget`) ends the steps; a step
        // it cut short is discarded.
        let spent = |phase: &str| exhausted_in_scope().map(|why| budget_stop(why, &format!("step {step}: {phase}")));
        // STEP 1: the next minibatch.
        if instance + bsize > trainset.len() {
            rng.shuffle(&mut data);
            instance = 0;
        }
        let batch_indices: Vec<usize> = data[instance..instance + bsize].to_vec();
        let batch: Vec<Example> = batch_indices.iter().map(|&i| trainset[i].clone()).collect();
        instance += bsize;

        // STEP 2: trajectories, sampling setting-major.
        let settings = samplings(simba);
        let top = top_k_plus_baseline(&pool.scores, num_candidates);
        let mut pairs = Vec::with_capacity(settings.len() * bsize);
        for s in 0..settings.len() {
            for e in 0..bsize {
                let chosen = softmax_sample(&mut rng, &pool.scores, &top, simba.temperature_for_sampling).unwrap_or(0);
                pairs.push((chosen, s, e));
            }
        }
        let outputs: Vec<Outcome> = run_ordered(pairs.len(), concurrency, |i| {
            let (program, s, e) = pairs[i];
            rollout(&pool.programs[program], &batch[e], e, &settings[s], metric)
        })
        .await;
        if let Some(stop) = spent("trajectories") {
            return Ok(stopped(student, pool, simba_report, stop));
        }
        simba_report.failed_runs += outputs.iter().filter(|o| o.error.is_some()).count();

        // STEP 3: buckets by (max-min gap, max, max-avg gap), descending.
        let all: Vec<f64> = outputs.iter().map(|o| o.score).collect();
        let (p10, p90) = (percentile(&all, 10.0), percentile(&all, 90.0));
        let mut buckets: Vec<(Vec<Outcome>, [f64; 3])> = (0..bsize)
            .map(|e| {
                let mut bucket: Vec<Outcome> = outputs.iter().skip(e).step_by(bsize).cloned().collect();
                bucket.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal));
                let max = bucket.first().map_or(0.0, |o| o.score);
                let min = bucket.last().map_or(0.0, |o| o.score);
                let avg = bucket.iter().map(|o| o.score).sum::<f64>() / bucket.len().max(1) as f64;
                (bucket, [max - min, max, max - avg])
            })
            .collect();
        buckets.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        let baseline_score = average(&all);

        // STEP 4: candidates from the top buckets. The draws are made in
        // bucket order; the strategies of a wave run concurrently.
        let sources = top_k_plus_baseline(&pool.scores, num_candidates);
        let ctx = StrategyContext {
            paths: &paths,
            p10,
            p90,
            batch: &batch,
            prompt_model: simba.prompt_model.as_ref(),
            program_code: &program_code,
            demo_input_field_maxlen: simba.demo_input_field_maxlen,
        };
        let need = num_candidates + 1;
        let mut made: Vec<(M, SimbaCandidate)> = Vec::new();
        let mut failures = Vec::new();
        let mut next_bucket = 0;
        while made.len() < need && next_bucket < buckets.len() {
            let wave_end = (next_bucket + need - made.len()).min(buckets.len());
            let mut decisions = Vec::with_capacity(wave_end - next_bucket);
            for bucket in next_bucket..wave_end {
                let source =
                    softmax_sample(&mut rng, &pool.scores, &sources, simba.temperature_for_candidates).unwrap_or(0);
                let num_demos = max_demo_count(&pool.programs[source]);
                let drawn = rng_np.poisson(num_demos as f64 / max_demos_tmp as f64);
                let count = drawn.max(usize::from(num_demos >= max_demos_tmp)).min(num_demos);
                let drop: Vec<usize> = (0..count).map(|_| rng.randbelow(num_demos)).collect();
                let strategy = *rng.choice(strategies).unwrap_or(&SimbaStrategy::AppendARule);
                decisions.push(Decision { bucket, source, drop, strategy, after: (rng.clone(), rng_np.clone()) });
            }
            next_bucket = wave_end;
            let results = futures::future::join_all(decisions.iter().map(|d| {
                let mut candidate = pool.programs[d.source].clone();
                drop_demos(&mut candidate, &d.drop);
                let bucket = &buckets[d.bucket].0;
                let ctx = &ctx;
                async move {
                    let applied = match d.strategy {
                        SimbaStrategy::AppendADemo => Ok(append_a_demo(bucket, &mut candidate, ctx)),
                        SimbaStrategy::AppendARule => append_a_rule(bucket, &mut candidate, ctx).await,
                    };
                    applied.map(|applied| (candidate, applied))
                }
            }))
            .await;
            for (d, result) in decisions.into_iter().zip(results) {
                match result {
                    Ok((candidate, applied)) => {
                        let info = SimbaCandidate {
                            program: 0,
                            source: d.source,
                            strategy: d.strategy,
                            applied,
                            dropped_demos: d.drop.len(),
                            score: 0.0,
                        };
                        made.push((candidate, info));
                    }
                    Err(error) => failures.push(SimbaFailure { strategy: d.strategy, error }),
                }
                if made.len() >= need {
                    // DSPy's loop stops here: later draws never happened.
                    (rng, rng_np) = d.after;
                    break;
                }
            }
        }

        // STEP 5-6: candidates on the minibatch, candidate-major.
        let outputs: Vec<Outcome> = run_ordered(made.len() * bsize, concurrency, |i| {
            let (c, e) = (i / bsize, i % bsize);
            rollout(&made[c].0, &batch[e], e, &plain, metric)
        })
        .await;
        if let Some(stop) = spent("candidates") {
            return Ok(stopped(student, pool, simba_report, stop));
        }
        simba_report.failed_runs += outputs.iter().filter(|o| o.error.is_some()).count();
        let candidate_scores: Vec<Vec<f64>> =
            outputs.chunks(bsize).map(|chunk| chunk.iter().map(|o| o.score).collect()).collect();

        // STEP 7-8: the first best is the step's winner; all join the pool.
        let mut best: Option<(usize, f64)> = None;
        let mut candidates = Vec::with_capacity(made.len());
        for (c, ((program, mut info), scores)) in made.into_iter().zip(candidate_scores).enumerate() {
            info.score = average(&scores);
            info.program = pool.programs.len();
            if best.is_none_or(|(_, b)| info.score > b) {
                best = Some((c, info.score));
            }
            pool.programs.push(program);
            pool.scores.push(scores);
            candidates.push(info);
        }
        let winner = best.map(|(c, _)| candidates[c].program);
        winners.extend(winner);
        simba_report.steps.push(SimbaStep {
            batch: batch_indices,
            baseline_score,
            candidates,
            failures,
            winner,
            train_score: None,
        });
    }

    // The final choice: evenly spaced winners on the full trainset.
    let chosen: Vec<usize> = final_indices(winners.len() - 1, num_candidates).into_iter().map(|i| winners[i]).collect();
    let n = trainset.len();
    let outputs: Vec<Outcome> = run_ordered(chosen.len() * n, concurrency, |i| {
        let (p, e) = (i / n, i % n);
        rollout(&pool.programs[chosen[p]], &trainset[e], e, &plain, metric)
    })
    .await;
    if let Some(why) = exhausted_in_scope() {
        return Ok(stopped(student, pool, simba_report, budget_stop(why, "final evaluation")));
    }
    simba_report.failed_runs += outputs.iter().filter(|o| o.error.is_some()).count();
    let mut finals: Vec<SimbaFinalCandidate> = Vec::with_capacity(chosen.len());
    for (k, chunk) in outputs.chunks(n.max(1)).enumerate() {
        let score = average(&chunk.iter().map(|o| o.score).collect::<Vec<_>>());
        if k > 0 {
            if let Some(step) = simba_report.steps.get_mut(k - 1) {
                step.train_score = Some(score);
            }
        }
        finals.push(SimbaFinalCandidate { program: chosen[k], score });
    }
    let mut best_k = 0;
    for (k, c) in finals.iter().enumerate() {
        if c.score > finals[best_k].score {
            best_k = k;
        }
    }
    let best_program = finals.get(best_k).map_or(0, |c| c.program);
    finals.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal));
    simba_report.final_candidates = finals;
    simba_report.best_program = best_program;

    let mut report = CompileReport::new("SIMBA");
    report.evaluations = simba_report.final_candidates.len();
    report.simba = Some(Box::new(simba_report));
    let program = pool.programs.swap_remove(best_program);
    Ok((program, report))
}

/// The best program so far when a budget stops SIMBA before its final
/// full-trainset choice: the winner of the latest finished step that scored
/// at least that step's baseline on its minibatch (no program has a
/// full-trainset score yet), else the student unchanged.
fn stopped<M: Clone>(
    student: &M,
    pool: Pool<M>,
    mut simba_report: SimbaReport,
    stop: StopReason,
) -> (M, CompileReport) {
    let latest = simba_report.steps.iter().rev().find_map(|step| {
        let winner = step.winner?;
        let score = step.candidates.iter().find(|c| c.program == winner)?.score;
        (score >= step.baseline_score).then_some(winner)
    });
    let program = latest.and_then(|w| pool.programs.get(w).cloned()).unwrap_or_else(|| student.clone());
    simba_report.best_program = latest.unwrap_or(0);
    let mut report = CompileReport::new("SIMBA");
    report.stopped_early = Some(stop);
    report.simba = Some(Box::new(simba_report));
    (program, report)
}
