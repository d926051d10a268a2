//! LMs and embedders from model strings, every provider this build has:
//! kestrel-lm's HTTP providers (`openai/…`, `anthropic/…`) and, with the
//! cargo feature `local`, kestrel-local's in-process models (`local/…`).

use std::sync::Arc;

use kestrel_lm::{Embedder, LmBuilder, LmError, ProviderRegistry, SharedLm};

/// The registry of every provider in this build (pass it to
/// [`LmBuilder::from_model_in`]).
pub fn registry() -> ProviderRegistry {
    let registry = ProviderRegistry::new();
    #[cfg(feature = "local")]
    let registry = kestrel_local::register(registry);
    registry
}

/// `dspy.LM(model)` for every provider of this build: the provider wrapped
/// with the default cache, retries and accounting. Configure further with
/// [`builder`].
pub fn lm(model: &str) -> Result<SharedLm, LmError> {
    Ok(SharedLm::new(builder(model)?.build()?))
}

/// An [`LmBuilder`] for a model string of any provider of this build.
pub fn builder(model: &str) -> Result<LmBuilder, LmError> {
    LmBuilder::from_model_in(model, &registry())
}

/// The embedder for a model string of any provider of this build.
pub fn embedder(model: &str) -> Result<Arc<dyn Embedder>, LmError> {
    registry().embedder_for_model(model)
}

#[cfg(test)]
mod tests {
    #[test]
    fn local_routes_only_with_the_feature() {
        let error = super::builder("local/./absent.gguf").unwrap_err().to_string();
        if cfg!(feature = "local") {
            assert!(error.contains("missing model file"), "{error}");
        } else {
            assert!(error.contains("unknown provider"), "{error}");
        }
    }
}
