//! Task-local call options: [`with_call_config`] runs a future with LM call
//! options (temperature, rollout id, `n`...) that every predictor call inside
//! it uses where neither the call nor the predictor sets them.
//!
//! This is DSPy's `dspy.context(lm=lm.copy(rollout_id=i, temperature=1.0))`:
//! BootstrapFewShot's later rounds and BestOfN / Refine attempts run a whole
//! program with fresh rollout ids without touching its predictors. As with an
//! LM copy's kwargs in DSPy, options the predictor sets itself win.
//! Precedence: per-call overrides > the predictor's config > this scope.
//! Scopes nest (the inner one fills from the outer one) and never cross
//! `tokio::spawn`.

use std::future::Future;

use kestrel_lm::CallConfig;

tokio::task_local! {
    static CALL_CONFIG: CallConfig;
}

/// Run `future` with `config` as the default call options of every
/// predictor call inside it (on this task).
pub async fn with_call_config<F: Future>(config: CallConfig, future: F) -> F::Output {
    CALL_CONFIG.scope(fill_from_scope(config), future).await
}

/// `config` with its unset options taken from the innermost scope (as is
/// outside any scope). Reads the scope in place: no copy of its options.
pub(crate) fn fill_from_scope(mut config: CallConfig) -> CallConfig {
    let _ = CALL_CONFIG.try_with(|scope| config = std::mem::take(&mut config).or(scope));
    config
}

/// The rollout id of the innermost scope, if any.
pub(crate) fn scope_rollout_id() -> Option<u64> {
    CALL_CONFIG.try_with(|scope| scope.rollout_id).ok().flatten()
}

/// The call options of the innermost [`with_call_config`] scope, if any.
pub fn current_call_config() -> Option<CallConfig> {
    CALL_CONFIG.try_with(Clone::clone).ok()
}
