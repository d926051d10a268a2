//! Python's `==` between the objects JSON values stand for, as DSPy's
//! parsing code compares them (`1 == 1.0 == True`), for matching Enum
//! members and Literal values.

use serde_json::Value;

/// Python's `==` between the objects two JSON values stand for: numbers
/// compare by value across int and float, and `True == 1`, `False == 0`.
pub(crate) fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_) | Value::Bool(_), Value::Number(_) | Value::Bool(_)) => match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| py_eq(v, w)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A number (or bool) as an exact-enough comparable value.
fn num(v: &Value) -> Option<NumKey> {
    match v {
        Value::Bool(b) => Some(NumKey::Int(i128::from(*b))),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(NumKey::Int(i128::from(i)))
            } else if let Some(u) = n.as_u64() {
                Some(NumKey::Int(i128::from(u)))
            } else {
                n.as_f64().map(NumKey::Float)
            }
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Copy)]
enum NumKey {
    Int(i128),
    Float(f64),
}

impl PartialEq for NumKey {
    fn eq(&self, other: &Self) -> bool {
        match (*self, *other) {
            (NumKey::Int(a), NumKey::Int(b)) => a == b,
            (NumKey::Float(a), NumKey::Float(b)) => a == b,
            (NumKey::Int(i), NumKey::Float(f)) | (NumKey::Float(f), NumKey::Int(i)) => {
                f.fract() == 0.0 && (-1.8e38..=1.8e38).contains(&f) && f as i128 == i
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equality_is_pythons() {
        assert!(py_eq(&json!(1), &json!(1.0)));
        assert!(py_eq(&json!(true), &json!(1)));
        assert!(!py_eq(&json!("1"), &json!(1)));
        assert!(py_eq(&json!([1, {"a": 2}]), &json!([1.0, {"a": 2}])));
    }
}
