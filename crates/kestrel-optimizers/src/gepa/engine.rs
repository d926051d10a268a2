//! GEPA's loop (the `gepa` package's `GEPAEngine.run` with
//! `ReflectiveMutationProposer` and `MergeProposer`, as `dspy.GEPA` drives
//! it): seed evaluation, then per iteration a scheduled merge or a
//! reflective step, until the metric-call budget is spent. See the module
//! docs of [`super`]. A spent `kestrel_lm` budget ends the loop with the
//! candidates fully scored so far.

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use kestrel_core::{Example, PyRandom};
use kestrel_lm::exhausted_in_scope;
use kestrel_modules::{Module, Predictor, Predictors, PredictorsExt};
use tokio::sync::oneshot;

use super::Gepa;
use super::config::CandidateSelection;
use super::merge::{Merger, parent_sums};
use super::pareto::select_from_front;
use super::pipeline::{Carry, Ctx, Outcome, Plan, iteration};
use super::reflective::propose_instruction_signature;
use super::report::{GepaCandidate, GepaOrigin, GepaRejected, GepaReport};
use super::rollout::{Rollout, run_batch, scores};
use super::sampler::EpochSampler;
use super::state::{GepaState, Instructions};
use crate::budget_stop::budget_stop;
use crate::error::OptimizerError;
use crate::progress::Progress;
use crate::report::CompileReport;

/// The student with each predictor's instruction replaced (DSPy's
/// `build_program`).
pub(crate) fn build<M: Predictors + Clone>(student: &M, names: &[String], instructions: &[String]) -> M {
    let mut program = student.clone();
    program.visit_predictors_mut("", &mut |path, p: &mut dyn Predictor| {
        if let Some(k) = names.iter().position(|n| n == path) {
            if p.signature().instructions() != instructions[k] {
                p.set_instructions(instructions[k].clone());
            }
        }
    });
    program
}

/// Paths of the predictors whose instruction differs between two candidates.
fn changed(names: &[String], before: &[String], after: &[String]) -> Vec<String> {
    names.iter().zip(before.iter().zip(after)).filter(|(_, (b, a))| b != a).map(|(n, _)| n.clone()).collect()
}

/// Everything the loop carries besides the state.
struct Run<'a, M> {
    gepa: &'a Gepa,
    student: &'a M,
    valset: &'a [Example],
    report: GepaReport,
    minibatch: Vec<(Option<f64>, Option<f64>)>,
    origins: Vec<(GepaOrigin, usize)>,
}

impl<M: Module + Clone + 'static> Run<'_, M> {
    async fn evaluate(
        &mut self,
        candidate: &[String],
        examples: &[&Example],
        traces: bool,
        names: &[String],
    ) -> Vec<Rollout> {
        let program = build(self.student, names, candidate);
        let rollouts = run_batch(
            &program,
            examples,
            self.gepa.metric.as_ref(),
            traces,
            self.gepa.concurrency.get(),
            self.gepa.failure_score,
        )
        .await;
        self.count_failures(&rollouts);
        rollouts
    }

    /// Count the failed runs of a batch in the report.
    fn count_failures(&mut self, rollouts: &[Rollout]) {
        for r in rollouts {
            if let Some(error) = &r.error {
                self.report.failed_runs += 1;
                if self.report.first_error.is_none() {
                    self.report.first_error = Some(error.clone());
                }
            }
        }
    }

    async fn full_eval_and_add(
        &mut self,
        state: &mut GepaState,
        candidate: Instructions,
        parents: Vec<usize>,
        origin: GepaOrigin,
        minibatch: (f64, f64),
    ) -> Option<usize> {
        let all = self.valset;
        let valset: Vec<&Example> = all.iter().collect();
        let rollouts = self.evaluate(&candidate, &valset, false, &state.names.clone()).await;
        if exhausted_in_scope().is_some() {
            // Cut short by a budget: its scores are not comparable.
            return None;
        }
        let discovered = state.total_evals;
        state.total_evals += rollouts.len();
        state.full_evals += 1;
        let index = state.add(candidate, parents, scores(&rollouts), discovered);
        self.minibatch.push((Some(minibatch.0), Some(minibatch.1)));
        self.origins.push((origin, usize::try_from(state.i + 1).unwrap_or(0)));
        Some(index)
    }

    fn skip(&mut self, state: &GepaState, why: impl Into<String>) {
        self.report.skipped.push((usize::try_from(state.i + 1).unwrap_or(0), why.into()));
    }

