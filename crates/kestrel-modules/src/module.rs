//! The [`Module`] trait: an async program from typed input to typed output.

use std::any::Any;
use std::future::Future;

use kestrel_core::{Example, Prediction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ModuleError;
use crate::predictor::Predictors;

/// A program: `forward` from [`Module::Input`] to [`Module::Output`], and
/// access to its predictors (usually from `#[derive(Module)]`).
///
/// Inputs and outputs are serde types, so every module can also be called
/// dynamically with an [`Example`] ([`ModuleExt::call_example`]); evaluation
/// and optimizers work that way, without knowing the types.
pub trait Module: Predictors + Send + Sync {
    /// What a call takes.
    type Input: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What a call returns.
    type Output: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Run the program once.
    fn forward(&self, input: Self::Input) -> impl Future<Output = Result<Self::Output, ModuleError>> + Send;
}

/// Calling helpers every [`Module`] gets.
pub trait ModuleExt: Module {
    /// Run the program (DSPy's `__call__`).
    fn call(&self, input: Self::Input) -> impl Future<Output = Result<Self::Output, ModuleError>> + Send {
        self.forward(input)
    }

    /// Run the program on an [`Example`]'s fields and return the output as a
    /// [`Prediction`]. When the example marks its input keys
    /// ([`Example::with_inputs`]) only those are passed, as DSPy's
    /// `program(**example.inputs())`. A module whose output is a
    /// [`Prediction`] (every dynamic module) returns it as is, with all `n`
    /// completions and the usage.
    fn call_example(&self, example: &Example) -> impl Future<Output = Result<Prediction, ModuleError>> + Send {
        let input = match example.input_keys() {
            Some(_) => example.inputs().to_typed::<Self::Input>(),
            None => example.to_typed::<Self::Input>(),
        };
        async move {
            let output = self.forward(input?).await?;
            // A dynamic module already returns a `Prediction`: keep it whole
            // (every completion and the usage), which serde would drop.
            let mut slot = Some(output);
            if let Some(prediction) = (&mut slot as &mut dyn Any).downcast_mut::<Option<Prediction>>() {
                if let Some(prediction) = prediction.take() {
                    return Ok(prediction);
                }
            }
            match slot {
                Some(output) => Ok(Prediction::from_serialize(&output)?),
                None => Ok(Prediction::default()),
            }
        }
    }
}

impl<M: Module + ?Sized> ModuleExt for M {}
