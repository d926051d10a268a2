//! GEPA's reflective iterations, pipelined. An iteration that adds no
//! candidate leaves the state as it was (only the draws move on), so the
//! parent and minibatch of the next iterations are known in advance under
//! the assumption that none of them adds a candidate. Several iterations
//! are therefore run at once (how many: `engine::window`): each one's
//! rollouts, reflection and child rollouts run concurrently with the
//! others' (every program run and reflection holding one permit of the
//! compile's semaphore, so at most `concurrency` are in flight in all),
//! while everything
//! that must happen in order — the reflective dataset's draws and the
//! round-robin turns (handed from one iteration to the next through a
//! chain of one-shot channels), and the accept / reject decision, applied
//! by the engine in iteration order — happens in order. When an iteration
//! adds a candidate, the later ones (computed on a state that no longer
//! holds) are dropped and the draws are rewound to the snapshots taken
//! right after it, so the accepted candidates are exactly those of the
//! one-at-a-time loop (the LM's replies being the same). With `depth` 1
//! this *is* the one-at-a-time loop.

use kestrel_core::{Example, PyRandom, SignatureSpec};
use kestrel_modules::Module;
use serde_json::Value;
use tokio::sync::oneshot;

use super::Gepa;
use super::config::ComponentSelection;
use super::permits::Permits;
use super::reflective::{propose, reflective_dataset};
use super::rollout::{Rollout, run_batch};
use super::sampler::EpochSampler;
use super::state::Instructions;

/// What the iterations share and never change.
pub(crate) struct Ctx<'a, M> {
    pub gepa: &'a Gepa,
    pub student: &'a M,
    pub trainset: &'a [Example],
    pub names: Vec<String>,
    pub signature: SignatureSpec,
    /// The compile's `concurrency` permits, shared by all its LM work.
    pub permits: &'a Permits,
}

/// The draws that go from one iteration's reflective step to the next:
/// the reflective dataset's generator and every candidate's round-robin
/// turn.
#[derive(Debug, Clone)]
pub(crate) struct Carry {
    pub adapter_rng: PyRandom,
    pub next_component: Vec<usize>,
}

/// One planned iteration: its parent and minibatch, and the engine's draws
/// right after them (to rewind to if it adds a candidate).
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub iteration: i64,
    pub parent: usize,
    pub parent_candidate: Instructions,
    pub ids: Vec<usize>,
    pub rng_after: PyRandom,
    pub sampler_after: EpochSampler,
}

/// How an iteration ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// No proposal (perfect minibatch, no traces, failed reflection...).
    Skipped(String),
    /// A child, run on the same minibatch.
    Proposed { child: Instructions, after: Vec<Rollout> },
}

/// A finished iteration, for the engine to apply in order.
#[derive(Debug)]
pub(crate) struct Done {
    pub plan: Plan,
    pub before: Vec<Rollout>,
    pub outcome: Outcome,
    /// The draws after this iteration's reflective step.
    pub carry: Carry,
}

/// Run `candidate` on the examples `ids` of the trainset.
pub(crate) async fn rollouts<M>(
    ctx: &Ctx<'_, M>,
    candidate: &[String],
    ids: &[usize],
    traces: bool,
    priority: u64,
) -> Vec<Rollout>
where
    M: Module + Clone + 'static,
{
    let batch: Vec<&Example> = ids.iter().map(|&k| &ctx.trainset[k]).collect();
    let program = super::engine::build(ctx.student, &ctx.names, candidate);
    let g = ctx.gepa;
    run_batch(&program, &batch, g.metric.as_ref(), traces, ctx.permits, priority, g.failure_score).await
}