    /// A scheduled merge: `Some(())` when one was tried (the iteration is
    /// over), `None` when none was found (go on with reflection).
    async fn try_merge(&mut self, state: &mut GepaState, merger: &mut Merger, rng: &mut PyRandom) -> Option<()> {
        let plan = merger.plan(state, rng)?;
        let all = self.valset;
        let examples: Vec<&Example> = plan.subsample.iter().map(|&k| &all[k]).collect();
        let rollouts = self.evaluate(&plan.candidate, &examples, false, &state.names.clone()).await;
        state.total_evals += rollouts.len();
        let before = parent_sums(state, &plan);
        let after: f64 = scores(&rollouts).iter().sum();
        let best_parent = before[0].max(before[1]);
        let changed = changed(&state.names, &state.candidates[plan.id1], &plan.candidate);
        if after >= best_parent {
            self.full_eval_and_add(
                state,
                plan.candidate,
                vec![plan.id1, plan.id2],
                GepaOrigin::Merge,
                (best_parent, after),
            )
            .await;
            merger.merges_due = merger.merges_due.saturating_sub(1);
            merger.total_tested += 1;
        } else {
            self.report.rejected.push(GepaRejected {
                iteration: usize::try_from(state.i + 1).unwrap_or(0),
                parents: vec![plan.id1, plan.id2],
                origin: GepaOrigin::Merge,
                changed,
                minibatch_before: best_parent,
                minibatch_after: after,
            });
        }
        Some(())
    }
}

