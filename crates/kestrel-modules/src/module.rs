//! The [`Module`] trait: an async program from typed input to typed output.

use std::any::Any;
use std::future::Future;

use kestrel_core::{Example, Prediction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use kestrel_lm::callback::{CallKind, observer};

use crate::error::ModuleError;
use crate::observe::{short_type_name, to_json};
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

    /// True when [`Module::forward`] itself reports the call to the
    /// callbacks in scope (the built-in modules do), so that
    /// [`ModuleExt::call`] does not report it twice. Leave it `false`: then
    /// `call` and `call_example` report a `module` event named after the
    /// type.
    const REPORTS_CALLS: bool = false;

    /// Run the program once.
    fn forward(&self, input: Self::Input) -> impl Future<Output = Result<Self::Output, ModuleError>> + Send;
}

/// Calling helpers every [`Module`] gets.
pub trait ModuleExt: Module {
    /// Run the program (DSPy's `__call__`): the callbacks in scope see a
    /// `module` call ([`kestrel_lm::callback`]); `forward` called directly
    /// is not reported (as DSPy's `forward`).
    fn call(&self, input: Self::Input) -> impl Future<Output = Result<Self::Output, ModuleError>> + Send {
        async move {
            let observer = if Self::REPORTS_CALLS { None } else { observer(CallKind::Module) };
            let Some(mut observer) = observer else { return self.forward(input).await };
            observer.start(&short_type_name(std::any::type_name::<Self>()), || to_json(&input))?;
            let result = observer.run(Box::pin(self.forward(input))).await;
            observer.finish(result, to_json)
        }
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
            let input = input?;
            let observer = if Self::REPORTS_CALLS { None } else { observer(CallKind::Module) };
            let output = match observer {
                None => self.forward(input).await?,
                Some(mut observer) => {
                    observer.start(&short_type_name(std::any::type_name::<Self>()), || to_json(&input))?;
                    let result = observer.run(Box::pin(self.forward(input))).await;
                    observer.finish(result, to_json)?
                }
            };
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