/// The reflective step: skip, or the predictors to change and their
/// datasets (drawing from `carry`).
async fn reflective_step<M>(
    ctx: &Ctx<'_, M>,
    plan: &Plan,
    before: &[Rollout],
    carry: &mut Carry,
) -> Result<Vec<(usize, Vec<Value>)>, String>
where
    M: Module + Clone + 'static,
{
    let parent = plan.parent;
    if before.iter().all(|r| r.trace.is_none()) {
        return Err(format!("no traced runs for candidate #{parent}"));
    }
    if ctx.gepa.skip_perfect_score && before.iter().all(|r| r.score >= ctx.gepa.perfect_score) {
        return Err(format!("all minibatch scores perfect for candidate #{parent}"));
    }
    let n = ctx.names.len();
    let components: Vec<usize> = match ctx.gepa.component_selector {
        ComponentSelection::RoundRobin => {
            let turn = carry.next_component.get(parent).copied().unwrap_or(0);
            if let Some(slot) = carry.next_component.get_mut(parent) {
                *slot = (turn + 1) % n;
            }
            vec![turn]
        }
        ComponentSelection::All => (0..n).collect(),
    };
    let program = super::engine::build(ctx.student, &ctx.names, &plan.parent_candidate);
    let batch: Vec<&Example> = plan.ids.iter().map(|&k| &ctx.trainset[k]).collect();
    let mut datasets = Vec::new();
    for k in components {
        let dataset = reflective_dataset(
            &program,
            &ctx.names[k],
            &batch,
            before,
            ctx.gepa.metric.as_ref(),
            &mut carry.adapter_rng,
        )
        .await
        .map_err(|e| format!("building the reflective dataset failed: {e}"))?;
        if !dataset.is_empty() {
            datasets.push((k, dataset));
        }
    }
    if datasets.is_empty() {
        return Err("no valid predictions found for any predictor".into());
    }
    Ok(datasets)
}

/// Ask for the new instructions (one retry of the whole set, as DSPy).
async fn new_texts<M>(
    ctx: &Ctx<'_, M>,
    parent: &[String],
    datasets: &[(usize, Vec<Value>)],
    priority: u64,
) -> Result<Vec<(usize, String)>, String> {
    let mut last_error = String::new();
    for _ in 0..2 {
        let mut texts = Vec::with_capacity(datasets.len());
        let mut failed = None;
        for (k, dataset) in datasets {
            let _permit = ctx.permits.acquire(priority).await;
            match propose(&ctx.signature, ctx.gepa.reflection_lm.as_ref(), &parent[*k], dataset.clone()).await {
                Ok(text) => texts.push((*k, text)),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        match failed {
            None => return Ok(texts),
            Some(e) => last_error = e,
        }
    }
    Err(format!("reflection failed: {last_error}"))
}

/// One iteration: the parent's rollouts (at once), the reflective step (once
/// the previous iteration has handed over the draws, passed on right
/// after), then the reflection and the child's rollouts.
pub(crate) async fn iteration<M>(
    ctx: &Ctx<'_, M>,
    plan: Plan,
    turn: oneshot::Receiver<Carry>,
    next: oneshot::Sender<Carry>,
) -> Option<Done>
where
    M: Module + Clone + 'static,
{
    // The oldest iteration's calls first: it is the next to be applied.
    let priority = u64::try_from(plan.iteration).unwrap_or(0);
    let before = rollouts(ctx, &plan.parent_candidate, &plan.ids, true, priority).await;
    // The previous iteration is dropped only together with this one.
    let mut carry = turn.await.ok()?;
    let step = reflective_step(ctx, &plan, &before, &mut carry).await;
    let _ = next.send(carry.clone());
    let outcome = match step {
        Err(why) => Outcome::Skipped(why),
        Ok(datasets) => match new_texts(ctx, &plan.parent_candidate, &datasets, priority).await {
            Err(why) => Outcome::Skipped(why),
            Ok(texts) => {
                let mut child = plan.parent_candidate.clone();
                for (k, text) in texts {
                    child[k] = text;
                }
                let after = rollouts(ctx, &child, &plan.ids, true, priority).await;
                Outcome::Proposed { child, after }
            }
        },
    };
    Some(Done { plan, before, outcome, carry })
}
