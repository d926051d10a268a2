//! Values across the sandbox boundary: the engine's `MontyObject` to JSON
//! (code output, `SUBMIT` values, tool arguments) and JSON to `MontyObject`
//! (tool results handed back to the code).

use monty_types::MontyObject;
use serde_json::{Map, Number, Value};

/// Deepest nesting kept when a value leaves the sandbox (deeper parts become
/// `"..."`, as Python's `repr` of a recursive list): the host's threads
/// then never recurse deeper than this over a value the code built.
const MAX_DEPTH: usize = 100;

/// A sandbox value as JSON. Tuples, sets and named tuples become arrays;
/// dict keys that are not strings are written as their Python `repr`;
/// objects with no JSON form (types, functions, paths) become their `repr`.
pub(crate) fn to_json(value: &MontyObject) -> Value {
    to_json_at(value, 0)
}

fn to_json_at(value: &MontyObject, depth: usize) -> Value {
    if depth >= MAX_DEPTH {
        return Value::String("...".into());
    }
    let to_json = |v: &MontyObject| to_json_at(v, depth + 1);
    match value {
        MontyObject::None | MontyObject::Ellipsis => Value::Null,
        MontyObject::Bool(b) => Value::Bool(*b),
        MontyObject::Int(i) => Value::from(*i),
        MontyObject::BigInt(i) => {
            let text = i.to_string();
            serde_json::from_str::<Number>(&text).map_or(Value::String(text), Value::Number)
        }
        MontyObject::Float(f) => Number::from_f64(*f).map_or_else(|| Value::String(f.to_string()), Value::Number),
        MontyObject::String(s) => Value::String(s.clone()),
        MontyObject::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        MontyObject::List(items)
        | MontyObject::Tuple(items)
        | MontyObject::Set(items)
        | MontyObject::FrozenSet(items)
        | MontyObject::NamedTuple { values: items, .. } => Value::Array(items.iter().map(to_json).collect()),
        MontyObject::Dict(pairs) => Value::Object(object_of(pairs, depth)),
        MontyObject::Dataclass { attrs, .. } => Value::Object(object_of(attrs, depth)),
        other => Value::String(other.to_string()),
    }
}

fn object_of<'a>(pairs: impl IntoIterator<Item = &'a (MontyObject, MontyObject)>, depth: usize) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            let key = match k {
                MontyObject::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key, to_json_at(v, depth + 1))
        })
        .collect()
}

/// A JSON value as a sandbox value: objects become dicts, arrays lists,
/// integers that fit in 64 bits ints, other numbers floats.
pub(crate) fn from_json(value: &Value) -> MontyObject {
    match value {
        Value::Null => MontyObject::None,
        Value::Bool(b) => MontyObject::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => MontyObject::Int(i),
            None => MontyObject::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => MontyObject::String(s.clone()),
        Value::Array(items) => MontyObject::List(items.iter().map(from_json).collect()),
        Value::Object(map) => MontyObject::dict(
            map.iter().map(|(k, v)| (MontyObject::String(k.clone()), from_json(v))).collect::<Vec<_>>(),
        ),
    }
}
