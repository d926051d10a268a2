//! GEPA's loop (the `gepa` package's `GEPAEngine.run` with
//! `ReflectiveMutationProposer` and `MergeProposer`, as `dspy.GEPA` drives
//! it): seed evaluation, then per iteration a scheduled merge or a
//! reflective step, until the metric-call budget is spent. See the module
//! docs of [`super`]. A spent `kestrel_lm` budget ends the loop with the
//! candidates fully scored so far.

use futures::StreamExt;
use futures::future::{Either, ready, select};
use futures::stream::FuturesOrdered;
use kestrel_core::{Example, PyRandom};
use kestrel_lm::exhausted_in_scope;
use kestrel_modules::{Module, Predictor, Predictors, PredictorsExt};
use tokio::sync::oneshot;

use super::Gepa;
use super::config::CandidateSelection;
use super::merge::{Merger, parent_sums};
use super::pareto::select_from_front;
use super::permits::{Permits, VALIDATION};
use super::pipeline::{Carry, Ctx, Done, Outcome, Plan, iteration};
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

/// An iteration started ahead during a validation run.
struct Guess<F: std::future::Future<Output = Option<Done>>> {
    plan: Plan,
    future: std::pin::Pin<Box<F>>,
    /// Its result, if it finished during the validation run.
    done: Option<Option<Done>>,
    /// The draws it hands to the iteration after it.
    next: oneshot::Receiver<Carry>,
}

