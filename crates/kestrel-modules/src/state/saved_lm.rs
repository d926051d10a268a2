//! [`SavedLm`]: the `lm` entry of a saved predictor, recorded as the file
//! gives it and never turned into a network client implicitly.

use serde_json::{Map, Value};

/// What a saved program says about a predictor's own LM.
///
/// DSPy writes `null` when the predictor uses the configured LM, and
/// otherwise the LM's reconstruction settings (`model`, `model_type`,
/// `temperature`, `max_tokens`, ...). Kestrel keeps that object as it was
/// read, so saving again writes it back unchanged — except credentials:
/// settings named like a secret (`api_key`, `*_key`, `*_secret`,
/// `*_token`, `password`, `authorization`, `headers`, ...) are dropped when
/// the object is read, so a key in a file never reaches memory, `Debug`
/// output or a file Kestrel saves — and exposes the model
/// string; building a client from it is left to the caller (for example with
/// `kestrel_lm::lm(saved.model())` and then `Predictor::set_lm`).
#[derive(Debug, Clone, PartialEq)]
pub struct SavedLm {
    model: String,
    settings: Map<String, Value>,
}

/// True for setting names that hold credentials (compared in lower case):
/// `api_key`, `key`, `secret`, `password`, `authorization`, `token`, the
/// header maps that may carry them, and names ending in `_key`, `_secret`,
/// `_password` or `_token`.
fn is_secret_setting(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "api_key" | "apikey" | "key" | "secret" | "password" | "authorization" | "token" | "headers" | "extra_headers"
    ) || ["_key", "_secret", "_password", "_token", "-key"].iter().any(|suffix| name.ends_with(suffix))
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
    pub fn from_settings(mut settings: Map<String, Value>) -> Result<Self, String> {
        settings.retain(|name, _| !is_secret_setting(name));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_saved_lm_are_dropped() {
        let settings = serde_json::json!({
            "model": "openai/gpt-4o-mini", "temperature": 0.0, "max_tokens": 256, "api_key": "sk-in-the-file",
            "OPENAI_API_KEY": "sk-2", "extra_headers": {"Authorization": "Bearer sk-3"}, "aws_secret": "x",
            "model_type": "chat"
        });
        let Value::Object(settings) = settings else { unreachable!() };
        let saved = SavedLm::from_settings(settings).unwrap();
        let mut names: Vec<&str> = saved.settings().keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["max_tokens", "model", "model_type", "temperature"]);
        let text = format!("{saved:?} {}", saved.to_value());
        assert!(!text.contains("sk-"), "{text}");
        assert!(!is_secret_setting("max_tokens") && !is_secret_setting("max_completion_tokens"));
        assert!(is_secret_setting("API_KEY") && is_secret_setting("refresh_token"));
    }
}
