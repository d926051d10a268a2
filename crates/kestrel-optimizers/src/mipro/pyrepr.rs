//! Python's text for the values the proposer's prompts show: `str()` of a
//! field value, and `repr()` of a list of `dspy.Example` — the dataset
//! summary's `examples` input is literally
//! `order_input_keys_in_string(repr(trainset[a:b]))`.

use kestrel_core::Example;
use kestrel_core::text::is_python_space;
use kestrel_core::types::{python_literal_repr, python_str_repr};
use serde_json::{Map, Value};

/// Python's `str(value)`: strings as they are, everything else as its
/// `repr` (`True`, `None`, `2.0`, `['a', 1]`).
pub(crate) fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_literal_repr(other),
    }
}

/// `repr(dspy.Example)`: `Example({...}) (input_keys={...})`, without the
/// `dspy_`-prefixed keys; the input keys are a Python set (`set()` when
/// empty, `None` when never marked).
pub(crate) fn example_repr(example: &Example) -> String {
    let store: Map<String, Value> =
        example.iter().filter(|(k, _)| !k.starts_with("dspy_")).map(|(k, v)| (k.clone(), v.clone())).collect();
    let keys = match example.input_keys() {
        None => "None".to_string(),
        Some(keys) if keys.is_empty() => "set()".to_string(),
        Some(keys) => {
            let parts: Vec<String> = keys.iter().map(|k| python_str_repr(k)).collect();
            format!("{{{}}}", parts.join(", "))
        }
    };
    format!("Example({}) (input_keys={keys})", python_literal_repr(&Value::Object(store)))
}

/// `repr(list_of_examples)`.
pub(crate) fn examples_repr(examples: &[Example]) -> String {
    let parts: Vec<String> = examples.iter().map(example_repr).collect();
    format!("[{}]", parts.join(", "))
}

/// DSPy's `order_input_keys_in_string`: every `input_keys={...}` in the text
/// gets its comma-separated items stripped and sorted (Python's set order is
/// not stable across runs; this makes the prompt stable). The same rewrite
/// as DSPy's regular expression `input_keys=\{([^\}]+)\}`, applied left to
/// right without overlaps.
pub(crate) fn order_input_keys_in_string(text: &str) -> String {
    const OPEN: &str = "input_keys={";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        let body_start = at + OPEN.len();
        match rest[body_start..].find('}') {
            Some(len) if len > 0 => {
                let mut keys: Vec<&str> = rest[body_start..body_start + len].split(',').map(python_strip).collect();
                keys.sort_unstable();
                out.push_str(&rest[..body_start]);
                out.push_str(&keys.join(", "));
                out.push('}');
                rest = &rest[body_start + len + 1..];
            }
            // `input_keys={}` does not match; the search goes on after its
            // first character, as `re.sub` does.
            Some(_) => {
                let step = at + 1;
                out.push_str(&rest[..step]);
                rest = &rest[step..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

fn python_strip(s: &str) -> &str {
    s.trim_matches(is_python_space)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example(value: Value, inputs: &[&str]) -> Example {
        serde_json::from_value::<Example>(value).unwrap().with_inputs(inputs.iter().copied())
    }

    #[test]
    fn examples_are_written_as_python_writes_them() {
        // Checked against DSPy 3.4.1: order_input_keys_in_string(repr([...])).
        let list = [
            example(json!({"question": "What's 2+2?", "answer": 4, "ok": true, "dspy_uuid": "x"}), &["question"]),
            example(json!({"context": ["a", "b"], "q": "say \"hi\"", "score": 0.5, "none": null}), &["q", "context"]),
        ];
        assert_eq!(
            order_input_keys_in_string(&examples_repr(&list)),
            "[Example({'question': \"What's 2+2?\", 'answer': 4, 'ok': True}) (input_keys={'question'}), \
Example({'context': ['a', 'b'], 'q': 'say \"hi\"', 'score': 0.5, 'none': None}) (input_keys={'context', 'q'})]"
        );
        assert_eq!(examples_repr(&[]), "[]");
        let unmarked = serde_json::from_value::<Example>(json!({"a": 1.0})).unwrap();
        assert_eq!(example_repr(&unmarked), "Example({'a': 1.0}) (input_keys=None)");
        assert_eq!(example_repr(&Example::new().with_inputs(Vec::<String>::new())), "Example({}) (input_keys=set())");
    }

    #[test]
    fn input_keys_are_sorted_wherever_they_occur() {
        assert_eq!(order_input_keys_in_string("input_keys={'b',  'a'} x"), "input_keys={'a', 'b'} x");
        assert_eq!(order_input_keys_in_string("input_keys={} input_keys={z,y}"), "input_keys={} input_keys={y, z}");
        assert_eq!(order_input_keys_in_string("input_keys={'b', 'a'"), "input_keys={'b', 'a'");
        assert_eq!(order_input_keys_in_string("none here"), "none here");
    }
}
