//! MIPROv2's step 1, demo-set candidates: DSPy 3.4.1's
//! `create_n_fewshot_demo_sets` (the random-search recipe). Set 0 is
//! zero-shot, set 1 labeled demos only, set 2 an unshuffled bootstrap, every
//! further set a bootstrap on the trainset shuffled by the optimizer's
//! generator with a demo count drawn from it.
//!
//! Every draw on the ONE shared generator is made first, in DSPy's order
//! (per shuffled set: `rng.shuffle(trainset_copy)` then
//! `rng.randint(1, max_bootstrapped_demos)`); then the bootstraps run
//! concurrently under one shared limit on program calls in flight. Each
//! bootstrap is a [`BootstrapFewShot`] (its labeled fill uses its own
//! `Random(0)`, as DSPy's), so the sets do not depend on timing.

use std::sync::Arc;

use futures::future::try_join_all;
use kestrel_core::{Example, PyRandom};
use kestrel_modules::{Module, PredictorsExt};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::bootstrap::BootstrapFewShot;
use crate::error::OptimizerError;
use crate::labeled::LabeledFewShot;
use crate::optimizer::reset_copy;
use crate::report::{CandidateKind, CompileReport};

/// How one demo set is made, with its draws already taken.
#[derive(Debug, Clone)]
pub(crate) struct DemoSetPlan {
    /// DSPy's loop variable (`-3..num_sets - 3`).
    pub seed: i64,
    pub kind: CandidateKind,
    /// Bootstrapped demos asked for (`max_bootstrapped_demos`, or the drawn
    /// size of a shuffled set; 0 for zero-shot and labeled sets).
    pub max_bootstrapped_demos: usize,
    /// The shuffled trainset of a shuffled set.
    pub trainset: Option<Vec<Example>>,
}

/// One demo set as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoSetInfo {
    /// The set's index (the search's demo-set choice).
    pub index: usize,
    /// DSPy's loop seed (`-3` zero-shot, `-2` labeled, `-1` unshuffled, `0..`).
    pub seed: i64,
    /// How it was made.
    pub kind: CandidateKind,
    /// Bootstrapped demos asked for (the drawn size of a shuffled set).
    pub max_bootstrapped_demos: usize,
}

/// Plans `num_sets` sets, drawing on `rng` in DSPy's order.
///
/// `max_labeled_demos == 0` turns DSPy's labeled set (`seed == -2`) into a
/// shuffled bootstrap, as DSPy's `if/elif` chain does.
pub(crate) fn plan_demo_sets(
    num_sets: usize,
    trainset: &[Example],
    max_bootstrapped_demos: usize,
    max_labeled_demos: usize,
    rng: &mut PyRandom,
) -> Result<Vec<DemoSetPlan>, OptimizerError> {
    let mut plans = Vec::with_capacity(num_sets);
    for i in 0..num_sets {
        let seed = i as i64 - 3;
        let plan = match seed {
            -3 => DemoSetPlan { seed, kind: CandidateKind::ZeroShot, max_bootstrapped_demos: 0, trainset: None },
            -2 if max_labeled_demos > 0 => {
                DemoSetPlan { seed, kind: CandidateKind::Labeled, max_bootstrapped_demos: 0, trainset: None }
            }
            -1 => DemoSetPlan { seed, kind: CandidateKind::Bootstrap, max_bootstrapped_demos, trainset: None },
            _ => {
                if max_bootstrapped_demos == 0 {
                    return Err(OptimizerError::InvalidArgument {
                        name: "max_bootstrapped_demos",
                        message: "must be at least 1 when labeled demos are used and shuffled demo sets are made \
                                  (DSPy draws their size with randint(1, max_bootstrapped_demos))"
                            .into(),
                    });
                }
                let mut shuffled = trainset.to_vec();
                rng.shuffle(&mut shuffled);
                let size = rng.randint(1, max_bootstrapped_demos);
                DemoSetPlan {
                    seed,
                    kind: CandidateKind::Shuffled,
                    max_bootstrapped_demos: size,
                    trainset: Some(shuffled),
                }
            }
        };
        plans.push(plan);
    }
    Ok(plans)
}

/// The demo sets per predictor (`sets[predictor][set]`) and the bootstraps'
/// reports, in set order.
pub(crate) struct DemoSets {
    pub sets: Vec<Vec<Vec<Example>>>,
    pub reports: Vec<CompileReport>,
}

/// Builds every planned set; the bootstraps run at once, each limited by
/// `limiter` (shared with nothing else while they run). With a limit of one
/// call they run one after the other, in DSPy's request order.
pub(crate) async fn create_demo_sets<'a, M>(
    plans: &'a [DemoSetPlan],
    student: &'a M,
    teacher: Option<&'a M>,
    trainset: &'a [Example],
    base: &BootstrapFewShot,
    max_labeled_demos: usize,
    limiter: &Arc<Semaphore>,
) -> Result<DemoSets, OptimizerError>
where
    M: Module + Clone + 'static,
{
    let build = |plan: &'a DemoSetPlan| {
        let bootstrap = base.clone().max_bootstrapped_demos(plan.max_bootstrapped_demos).limiter(Arc::clone(limiter));
        async move {
            match plan.kind {
                CandidateKind::ZeroShot => Ok((reset_copy(student), None)),
                CandidateKind::Labeled => Ok((LabeledFewShot::new(max_labeled_demos).apply(student, trainset), None)),
                _ => {
                    let train = plan.trainset.as_deref().unwrap_or(trainset);
                    let compiled = bootstrap.compile_with_teacher(student, teacher.unwrap_or(student), train).await?;
                    Ok::<_, OptimizerError>((compiled.program, Some(compiled.report)))
                }
            }
        }
    };
    // One call at a time: DSPy's order, one set after the other.
    let built = if limiter.available_permits() <= 1 {
        let mut built = Vec::with_capacity(plans.len());
        for plan in plans {
            built.push(build(plan).await?);
        }
        built
    } else {
        try_join_all(plans.iter().map(build)).await?
    };
    let predictors = student.predictor_paths().len();
    let mut sets: Vec<Vec<Vec<Example>>> = vec![Vec::with_capacity(plans.len()); predictors];
    let mut reports = Vec::new();
    for (program, report) in built {
        for (p, (_, state)) in program.predictor_states().into_iter().enumerate() {
            if let Some(list) = sets.get_mut(p) {
                list.push(state.demos);
            }
        }
        reports.extend(report);
    }
    Ok(DemoSets { sets, reports })
}
