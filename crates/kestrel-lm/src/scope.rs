//! Which LM a call uses: the predictor's own, else the task-local scope, else
//! the process default.
//!
//! The task-local scope ([`with_lm`]) is how tests, servers and concurrent
//! programs pick an LM without touching anything global. The process default
//! ([`set_default_lm`], DSPy's `dspy.configure(lm=..)`) is for programs that
//! want one LM everywhere; like `dspy.configure` it can be set again, so a
//! long-lived service can swap models without restarting. Calls already
//! running keep the LM they resolved; calls resolved afterwards see the new
//! one. Reading it is lock-free (`arc-swap`): no caller ever waits on a
//! writer, and the task-local scope and a predictor's own LM still win.

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::error::LmError;
use crate::lm::SharedLm;

tokio::task_local! {
    static SCOPED_LM: SharedLm;
}

static DEFAULT_LM: ArcSwapOption<SharedLm> = ArcSwapOption::const_empty();

/// Run `future` with `lm` as the LM of every predictor call inside it that has
/// no LM of its own. Scopes nest: the innermost wins. The scope follows the
/// future, not the thread, so concurrent tasks never see each other's LM.
/// (A task spawned inside does not inherit it: wrap the spawned future too.)
pub async fn with_lm<F: Future>(lm: impl Into<SharedLm>, future: F) -> F::Output {
    SCOPED_LM.scope(lm.into(), future).await
}

/// Set (or replace) the process-wide default LM and return the previous one.
/// Calls resolved from now on use it unless they have their own LM or run
/// inside [`with_lm`].
pub fn set_default_lm(lm: impl Into<SharedLm>) -> Option<SharedLm> {
    previous(DEFAULT_LM.swap(Some(Arc::new(lm.into()))))
}

/// Remove the process-wide default LM and return it: afterwards a call with
/// no LM of its own and no [`with_lm`] scope is [`LmError::NotConfigured`].
pub fn clear_default_lm() -> Option<SharedLm> {
    previous(DEFAULT_LM.swap(None))
}

/// The process-wide default LM, if one is set.
pub fn default_lm() -> Option<SharedLm> {
    DEFAULT_LM.load().as_deref().cloned()
}

fn previous(old: Option<Arc<SharedLm>>) -> Option<SharedLm> {
    old.map(|arc| Arc::try_unwrap(arc).unwrap_or_else(|shared| SharedLm::clone(&shared)))
}

/// The LM in scope for the current task: the task-local one, else the
/// process default.
pub fn current_lm() -> Option<SharedLm> {
    SCOPED_LM.try_with(SharedLm::clone).ok().or_else(default_lm)
}

/// The LM a predictor with `own` as its LM must use.
pub fn resolve_lm(own: Option<&SharedLm>) -> Result<SharedLm, LmError> {
    match own {
        Some(lm) => Ok(lm.clone()),
        None => current_lm().ok_or(LmError::NotConfigured),
    }
}
