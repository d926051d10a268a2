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
    let merged = match current_call_config() {
        Some(outer) => config.or(&outer),
        None => config,
    };
    CALL_CONFIG.scope(merged, future).await
}

/// The call options of the innermost [`with_call_config`] scope, if any.
pub fn current_call_config() -> Option<CallConfig> {
    CALL_CONFIG.try_with(Clone::clone).ok()
}
