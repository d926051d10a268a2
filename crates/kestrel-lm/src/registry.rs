//! [`ProviderRegistry`]: provider constructors by model-string prefix, for
//! providers that live outside this crate (`local/…` in kestrel-local),
//! passed explicitly to whoever builds LMs from model strings — no global
//! state. Prefixes it does not hold fall through to the built-in
//! [`providers`](crate::providers) (`openai/…`, `anthropic/…`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::embed::Embedder;
use crate::error::LmError;
use crate::lm::SharedLm;
use crate::providers::{embedder_for_model, provider_for_model};

/// Builds a provider from a whole model string (`local/smollm2`).
pub type LmConstructor = Arc<dyn Fn(&str) -> Result<SharedLm, LmError> + Send + Sync>;

/// Builds an embedder from a whole model string (`local/all-minilm-l6-v2`).
pub type EmbedderConstructor = Arc<dyn Fn(&str) -> Result<Arc<dyn Embedder>, LmError> + Send + Sync>;

/// Provider and embedder constructors by model-string prefix (the part
/// before the first `/`, compared ignoring ASCII case).
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    lms: BTreeMap<String, LmConstructor>,
    embedders: BTreeMap<String, EmbedderConstructor>,
}

impl fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderRegistry")
            .field("lms", &self.lms.keys().collect::<Vec<_>>())
            .field("embedders", &self.embedders.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ProviderRegistry {
    /// A registry with only the built-in providers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes model strings `<prefix>/…` to `constructor` (replacing any
    /// earlier one for that prefix).
    #[must_use]
    pub fn register_lm(mut self, prefix: &str, constructor: LmConstructor) -> Self {
        self.lms.insert(prefix.to_ascii_lowercase(), constructor);
        self
    }

    /// Routes embedding model strings `<prefix>/…` to `constructor`.
    #[must_use]
    pub fn register_embedder(mut self, prefix: &str, constructor: EmbedderConstructor) -> Self {
        self.embedders.insert(prefix.to_ascii_lowercase(), constructor);
        self
    }

    /// The registered prefixes of LMs.
    pub fn lm_prefixes(&self) -> impl Iterator<Item = &str> {
        self.lms.keys().map(String::as_str)
    }

    /// The raw provider for a model string: a registered prefix's
    /// constructor, else [`provider_for_model`].
    pub fn provider_for_model(&self, model: &str) -> Result<SharedLm, LmError> {
        match prefix_of(model).and_then(|prefix| self.lms.get(&prefix)) {
            Some(constructor) => constructor(model.trim()),
            None => provider_for_model(model),
        }
    }

    /// The embedder for a model string: a registered prefix's constructor,
    /// else [`embedder_for_model`].
    pub fn embedder_for_model(&self, model: &str) -> Result<Arc<dyn Embedder>, LmError> {
        match prefix_of(model).and_then(|prefix| self.embedders.get(&prefix)) {
            Some(constructor) => constructor(model.trim()),
            None => embedder_for_model(model),
        }
    }
}

fn prefix_of(model: &str) -> Option<String> {
    model.trim().split_once('/').map(|(prefix, _)| prefix.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::Lm;
    use crate::request::{LmRequest, LmResponse};

    #[derive(Debug)]
    struct Named(String);

    #[async_trait::async_trait]
    impl Lm for Named {
        fn model(&self) -> &str {
            &self.0
        }

        async fn call(&self, _request: LmRequest) -> Result<LmResponse, LmError> {
            Err(LmError::Config("not callable".into()))
        }
    }

    #[test]
    fn registered_prefixes_route_and_others_fall_through() {
        let registry = ProviderRegistry::new()
            .register_lm("local", Arc::new(|model: &str| Ok(SharedLm::new(Named(model.to_owned())))));
        assert_eq!(registry.provider_for_model("local/smollm2").unwrap().model(), "local/smollm2");
        assert_eq!(registry.provider_for_model(" LOCAL/x ").unwrap().model(), "LOCAL/x");
        let unknown = registry.provider_for_model("nowhere/x").unwrap_err().to_string();
        assert!(unknown.contains("unknown provider"), "{unknown}");
        assert!(ProviderRegistry::new().provider_for_model("local/smollm2").is_err());
        assert_eq!(registry.lm_prefixes().collect::<Vec<_>>(), ["local"]);
    }
}
