//! [`DynModule`]: the object-safe form of a program, so programs of
//! different types can sit in one list (`Vec<Box<dyn DynModule>>`) and be
//! evaluated, compiled and saved alike.
//!
//! [`Module`] returns `impl Future` and has typed inputs and outputs, so it
//! cannot be a trait object. `DynModule` keeps what dynamic callers use — a
//! call on an [`Example`] returning a [`Prediction`] (as a boxed future),
//! the predictor visitor, and cloning — and every `Module + Clone` gets it
//! from a blanket impl. `Box<dyn DynModule>` is itself a [`Module`]
//! (`Input = Example`, `Output = Prediction`) and `Clone`, so `Evaluate` and
//! every optimizer take it as they take a typed program.

use futures::future::BoxFuture;
use kestrel_core::{Example, Prediction};

use crate::error::ModuleError;
use crate::module::{Module, ModuleExt};
use crate::predictor::Predictors;

/// A program behind a pointer: called on an [`Example`], walked through its
/// predictors, cloned into a new box. Implemented for every
/// [`Module`]` + Clone`.
///
/// ```
/// use kestrel_modules::{ChainOfThought, DynModule, Predict, PredictorsExt};
///
/// let programs: Vec<Box<dyn DynModule>> = vec![
///     Box::new(Predict::from_signature("question -> answer").unwrap()),
///     Box::new(ChainOfThought::from_signature("question -> answer").unwrap()),
/// ];
/// let paths: Vec<Vec<String>> = programs.iter().map(|p| p.predictor_paths()).collect();
/// assert_eq!(paths, [vec!["self".to_string()], vec!["predict".to_string()]]);
/// ```
pub trait DynModule: Predictors + Send + Sync {
    /// Run the program on an example's inputs ([`ModuleExt::call_example`]):
    /// the whole [`Prediction`], completions and usage included.
    fn call_example_boxed<'a>(&'a self, example: &'a Example) -> BoxFuture<'a, Result<Prediction, ModuleError>>;

    /// A copy of the program in a new box (predictors keep their ids, as
    /// with `Clone`).
    fn clone_box(&self) -> Box<dyn DynModule>;
}

impl<M> DynModule for M
where
    M: Module + Clone + 'static,
{
    fn call_example_boxed<'a>(&'a self, example: &'a Example) -> BoxFuture<'a, Result<Prediction, ModuleError>> {
        Box::pin(self.call_example(example))
    }

    fn clone_box(&self) -> Box<dyn DynModule> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn DynModule> {
    fn clone(&self) -> Self {
        // `(**self)`: the boxed program's own clone, not a box of this box.
        (**self).clone_box()
    }
}

/// A boxed program is a [`Module`] from an [`Example`] (its fields are the
/// inputs) to a [`Prediction`]; [`ModuleExt::call_example`] and
/// [`DynModule::call_example_boxed`] both return the whole prediction
/// (every completion and the usage).
impl Module for Box<dyn DynModule> {
    type Input = Example;
    type Output = Prediction;
    // The boxed program's own `call_example` reports the call.
    const REPORTS_CALLS: bool = true;

    async fn forward(&self, input: Example) -> Result<Prediction, ModuleError> {
        (**self).call_example_boxed(&input).await
    }
}

#[cfg(test)]
mod tests {
    use kestrel_core::Example;
    use kestrel_lm::{SharedLm, with_lm};
    use kestrel_testkit::ScriptedLm;

    use super::*;
    use crate::{ChainOfThought, Predict, PredictorsExt};

    #[tokio::test]
    async fn boxed_programs_of_different_types_are_called_cloned_and_walked() {
        let programs: Vec<Box<dyn DynModule>> = vec![
            Box::new(Predict::from_signature("question -> answer").unwrap()),
            Box::new(ChainOfThought::from_signature("question -> answer").unwrap()),
        ];
        let lm = SharedLm::new(ScriptedLm::sequence([
            "[[ ## answer ## ]]\n4",
            "[[ ## reasoning ## ]]\n2 and 2.\n\n[[ ## answer ## ]]\n4",
        ]));
        let example = Example::from_pairs([("question", "2+2?"), ("answer", "4")]).with_inputs(["question"]);
        for program in &programs {
            let prediction = with_lm(lm.clone(), program.call_example_boxed(&example)).await.unwrap();
            assert_eq!(prediction.get_str("answer"), Some("4"));
        }
        // Clones are independent programs with the same predictors.
        let mut copy = programs[0].clone();
        copy.with_predictor_mut("self", |p| p.set_demos(vec![example.clone()])).unwrap();
        assert_eq!(copy.predictor_states()[0].1.demos.len(), 1);
        assert!(programs[0].predictor_states()[0].1.demos.is_empty());
        assert_eq!(copy.predictor_paths(), programs[0].predictor_paths());
    }
}