/// Run GEPA on `student`.
pub(super) async fn run<M>(
    gepa: &Gepa,
    student: &M,
    trainset: &[Example],
    valset: Option<&[Example]>,
) -> Result<(M, CompileReport), OptimizerError>
where
    M: Module + Clone + 'static,
{
    let budget = gepa.get_budget()?;
    if trainset.is_empty() {
        return Err(OptimizerError::Config("GEPA needs a non-empty trainset".into()));
    }
    let names = student.predictor_paths();
    if names.is_empty() {
        return Err(OptimizerError::Config("the program has no predictors to optimize".into()));
    }
    let valset = valset.filter(|v| !v.is_empty());
    let max_metric_calls = budget.metric_calls(names.len(), trainset.len(), valset.map(<[Example]>::len));
    let valset = valset.unwrap_or(trainset);
    let seed_candidate: Instructions = {
        let mut out = Vec::with_capacity(names.len());
        student.visit_predictors("", &mut |_, p| out.push(p.signature().instructions().to_string()));
        out
    };

    let mut run = Run {
        gepa,
        student,
        valset,
        report: GepaReport {
            budget,
            max_metric_calls,
            total_metric_calls: 0,
            num_full_val_evals: 0,
            iterations: 0,
            seed: gepa.seed,
            candidate_selection: gepa.candidate_selection_strategy,
            component_selector: gepa.component_selector,
            candidates: Vec::new(),
            rejected: Vec::new(),
            skipped: Vec::new(),
            failed_runs: 0,
            speculative_iterations_dropped: 0,
            first_error: None,
            best_idx: 0,
            pareto_front: Vec::new(),
            per_val_instance_best_candidates: Vec::new(),
        },
        minibatch: vec![(None, None)],
        origins: vec![(GepaOrigin::Seed, 0)],
    };
    let all_val: Vec<&Example> = valset.iter().collect();
    let seed_rollouts = run.evaluate(&seed_candidate, &all_val, false, &names).await;
    if let Some(why) = exhausted_in_scope() {
        // Not even the student could be scored: it is the best so far.
        let mut report = CompileReport::new("GEPA");
        report.stopped_early = Some(budget_stop(why, "seed evaluation"));
        return Ok((student.clone(), report));
    }
    let mut state = GepaState::new(names.clone(), seed_candidate, scores(&seed_rollouts));
    let mut merger = Merger::new(gepa.max_merge_invocations);
    let progress = Progress::new(max_metric_calls, gepa.display_progress, "GEPA");

    let m = gepa.reflection_minibatch_size.get();
    // Iterations in flight: as many minibatches as the concurrency holds
    // (one at a time with concurrency 1: DSPy's exact request order).
    let depth = if gepa.speculate { (gepa.concurrency.get() / m).max(1) } else { 1 };
    let ctx = Ctx { gepa, student, trainset, names: names.clone(), signature: propose_instruction_signature()? };
    // The engine's draws (parents, minibatches, merges) and the reflective
    // dataset's, each seeded with `seed`, as DSPy's two generators.
    let mut plan_rng = PyRandom::new(gepa.seed);
    let mut plan_sampler = EpochSampler::new(m);
    let mut carry = Carry { adapter_rng: PyRandom::new(gepa.seed), next_component: state.next_component.clone() };
    let mut in_flight = FuturesOrdered::new();
    let (first_tx, mut chain) = oneshot::channel();
    let _ = first_tx.send(carry.clone());
    let mut next_index = state.i + 1;
    let mut stopped = None;
    loop {
        // Launch iterations that will run whatever the ones before them
        // spend (at most two minibatches each), unless one adds a candidate.
        while in_flight.len() < depth && state.total_evals + in_flight.len() * 2 * m < max_metric_calls {
            if in_flight.is_empty() && gepa.use_merge && merger.merges_due > 0 && merger.last_iter_found_new {
                state.i = next_index;
                next_index += 1;
                merger.last_iter_found_new = false;
                if run.try_merge(&mut state, &mut merger, &mut plan_rng).await.is_some() {
                    continue;
                }
                // No merge: this iteration is a reflective one.
                next_index -= 1;
            }
            let averages = state.averages();
            let parent = match gepa.candidate_selection_strategy {
                CandidateSelection::Pareto => {
                    select_from_front(&state.fronts, &averages, &mut plan_rng).unwrap_or_else(|| state.best())
                }
                CandidateSelection::CurrentBest => state.best(),
            };
            let ids = plan_sampler.next(trainset.len(), usize::try_from(next_index).unwrap_or(0), &mut plan_rng);
            let plan = Plan {
                iteration: next_index,
                parent,
                parent_candidate: state.candidates[parent].clone(),
                ids,
                rng_after: plan_rng.clone(),
                sampler_after: plan_sampler.clone(),
            };
            next_index += 1;
            let (tx, rx) = oneshot::channel();
            let turn = std::mem::replace(&mut chain, rx);
            in_flight.push_back(iteration(&ctx, plan, turn, tx));
        }
        let Some(done) = in_flight.next().await else { break };
        let Some(done) = done else { break };
        if let Some(why) = exhausted_in_scope() {
            // This iteration (or one before it) was cut short by a budget:
            // keep the candidates scored so far.
            stopped = Some(budget_stop(why, &format!("iteration {}", done.plan.iteration + 1)));
            break;
        }
        if state.total_evals >= max_metric_calls {
            break;
        }
        state.i = done.plan.iteration;
        merger.last_iter_found_new = false;
        state.total_evals += done.before.len();
        run.count_failures(&done.before);
        carry = done.carry;
        let accepted = match done.outcome {
            Outcome::Skipped(why) => {
                run.skip(&state, why);
                false
            }
            Outcome::Proposed { child, after } => {
                state.total_evals += after.len();
                run.count_failures(&after);
                let before_sum: f64 = scores(&done.before).iter().sum();
                let after_sum: f64 = scores(&after).iter().sum();
                if after_sum > before_sum {
                    state.next_component = carry.next_component.clone();
                    let parents = vec![done.plan.parent];
                    run.full_eval_and_add(&mut state, child, parents, GepaOrigin::Reflection, (before_sum, after_sum))
                        .await;
                    true
                } else {
                    run.report.rejected.push(GepaRejected {
                        iteration: usize::try_from(state.i + 1).unwrap_or(0),
                        parents: vec![done.plan.parent],
                        origin: GepaOrigin::Reflection,
                        changed: changed(&names, &done.plan.parent_candidate, &child),
                        minibatch_before: before_sum,
                        minibatch_after: after_sum,
                    });
                    false
                }
            }
        };
        if accepted {
            // Later iterations were computed on the old state: drop them and
            // rewind the draws to just after this one.
            run.report.speculative_iterations_dropped += in_flight.len();
            in_flight = FuturesOrdered::new();
            plan_rng = done.plan.rng_after;
            plan_sampler = done.plan.sampler_after;
            carry.next_component = state.next_component.clone();
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(carry.clone());
            chain = rx;
            next_index = state.i + 1;
            if gepa.use_merge {
                merger.found_new_program();
            }
        } else {
            state.next_component = carry.next_component.clone();
        }
        progress.message(format!(
            "{}/{} metric calls, {} candidates",
            state.total_evals,
            max_metric_calls,
            state.candidates.len()
        ));
    }
    run.report.speculative_iterations_dropped += in_flight.len();
    drop(in_flight);
    progress.finish();

    let best = state.best();
    let program = build(student, &names, &state.candidates[best]);
    let averages = state.averages();
    let mut report = run.report;
    report.total_metric_calls = state.total_evals;
    report.num_full_val_evals = state.full_evals;
    report.iterations = usize::try_from(state.i + 1).unwrap_or(0);
    report.best_idx = best;
    report.pareto_front = state.front_scores.clone();
    report.per_val_instance_best_candidates = state.fronts.iter().map(|f| f.iter().copied().collect()).collect();
    report.candidates = (0..state.candidates.len())
        .map(|k| {
            let parents = state.parents[k].clone();
            let first = parents.first().map_or(&state.candidates[k], |&p| &state.candidates[p]);
            let (origin, iteration) = run.origins[k];
            GepaCandidate {
                index: k,
                changed: changed(&names, first, &state.candidates[k]),
                instructions: names.iter().cloned().zip(state.candidates[k].iter().cloned()).collect(),
                parents,
                origin,
                iteration,
                minibatch_before: run.minibatch[k].0,
                minibatch_after: run.minibatch[k].1,
                val_score: averages[k],
                val_subscores: if gepa.track_stats { state.val_scores[k].clone() } else { Vec::new() },
                discovered_at_metric_calls: state.discovered_at[k],
            }
        })
        .collect();
    let mut compile_report = CompileReport::new("GEPA");
    compile_report.evaluations = state.full_evals;
    compile_report.stopped_early = stopped;
    compile_report.gepa = Some(Box::new(report));
    Ok((program, compile_report))
}
