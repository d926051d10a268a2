//! [`Parallel`]: run a module over many inputs with bounded concurrency
//! (DSPy's `dspy.Parallel` and `Module.batch`), results in input order,
//! per-item errors kept, an optional error budget.
//!
//! Everything runs on the calling task (`buffer_unordered`), not on spawned
//! tasks, so the caller's LM, trace, usage and call-option scopes apply to
//! every item.

use std::future::Future;

use futures::StreamExt;
use futures::stream;
use kestrel_core::{Example, Prediction};

use crate::error::ModuleError;
use crate::module::{Module, ModuleExt};

/// Items in flight at once unless set otherwise.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Bounded-concurrency execution of a module over many inputs.
///
/// By default every item runs and each failure is kept in its slot. With
/// [`Parallel::max_errors`], the run stops as soon as that many items have
/// failed (in-flight items are dropped) and returns
/// [`ModuleError::TooManyErrors`], as DSPy's executor cancels and raises.
#[derive(Debug, Clone)]
pub struct Parallel {
    concurrency: usize,
    max_errors: Option<usize>,
}

impl Default for Parallel {
    fn default() -> Self {
        Self { concurrency: DEFAULT_CONCURRENCY, max_errors: None }
    }
}

/// The outcome of a batch: one result per input, in input order.
#[derive(Debug, Clone)]
pub struct BatchResults<O> {
    results: Vec<Result<O, ModuleError>>,
}

impl<O> BatchResults<O> {
    /// Every item's result, in input order.
    pub fn results(&self) -> &[Result<O, ModuleError>] {
        &self.results
    }

    /// Consume into the results.
    pub fn into_results(self) -> Vec<Result<O, ModuleError>> {
        self.results
    }

    /// DSPy's result list: the output, or `None` where the item failed.
    pub fn into_outputs(self) -> Vec<Option<O>> {
        self.results.into_iter().map(Result::ok).collect()
    }

    /// Indices of the items that failed, ascending.
    pub fn failed_indices(&self) -> Vec<usize> {
        self.errors().map(|(i, _)| i).collect()
    }

    /// (index, error) of each failed item, in input order (DSPy's
    /// `exceptions` with `return_failed_examples=True`).
    pub fn errors(&self) -> impl Iterator<Item = (usize, &ModuleError)> {
        self.results.iter().enumerate().filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
    }

    /// The inputs whose items failed (DSPy's `failed_examples`); `inputs`
    /// is the list the batch ran over.
    pub fn failed_inputs<'a, T>(&self, inputs: &'a [T]) -> Vec<&'a T> {
        self.errors().filter_map(|(i, _)| inputs.get(i)).collect()
    }

    /// How many items failed.
    pub fn error_count(&self) -> usize {
        self.results.iter().filter(|r| r.is_err()).count()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.results.len()
    }

    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }
}

impl Parallel {
    /// Default settings: 16 in flight, no error budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: the most items in flight at once (at least 1).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Builder: stop once this many items have failed.
    pub fn max_errors(mut self, max_errors: usize) -> Self {
        self.max_errors = Some(max_errors);
        self
    }

    /// Run `module` on each typed input.
    pub async fn run<M: Module>(
        &self,
        module: &M,
        inputs: Vec<M::Input>,
    ) -> Result<BatchResults<M::Output>, ModuleError> {
        self.execute(inputs.into_iter().map(|input| module.forward(input)).collect()).await
    }

    /// Run `module` on each example's inputs (its marked input keys, else
    /// all fields), as DSPy's `program.batch(examples)`.
    pub async fn run_examples<M: Module>(
        &self,
        module: &M,
        examples: &[Example],
    ) -> Result<BatchResults<Prediction>, ModuleError> {
        self.execute(examples.iter().map(|example| module.call_example(example)).collect()).await
    }

    /// Run each (module, input) pair (DSPy's `Parallel()(exec_pairs)`).
    pub async fn run_pairs<M: Module>(
        &self,
        pairs: Vec<(&M, M::Input)>,
    ) -> Result<BatchResults<M::Output>, ModuleError> {
        self.execute(pairs.into_iter().map(|(module, input)| module.forward(input)).collect()).await
    }

    /// Drive `calls` with at most `concurrency` in flight, keeping results
    /// in input order and stopping at the error budget.
    async fn execute<T, Fut>(&self, calls: Vec<Fut>) -> Result<BatchResults<T>, ModuleError>
    where
        Fut: Future<Output = Result<T, ModuleError>>,
    {
        let mut slots: Vec<Option<Result<T, ModuleError>>> = (0..calls.len()).map(|_| None).collect();
        let mut running = stream::iter(calls.into_iter().enumerate())
            .map(|(i, call)| indexed(i, call))
            .buffer_unordered(self.concurrency);
        let mut errors = 0;
        while let Some((i, result)) = running.next().await {
            let failed = result.is_err();
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(result);
            }
            if failed {
                errors += 1;
                if let Some(max_errors) = self.max_errors
                    && errors >= max_errors
                {
                    let first = slots.iter().flatten().find_map(|r| r.as_ref().err()).cloned();
                    return Err(ModuleError::TooManyErrors {
                        errors,
                        max_errors,
                        first: Box::new(first.unwrap_or_else(|| batch_error("an item failed"))),
                    });
                }
            }
        }
        let results = slots.into_iter().map(|slot| slot.unwrap_or_else(|| Err(batch_error("the item did not run"))));
        Ok(BatchResults { results: results.collect() })
    }
}

/// A call tagged with its input index.
async fn indexed<F: Future>(index: usize, call: F) -> (usize, F::Output) {
    (index, call.await)
}

fn batch_error(message: &str) -> ModuleError {
    ModuleError::Module { module: "batch".into(), message: message.into() }
}

/// `module.batch(&examples)`: [`Parallel::run_examples`] with default
/// settings (use [`Parallel`] to set concurrency or an error budget).
pub trait BatchExt: Module {
    /// Run the module on each example's inputs, 16 at a time.
    fn batch<'a>(
        &'a self,
        examples: &'a [Example],
    ) -> impl Future<Output = Result<BatchResults<Prediction>, ModuleError>> + Send + 'a
    where
        Self: Sized,
    {
        async move { Parallel::new().run_examples(self, examples).await }
    }
}

impl<M: Module> BatchExt for M {}
