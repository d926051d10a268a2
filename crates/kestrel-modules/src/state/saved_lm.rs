//! [`SavedLm`]: the `lm` entry of a saved predictor, recorded as the file
//! gives it and never turned into a network client implicitly.

use serde_json::{Map, Value};

/// What a saved program says about a predictor's own LM.
///
/// DSPy writes `null` when the predictor uses the configured LM, and
/// otherwise the LM's reconstruction settings (`model`, `model_type`,
/// `temperature`, `max_tokens`, ...). Kestrel keeps that object as it was
/// read, so saving again writes it back unchanged, and exposes the model
/// string; building a client from it is left to the caller (for example with
/// `kestrel_lm::lm(saved.model())` and then `Predictor::set_lm`).
#[derive(Debug, Clone, PartialEq)]
pub struct SavedLm {
    model: String,
    settings: Map<String, Value>,
}

impl SavedLm {
    /// The description Kestrel writes for a predictor that has its own LM:
    /// `{"model": <model>, "model_type": "chat"}`, which DSPy's `load`
    /// turns into `dspy.LM(model, model_type="chat")`.
    pub fn for_model(model: impl Into<String>) -> Self {
        let model = model.into();
        let mut settings = Map::new();
        settings.insert("model".into(), Value::String(model.clone()));
        settings.insert("model_type".into(), Value::String("chat".into()));
        Self { model, settings }
    }

    /// Read an `lm` object; it must have a string `model`. The error is a
    /// sentence saying what is wrong.
    pub fn from_settings(settings: Map<String, Value>) -> Result<Self, String> {
        match settings.get("model") {
            Some(Value::String(model)) => Ok(Self { model: model.clone(), settings }),
            Some(other) => Err(format!("`model` must be a string, got {}", super::kind_of(other))),
            None => Err("an `lm` object must have a string `model`".to_string()),
        }
    }

    /// The model string (`openai/gpt-4o-mini`).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// One setting by name (`temperature`, `max_tokens`, ...).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.settings.get(key)
    }

    /// Every setting, in file order (the model included).
    pub fn settings(&self) -> &Map<String, Value> {
        &self.settings
    }

    /// The object written to a state file.
    pub fn to_value(&self) -> Value {
        Value::Object(self.settings.clone())
    }
}
