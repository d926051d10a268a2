//! Which retriever a `Retrieve` module uses when it has none of its own: the
//! task-local one set by [`with_retriever`] (DSPy's `dspy.configure(rm=..)` /
//! `dspy.context(rm=..)`, without global mutable state).

use std::future::Future;

use super::SharedRetriever;
use crate::error::LmError;

tokio::task_local! {
    static SCOPED_RETRIEVER: SharedRetriever;
}

/// Run `future` with `retriever` as the retriever of every `Retrieve` inside
/// it that has none of its own. Scopes nest (the innermost wins) and follow
/// the future, not the thread; a spawned task does not inherit it.
pub async fn with_retriever<F: Future>(retriever: SharedRetriever, future: F) -> F::Output {
    SCOPED_RETRIEVER.scope(retriever, future).await
}

/// The retriever in scope for the current task, if any.
pub fn current_retriever() -> Option<SharedRetriever> {
    SCOPED_RETRIEVER.try_with(SharedRetriever::clone).ok()
}

/// The retriever a module with `own` as its retriever must use: its own, else
/// the scope's, else [`LmError::NoRetriever`].
pub fn resolve_retriever(own: Option<&SharedRetriever>) -> Result<SharedRetriever, LmError> {
    match own {
        Some(retriever) => Ok(SharedRetriever::clone(retriever)),
        None => current_retriever().ok_or(LmError::NoRetriever),
    }
}
