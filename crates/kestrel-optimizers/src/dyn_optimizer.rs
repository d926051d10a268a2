//! [`DynOptimizer`]: the object-safe form of an [`Optimizer`], so optimizers
//! of different types can sit in one list (`Vec<Box<dyn DynOptimizer>>`)
//! and compile any boxed program ([`DynModule`]).
//!
//! [`Optimizer::compile_with_valset`] is generic over the program type and
//! returns `impl Future`, so it cannot be called through a trait object.
//! `DynOptimizer` compiles a `&dyn DynModule` into a
//! `Compiled<Box<dyn DynModule>>` behind a boxed future; every `Optimizer`
//! gets it from a blanket impl (it compiles a boxed clone of the student,
//! which is itself a [`kestrel_modules::Module`]).

use futures::future::BoxFuture;
use kestrel_core::Example;
use kestrel_modules::DynModule;

use crate::cost_estimate::{ProgramRuns, bound_of};
use crate::error::OptimizerError;
use crate::optimizer::{Compiled, Optimizer};

/// An optimizer behind a pointer. Implemented for every [`Optimizer`].
///
/// ```
/// use kestrel_core::Example;
/// use kestrel_modules::{ChainOfThought, DynModule, Predict};
/// use kestrel_optimizers::{DynOptimizer, LabeledFewShot, demo_counts};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), kestrel_optimizers::OptimizerError> {
/// let optimizers: Vec<Box<dyn DynOptimizer>> = vec![Box::new(LabeledFewShot::new(1)), Box::new(LabeledFewShot::new(2))];
/// let programs: Vec<Box<dyn DynModule>> = vec![
///     Box::new(Predict::from_signature("question -> answer")?),
///     Box::new(ChainOfThought::from_signature("question -> answer")?),
/// ];
/// let trainset: Vec<Example> =
///     (0..3).map(|i| Example::from_pairs([("question", format!("q{i}")), ("answer", "a".to_string())]).with_inputs(["question"])).collect();
/// for optimizer in &optimizers {
///     for program in &programs {
///         let compiled = optimizer.compile_boxed(program.as_ref(), &trainset, None).await?;
///         assert_eq!(compiled.report.optimizer, optimizer.optimizer_name());
///         println!("{}: {:?} demos", optimizer.optimizer_name(), demo_counts(&compiled.program));
///     }
/// }
/// # Ok(()) }
/// ```
pub trait DynOptimizer: Send + Sync {
    /// The optimizer's name, as DSPy names it ([`Optimizer::name`]).
    fn optimizer_name(&self) -> &'static str;

    /// [`Optimizer::program_runs_bound`].
    fn program_runs_bound_dyn(&self, trainset: usize, valset: usize, predictors: usize) -> Option<ProgramRuns>;

    /// Compile a copy of `student` on `trainset`, scoring candidates on
    /// `valset` (or the trainset when `None`), as
    /// [`Optimizer::compile_with_valset`]. The student is not changed.
    fn compile_boxed<'a>(
        &'a self,
        student: &'a dyn DynModule,
        trainset: &'a [Example],
        valset: Option<&'a [Example]>,
    ) -> BoxFuture<'a, Result<Compiled<Box<dyn DynModule>>, OptimizerError>>;
}

impl<O: Optimizer> DynOptimizer for O {
    fn optimizer_name(&self) -> &'static str {
        self.name()
    }

    fn program_runs_bound_dyn(&self, trainset: usize, valset: usize, predictors: usize) -> Option<ProgramRuns> {
        bound_of(self, trainset, valset, predictors)
    }

    fn compile_boxed<'a>(
        &'a self,
        student: &'a dyn DynModule,
        trainset: &'a [Example],
        valset: Option<&'a [Example]>,
    ) -> BoxFuture<'a, Result<Compiled<Box<dyn DynModule>>, OptimizerError>> {
        Box::pin(async move {
            let student = student.clone_box();
            self.compile_with_valset(&student, trainset, valset).await
        })
    }
}
