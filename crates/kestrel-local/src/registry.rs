//! [`register`]: adds this crate's `local/…` model strings to a
//! kestrel-lm [`ProviderRegistry`] — chat models with feature `chat`,
//! embedders with feature `embeddings` — so that code building LMs from
//! model strings (the facade's `kestrel::providers`) routes them here.

#[cfg(any(feature = "chat", feature = "embeddings"))]
use std::sync::Arc;

use kestrel_lm::ProviderRegistry;

/// The model-string prefix this crate serves, without the slash.
pub const PROVIDER_PREFIX: &str = "local";

/// `registry` with `local/…` routed to [`crate::LocalLm`] (feature `chat`)
/// and [`crate::LocalEmbedder`] (feature `embeddings`). Each model string
/// resolved loads the model anew: keep the LM you get and clone it.
pub fn register(registry: ProviderRegistry) -> ProviderRegistry {
    #[cfg(feature = "chat")]
    let registry = registry.register_lm(
        PROVIDER_PREFIX,
        Arc::new(|model: &str| Ok(kestrel_lm::SharedLm::new(crate::LocalLm::from_model_string(model)?))),
    );
    #[cfg(feature = "embeddings")]
    let registry = registry.register_embedder(
        PROVIDER_PREFIX,
        Arc::new(|model: &str| {
            let embedder: Arc<dyn kestrel_lm::Embedder> = Arc::new(crate::LocalEmbedder::from_model_string(model)?);
            Ok(embedder)
        }),
    );
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_model_strings_reach_this_crate() {
        let registry = register(ProviderRegistry::new());
        let error = registry.provider_for_model("local/./no-such-model.gguf").unwrap_err().to_string();
        if cfg!(feature = "chat") {
            assert!(error.contains("missing model file"), "{error}");
        } else {
            assert!(error.contains("unknown provider"), "{error}");
        }
    }
}
