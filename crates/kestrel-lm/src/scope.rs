//! Which LM a call uses: the predictor's own, else the task-local scope, else
//! the process default.
//!
//! The task-local scope ([`with_lm`]) is how tests, servers and concurrent
//! programs pick an LM without touching anything global. The process default
//! can be set once ([`set_default_lm`]) for programs that want one LM
//! everywhere; it is never replaced, so no caller can change another's LM.

use std::future::Future;
use std::sync::OnceLock;

use crate::error::LmError;
use crate::lm::SharedLm;

tokio::task_local! {
    static SCOPED_LM: SharedLm;
}

static DEFAULT_LM: OnceLock<SharedLm> = OnceLock::new();

/// Run `future` with `lm` as the LM of every predictor call inside it that has
/// no LM of its own. Scopes nest: the innermost wins. The scope follows the
/// future, not the thread, so concurrent tasks never see each other's LM.
/// (A task spawned inside does not inherit it: wrap the spawned future too.)
pub async fn with_lm<F: Future>(lm: impl Into<SharedLm>, future: F) -> F::Output {
    SCOPED_LM.scope(lm.into(), future).await
}

/// Set the process-wide default LM, once. A second call returns
/// [`LmError::DefaultAlreadySet`] and changes nothing.
pub fn set_default_lm(lm: impl Into<SharedLm>) -> Result<(), LmError> {
    DEFAULT_LM.set(lm.into()).map_err(|_| LmError::DefaultAlreadySet)
}

/// The LM in scope for the current task: the task-local one, else the
/// process default.
pub fn current_lm() -> Option<SharedLm> {
    SCOPED_LM.try_with(SharedLm::clone).ok().or_else(|| DEFAULT_LM.get().cloned())
}

/// The LM a predictor with `own` as its LM must use.
pub fn resolve_lm(own: Option<&SharedLm>) -> Result<SharedLm, LmError> {
    match own {
        Some(lm) => Ok(lm.clone()),
        None => current_lm().ok_or(LmError::NotConfigured),
    }
}
