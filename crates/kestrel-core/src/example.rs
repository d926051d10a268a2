//! [`Example`] (a training or input record) and [`Prediction`] (what a
//! module returns): ordered maps from field name to JSON value.

use indexmap::{IndexMap, IndexSet};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::CoreError;
use crate::message::Usage;

/// An ordered map of field name → JSON value.
pub type Fields = IndexMap<String, Value>;

/// One record: field values in insertion order plus, optionally, which keys
/// are inputs (DSPy's `Example.with_inputs`).
///
/// Serializes as a plain JSON object of its fields (as DSPy's `toDict()`);
/// the input keys are not serialized.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Example {
    fields: Fields,
    input_keys: Option<IndexSet<String>>,
}

impl Example {
    /// An empty example.
    pub fn new() -> Self {
        Self::default()
    }

    /// An example holding `fields`, with no input keys marked.
    pub fn from_fields(fields: Fields) -> Self {
        Self { fields, input_keys: None }
    }

    /// Build from (name, value) pairs.
    pub fn from_pairs<K, V, I>(pairs: I) -> Self
    where
        K: Into<String>,
        V: Into<Value>,
        I: IntoIterator<Item = (K, V)>,
    {
        Self::from_fields(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// Serialize a value whose JSON form is an object into an example.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, CoreError> {
        match serde_json::to_value(value) {
            Ok(Value::Object(map)) => Ok(Self::from_fields(map.into_iter().collect())),
            Ok(other) => Err(CoreError::Conversion {
                what: std::any::type_name::<T>().to_string(),
                message: format!("expected a JSON object, got {other}"),
            }),
            Err(e) => {
                Err(CoreError::Conversion { what: std::any::type_name::<T>().to_string(), message: e.to_string() })
            }
        }
    }

    /// Deserialize the fields into `T` (a struct whose fields are a subset of
    /// these keys).
    pub fn to_typed<T: DeserializeOwned>(&self) -> Result<T, CoreError> {
        fields_to_typed(&self.fields)
    }

    /// Mark these keys as inputs (DSPy's `with_inputs`), replacing any earlier
    /// marking.
    pub fn with_inputs<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.input_keys = Some(keys.into_iter().map(Into::into).collect());
        self
    }

    /// The input keys, if marked.
    pub fn input_keys(&self) -> Option<&IndexSet<String>> {
        self.input_keys.as_ref()
    }

    /// The example restricted to its input keys (empty when none are marked).
    pub fn inputs(&self) -> Example {
        let fields = match &self.input_keys {
            Some(keys) => {
                self.fields.iter().filter(|(k, _)| keys.contains(*k)).map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            None => Fields::new(),
        };
        Example { fields, input_keys: self.input_keys.clone() }
    }

    /// The example without its input keys (all fields when none are marked).
    pub fn labels(&self) -> Example {
        let fields = self
            .fields
            .iter()
            .filter(|(k, _)| !self.input_keys.as_ref().is_some_and(|keys| keys.contains(*k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Example { fields, input_keys: None }
    }

    /// The value of a field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// The value of a field if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    /// True when the field is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    /// Set a field, keeping its position if it already exists.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.fields.insert(key.into(), value.into())
    }

    /// Builder form of [`Example::insert`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(key, value);
        self
    }

    /// Remove a field, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.fields.shift_remove(key)
    }

    /// The fields.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The fields, mutably.
    pub fn fields_mut(&mut self) -> &mut Fields {
        &mut self.fields
    }

    /// Consume into the fields.
    pub fn into_fields(self) -> Fields {
        self.fields
    }

    /// Iterate over (name, value) in order.
    pub fn iter(&self) -> indexmap::map::Iter<'_, String, Value> {
        self.fields.iter()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Example {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::from_pairs(iter)
    }
}

impl Serialize for Example {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.fields.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Example {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Fields::deserialize(deserializer).map(Example::from_fields)
    }
}

/// What a module returns: the output fields of the first completion, every
/// completion when `n > 1`, and the token usage spent producing it.
///
/// Serializes as a plain JSON object of its (first completion's) fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prediction {
    fields: Fields,
    completions: Vec<Fields>,
    usage: Usage,
}

impl Prediction {
    /// A prediction from one completion's fields.
    pub fn new(fields: Fields) -> Self {
        Self { completions: vec![fields.clone()], fields, usage: Usage::default() }
    }

    /// A prediction from several completions; the first one is the main one.
    /// An empty list gives an empty prediction.
    pub fn from_completions(completions: Vec<Fields>) -> Self {
        let fields = completions.first().cloned().unwrap_or_default();
        Self { fields, completions, usage: Usage::default() }
    }

    /// Serialize a value whose JSON form is an object into a prediction.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, CoreError> {
        Example::from_serialize(value).map(|e| Prediction::new(e.into_fields()))
    }

    /// Deserialize the (first completion's) fields into `T`.
    pub fn to_typed<T: DeserializeOwned>(&self) -> Result<T, CoreError> {
        fields_to_typed(&self.fields)
    }

    /// Set the usage.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// Token usage spent producing this prediction (zero for cache hits).
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Set the usage in place.
    pub fn set_usage(&mut self, usage: Usage) {
        self.usage = usage;
    }

    /// The value of a field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// The value of a field if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    /// Set a field of the main completion (and of the first entry of
    /// `completions`, which mirrors it).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        if let Some(first) = self.completions.first_mut() {
            first.insert(key.clone(), value.clone());
        }
        self.fields.insert(key, value);
    }

    /// The fields of the main completion.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// Consume into the main completion's fields.
    pub fn into_fields(self) -> Fields {
        self.fields
    }

    /// All completions (length `n`).
    pub fn completions(&self) -> &[Fields] {
        &self.completions
    }

    /// Iterate over (name, value) of the main completion.
    pub fn iter(&self) -> indexmap::map::Iter<'_, String, Value> {
        self.fields.iter()
    }
}

impl Serialize for Prediction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.fields.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Prediction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Fields::deserialize(deserializer).map(Prediction::new)
    }
}

impl From<Prediction> for Example {
    fn from(p: Prediction) -> Self {
        Example::from_fields(p.fields)
    }
}

fn fields_to_typed<T: DeserializeOwned>(fields: &Fields) -> Result<T, CoreError> {
    let object: serde_json::Map<String, Value> = fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    serde_json::from_value(Value::Object(object))
        .map_err(|e| CoreError::Conversion { what: std::any::type_name::<T>().to_string(), message: e.to_string() })
}
