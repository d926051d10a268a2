//! The [`Optimizer`] trait and [`Compiled`], a compiled program with its
//! [`CompileReport`].

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::time::Instant;

use kestrel_core::Example;
use kestrel_lm::{exhausted_in_scope, track_usage};
use kestrel_modules::{Module, Predictor, Predictors, PredictorsExt};

use crate::budget_stop::{budget_stop, is_budget_stop};
use crate::cost_estimate::ProgramRuns;
use crate::error::OptimizerError;
use crate::report::CompileReport;

/// A compiled program and what compiling it did. Derefs to the program, so
/// `compiled.call(..)` and `compiled.save(..)` work directly.
#[derive(Debug, Clone)]
pub struct Compiled<M> {
    /// The optimized program.
    pub program: M,
    /// What the compile did and spent.
    pub report: CompileReport,
}

impl<M> Compiled<M> {
    /// The program, without the report.
    pub fn into_program(self) -> M {
        self.program
    }
}

impl<M> Deref for Compiled<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.program
    }
}

impl<M> DerefMut for Compiled<M> {
    fn deref_mut(&mut self) -> &mut M {
        &mut self.program
    }
}

/// Compiles a program against a training set (and the metric the optimizer
/// was built with). The student is never mutated: the result is a new
/// program made by cloning it and setting predictor state.
pub trait Optimizer: Send + Sync {
    /// The optimizer's name, as DSPy names it.
    fn name(&self) -> &'static str;

    /// Compile `student` on `trainset`; optimizers that score candidates use
    /// `valset` (or the trainset when `None`, as DSPy).
    fn compile_with_valset<'a, M>(
        &'a self,
        student: &'a M,
        trainset: &'a [Example],
        valset: Option<&'a [Example]>,
    ) -> impl Future<Output = Result<Compiled<M>, OptimizerError>> + Send + 'a
    where
        M: Module + Clone + 'static;

    /// At most how many program runs (and other LM calls) a compile on
    /// `trainset` training and `valset` validation examples of a program
    /// with `predictors` predictors makes, for the cost estimate before a
    /// compile (`crate::estimate_compile`). `None` (the default): unknown.
    fn program_runs_bound(&self, trainset: usize, valset: usize, predictors: usize) -> Option<ProgramRuns> {
        let _ = (trainset, valset, predictors);
        None
    }

    /// Compile `student` on `trainset`.
    fn compile<'a, M>(
        &'a self,
        student: &'a M,
        trainset: &'a [Example],
    ) -> impl Future<Output = Result<Compiled<M>, OptimizerError>> + Send + 'a
    where
        M: Module + Clone + 'static,
    {
        self.compile_with_valset(student, trainset, None)
    }
}

/// Run a compile's body and measure it: the report gets the LM usage of
/// every call the body made (a `track_usage` scope) and the wall time.
///
/// Budgets (`kestrel_lm::with_budget`): when a budget in scope refused a
/// call during the compile, the report says so
/// ([`StopReason::BudgetReached`], unless the optimizer already reported its
/// own budget stop), and a body that failed because of it returns `student`
/// (the best program known when nothing was scored) instead of the error.
pub(crate) async fn measured<M: Clone>(
    optimizer: &str,
    student: &M,
    body: impl Future<Output = Result<(M, CompileReport), OptimizerError>>,
) -> Result<Compiled<M>, OptimizerError> {
    let started = Instant::now();
    let refused_before = exhausted_in_scope().is_some();
    // Boxed: a compile's state machine is large, and the caller's stack
    // (a 2 MiB test thread, say) should not have to hold it.
    let (result, usage) = track_usage(Box::pin(body)).await;
    let (program, mut report) = budget_fallback(optimizer, student, result, refused_before)?;
    report.usage = usage;
    report.elapsed = started.elapsed();
    Ok(Compiled { program, report })
}

/// A compile's outcome under the budgets in scope: when one refused a call,
/// the report says so (unless the optimizer reported its own budget stop)
/// and a failure caused by it becomes `student` (the best program known when
/// nothing was scored). Without a refusal, the outcome as it is.
pub(crate) fn budget_fallback<M: Clone>(
    optimizer: &str,
    student: &M,
    result: Result<(M, CompileReport), OptimizerError>,
    refused_before: bool,
) -> Result<(M, CompileReport), OptimizerError> {
    let refused = exhausted_in_scope();
    let (program, mut report) = match (result, refused) {
        (Ok(done), _) => done,
        (Err(error), Some(why)) => {
            tracing::warn!(target: "kestrel_optimizers", "{optimizer}: {error} after {why}; returning the student");
            (student.clone(), CompileReport::new(optimizer))
        }
        (Err(error), None) => return Err(error),
    };
    if let Some(why) = refused.filter(|_| !is_budget_stop(report.stopped_early.as_ref())) {
        let phase = if refused_before { "start (budget already spent)" } else { "compile" };
        report.stopped_early = Some(budget_stop(why, phase));
    }
    Ok((program, report))
}

/// DSPy's `reset_copy`: a clone whose predictors have no demos. Unlike DSPy,
/// a predictor's own LM is kept (a Rust program that pins a model per
/// predictor expects the compiled program to keep it).
pub fn reset_copy<M: Predictors + Clone>(program: &M) -> M {
    let mut copy = program.clone();
    copy.visit_predictors_mut("", &mut |_, p: &mut dyn Predictor| p.set_demos(Vec::new()));
    copy
}

/// Demos per predictor, in predictor order.
pub fn demo_counts<M: Predictors>(program: &M) -> Vec<usize> {
    program.predictor_states().iter().map(|(_, s)| s.demos.len()).collect()
}

/// True when any predictor of `program` has demos (Kestrel's stand-in for
/// DSPy's `_compiled` flag on a teacher).
pub fn has_demos<M: Predictors>(program: &M) -> bool {
    demo_counts(program).iter().any(|&n| n > 0)
}