/// Iterations to keep in flight: one, plus two per iteration applied since
/// the last accepted candidate (or the start), at most `depth`. Iterations
/// started ahead are dropped when one before them adds a candidate, so an
/// accepted candidate costs at most twice as many dropped iterations as
/// there were iterations that added nothing before it (none for the first
/// proposals, the likeliest to be accepted); a run of rejections (the
/// common case once the instructions are good) soon opens the window to
/// `depth`.
pub(crate) fn window(depth: usize, streak: usize) -> usize {
    streak.saturating_mul(2).saturating_add(1).min(depth).max(1)
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
    permits: &'a Permits,
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
            self.permits,
            VALIDATION,
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

    /// A scheduled merge: `Some(accepted)` when one was tried (the
    /// iteration is over), `None` when none was found (go on with
    /// reflection).
    async fn try_merge(&mut self, state: &mut GepaState, merger: &mut Merger, rng: &mut PyRandom) -> Option<bool> {
        let plan = merger.plan(state, rng)?;
        let all = self.valset;
        let examples: Vec<&Example> = plan.subsample.iter().map(|&k| &all[k]).collect();
        let rollouts = self.evaluate(&plan.candidate, &examples, false, &state.names.clone()).await;
        state.total_evals += rollouts.len();
        let before = parent_sums(state, &plan);
        let after: f64 = scores(&rollouts).iter().sum();
        let best_parent = before[0].max(before[1]);
        let changed = changed(&state.names, &state.candidates[plan.id1], &plan.candidate);
        let accepted = after >= best_parent;
        if accepted {
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
        Some(accepted)
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

    let permits = Permits::new(gepa.concurrency.get());
    let mut run = Run {
        gepa,
        student,
        valset,
        permits: &permits,
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
    let seed_program = build(student, &names, &seed_candidate);
    // The seed's validation run overlaps the first iteration: with one
    // candidate every frontier is {0} and nothing is dominated, so the first
    // parent and minibatch draws do not depend on its scores (the state is
    // rebuilt with them before the first iteration is applied).
    let mut seed_eval =
        Some(run_batch(&seed_program, &all_val, gepa.metric.as_ref(), false, &permits, VALIDATION, gepa.failure_score));
    let mut state = GepaState::new(names.clone(), seed_candidate, vec![gepa.failure_score; valset.len()]);
    let mut merger = Merger::new(gepa.max_merge_invocations);
    let progress = Progress::new(max_metric_calls, gepa.display_progress, "GEPA");

    let m = gepa.reflection_minibatch_size.get();
    // Most iterations in flight: one per permit (one at a time with
    // concurrency 1: DSPy's exact request order).
    let depth = if gepa.speculate { gepa.concurrency.get() } else { 1 };
    // Iterations applied since the last accepted candidate (or the start).
    let mut streak = 0;
    let ctx = Ctx {
        gepa,
        student,
        trainset,
        names: names.clone(),
        signature: propose_instruction_signature()?,
        permits: &permits,
    };
    // The engine's draws (parents, minibatches, merges) and the reflective
    // dataset's, each seeded with `seed`, as DSPy's two generators.
    let mut plan_rng = PyRandom::new(gepa.seed);
    let mut plan_sampler = EpochSampler::new(m);
    let mut carry = Carry { adapter_rng: PyRandom::new(gepa.seed), next_component: state.next_component.clone() };
    let mut in_flight = FuturesOrdered::new();
    let (first_tx, mut chain) = oneshot::channel();
    let _ = first_tx.send(carry.clone());
    let mut next_index = state.i + 1;
    // The iteration guessed during a validation run, and the real plan of
    // the one adopted from it (applied with it).
    let mut guess: Option<Guess<_>> = None;
    let mut adopted: Option<Plan> = None;
    let mut stopped = None;
    loop {
        // Launch iterations that will run whatever the ones before them
        // spend (at most two minibatches each), unless one adds a candidate.
        while in_flight.len() < window(depth, streak) && state.total_evals + in_flight.len() * 2 * m < max_metric_calls
        {
            if in_flight.is_empty() && gepa.use_merge && merger.merges_due > 0 && merger.last_iter_found_new {
                state.i = next_index;
                next_index += 1;
                merger.last_iter_found_new = false;
                if let Some(accepted) = run.try_merge(&mut state, &mut merger, &mut plan_rng).await {
                    streak = if accepted { 0 } else { streak + 1 };
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
            if let Some(g) = guess.take() {
                // The iteration started during the last validation run is
                // this one if it guessed its parent and minibatch right (its
                // draws from the reflective generator and round-robin turns
                // are this one's by construction): adopt it with this plan.
                if g.plan.iteration == plan.iteration && g.plan.parent == plan.parent && g.plan.ids == plan.ids {
                    chain = g.next;
                    adopted = Some(plan);
                    in_flight.push_back(match g.done {
                        Some(done) => Either::Right(ready(done)),
                        None => Either::Left(g.future),
                    });
                    continue;
                }
                run.report.speculative_iterations_dropped += 1;
            }
            let (tx, rx) = oneshot::channel();
            let turn = std::mem::replace(&mut chain, rx);
            in_flight.push_back(Either::Left(Box::pin(iteration(&ctx, plan, turn, tx))));
        }
        let next = match seed_eval.take() {
            Some(seed_eval) => {
                let (seed_rollouts, next) = futures::join!(seed_eval, in_flight.next());
                if let Some(why) = exhausted_in_scope() {
                    // Not even the student could be scored: it is the best so far.
                    let mut report = CompileReport::new("GEPA");
                    report.stopped_early = Some(budget_stop(why, "seed evaluation"));
                    return Ok((student.clone(), report));
                }
                run.count_failures(&seed_rollouts);
                state = GepaState::new(names.clone(), state.candidates[0].clone(), scores(&seed_rollouts));
                next
            }
            None => in_flight.next().await,
        };
        let Some(done) = next else { break };
        let Some(mut done) = done else { break };
        if let Some(plan) = adopted.take_if(|p| p.iteration == done.plan.iteration) {
            // The real draws after it (the guess's were made without the parent draw).
            done.plan = plan;
        }
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
                    // Later iterations were computed on the old state: drop
                    // them now, before they take permits from the validation run.
                    run.report.speculative_iterations_dropped += in_flight.len();
                    in_flight = FuturesOrdered::new();
                    adopted = None;
                    let parent = done.plan.parent;
                    // Guess the next iteration while the child is validated:
                    // the child itself as parent (a new best usually is),
                    // the next minibatch; checked against the real draws
                    // before use, dropped if wrong.
                    if depth > 1 && state.total_evals + valset.len() < max_metric_calls {
                        let mut next_component = state.next_component.clone();
                        next_component.push(next_component.get(parent).copied().unwrap_or(0));
                        let turn_in = Carry { adapter_rng: carry.adapter_rng.clone(), next_component };
                        let (tx, rx) = oneshot::channel();
                        let _ = tx.send(turn_in);
                        let (next_tx, next) = oneshot::channel();
                        let mut rng = done.plan.rng_after.clone();
                        let mut sampler = done.plan.sampler_after.clone();
                        let iteration_index = done.plan.iteration + 1;
                        let ids = sampler.next(trainset.len(), usize::try_from(iteration_index).unwrap_or(0), &mut rng);
                        let plan = Plan {
                            iteration: iteration_index,
                            parent: state.candidates.len(),
                            parent_candidate: child.clone(),
                            ids,
                            rng_after: rng,
                            sampler_after: sampler,
                        };
                        let future = Box::pin(iteration(&ctx, plan.clone(), rx, next_tx));
                        guess = Some(Guess { plan, future, done: None, next });
                    }
                    let mut eval = Box::pin(run.full_eval_and_add(
                        &mut state,
                        child,
                        vec![parent],
                        GepaOrigin::Reflection,
                        (before_sum, after_sum),
                    ));
                    if let Some(g) = guess.as_mut() {
                        if let Either::Right((out, _)) = select(eval.as_mut(), g.future.as_mut()).await {
                            g.done = Some(out);
                            eval.await;
                        }
                    } else {
                        eval.await;
                    }
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
        streak = if accepted { 0 } else { streak + 1 };
        if accepted {
            // Later iterations were computed on the old state: drop them and
            // rewind the draws to just after this one.
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
    run.report.speculative_iterations_dropped += in_flight.len() + usize::from(guess.is_some());
    drop(in_flight);
    drop(guess);
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

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn the_window_opens_by_two_per_iteration_that_added_nothing() {
        assert_eq!((0..10).map(|streak| window(16, streak)).collect::<Vec<_>>(), [1, 3, 5, 7, 9, 11, 13, 15, 16, 16]);
        // One at a time without speculation (depth 1), whatever the streak.
        assert_eq!(window(1, 7), 1);
        assert_eq!(window(4, usize::MAX), 4);
    }
}
