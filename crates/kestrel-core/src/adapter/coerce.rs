//! Converting one parsed output value to its field's [`FieldType`], as DSPy
//! 3.4.1's `parse_value` does with pydantic's lax validation.
//!
//! [`parse_value`] follows DSPy's order: `str` takes the value's Python
//! `str()`; an Enum takes a member by value, then by name; a Literal takes
//! the value as is, stripped of quotes or of a `Literal[...]` wrapper; a
//! text value for any other type is read as (repaired) JSON, or failing
//! that as a Python literal, and then validated. Validation ([`validate`])
//! mirrors pydantic's lax mode: `"3"` → 3, `3.0` → 3 for an int (fractions
//! are rejected), ints widen to floats (kept as f64 so they print `7.0`),
//! `"yes"`/`"off"`/`0`/`1` are booleans, and unions prefer an exact match
//! before a converting one (pydantic's "smart" unions).

use std::fmt;

use serde_json::{Map, Number, Value};

use crate::adapter::pyeq::py_eq;
use crate::adapter::pyfmt::{py_number, py_repr, py_str};
use crate::adapter::pyliteral::literal_eval;
use crate::adapter::repair::{MAX_DEPTH, repair_json};
use crate::adapter::schema_check::validate_schema;
use crate::example::Fields;
use crate::field::FieldSpec;
use crate::types::FieldType;

/// Why a value does not fit its type; `loc` is the path inside the value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CoerceError {
    loc: Vec<String>,
    msg: String,
}

impl CoerceError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        Self { loc: Vec::new(), msg: msg.into() }
    }

    /// `expected {what}, got {value} ({type})`.
    pub(crate) fn expected(what: &str, got: &Value) -> Self {
        Self::new(format!("expected {what}, got {} ({})", short_repr(got), py_type(got)))
    }

    /// The same error, one level further out (`key` is where it happened).
    pub(crate) fn at(mut self, key: impl Into<String>) -> Self {
        self.loc.insert(0, key.into());
        self
    }
}

impl fmt::Display for CoerceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.loc.is_empty() {
            f.write_str(&self.msg)
        } else {
            write!(f, "at `{}`: {}", self.loc.join("."), self.msg)
        }
    }
}

/// How much converting a validation may do. Unions try each member
/// `Exact`ly first, then `Strict` (int → float only), then `Lax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Mode {
    Exact,
    Strict,
    Lax,
}

/// DSPy's `parse_value(value, annotation)`: `value` is the section text
/// (chat) or the JSON value (JSON adapter).
pub(crate) fn parse_value(value: &Value, ty: &FieldType) -> Result<Value, CoerceError> {
    let result = match ty {
        FieldType::Str => return Ok(Value::String(py_str(value))),
        FieldType::Enum { name, members } => find_enum_member(value, name, members),
        FieldType::Literal(allowed) => match literal_shortcut(value, allowed) {
            Ok(found) => return Ok(found),
            Err(text) => convert(&text, ty),
        },
        _ => convert(value, ty),
    };
    result.map_err(|e| CoerceError::new(format!("the value is not a valid {}: {e}", ty.python_name())))
}

/// The end of `parse_value`: non-text values are validated as they are;
/// text is validated as is for unions of `str` and `None`, and otherwise
/// read first ([`text_candidate`]).
fn convert(value: &Value, ty: &FieldType) -> Result<Value, CoerceError> {
    match value {
        Value::String(text) if !union_of_str_and_none(ty) => validate(&text_candidate(text), ty, Mode::Lax, 0),
        other => validate(other, ty, Mode::Lax, 0),
    }
}

/// A text value read as DSPy does: `json_repair.loads`, and when that finds
/// nothing, `ast.literal_eval`, and when that fails, the text itself.
pub(crate) fn text_candidate(text: &str) -> Value {
    match repair_json(text) {
        Some(Value::String(s)) if s.is_empty() && !text.is_empty() => python_or_text(text),
        Some(v) => v,
        None if text.is_empty() => Value::String(String::new()),
        None => python_or_text(text),
    }
}

fn python_or_text(text: &str) -> Value {
    literal_eval(text).unwrap_or_else(|| Value::String(text.to_string()))
}

/// `Optional[str]`, `str | int | None`...: DSPy validates these on the raw text.
fn union_of_str_and_none(ty: &FieldType) -> bool {
    matches!(ty, FieldType::Union(m) if m.contains(&FieldType::Str) && m.contains(&FieldType::None))
}

/// DSPy's `find_enum_member`: by value first, then by member name. Beyond
/// DSPy, a text equal to a non-string member value's text (`"1"` for `1`)
/// also matches. The result is the member's value.
fn find_enum_member(value: &Value, name: &str, members: &[(String, Value)]) -> Result<Value, CoerceError> {
    if let Some((_, v)) = members.iter().find(|(_, v)| py_eq(v, value)) {
        return Ok(v.clone());
    }
    if let Value::String(text) = value {
        let by_name = members.iter().find(|(n, _)| n == text);
        let by_text = || members.iter().find(|(_, v)| !v.is_string() && py_str(v) == *text);
        if let Some((_, v)) = by_name.or_else(by_text) {
            return Ok(v.clone());
        }
    }
    Err(CoerceError::new(format!("{} is not a valid name or value for the enum {name}", py_str(value))))
}

/// DSPy's Literal rule: the value itself if it equals an allowed value;
/// for text, stripped of a `Literal[...]`/`str[...]` wrapper and of one
/// pair of quotes, then the text if it is an allowed string. Otherwise
/// `Err` with the value to convert further (the stripped text for text),
/// which is how `"2"` becomes `2` for `Literal[1, 2, 3]`.
fn literal_shortcut(value: &Value, allowed: &[Value]) -> Result<Value, Value> {
    if allowed.iter().any(|a| py_eq(a, value)) {
        return Ok(value.clone());
    }
    let Value::String(text) = value else { return Err(value.clone()) };
    let mut v = text.trim();
    if (v.starts_with("Literal[") || v.starts_with("str[")) && v.ends_with(']') {
        let open = v.find('[').map_or(0, |p| p + 1);
        v = v.get(open..v.len() - 1).unwrap_or("");
    }
    if let [q, .., last] = v.as_bytes() {
        if q == last && (*q == b'"' || *q == b'\'') {
            v = v.get(1..v.len() - 1).unwrap_or("");
        }
    }
    match allowed.iter().find(|a| a.as_str() == Some(v)) {
        Some(a) => Ok(a.clone()),
        None => Err(Value::String(v.to_string())),
    }
}

/// DSPy's `apply_output_field_defaults` and the completeness check after
/// it: a missing output field takes its declared default, else `null` when
/// its type allows `None`; if any other is missing, `Err` with the names of
/// the fields that do have a value, in signature order (as DSPy reports
/// them).
pub(crate) fn complete(outputs: &[&FieldSpec], values: Vec<Option<Value>>) -> Result<Fields, Vec<String>> {
    let mut fields = Fields::new();
    let mut missing = false;
    for (field, value) in outputs.iter().zip(values) {
        match value {
            Some(v) => {
                fields.insert(field.name.clone(), v);
            }
            None if field.default.is_some() => {
                fields.insert(field.name.clone(), field.default.clone().unwrap_or(Value::Null));
            }
            None if allows_none(&field.ty) => {
                fields.insert(field.name.clone(), Value::Null);
            }
            None => missing = true,
        }
    }
    if missing { Err(fields.keys().cloned().collect()) } else { Ok(fields) }
}

/// DSPy's `annotation_allows_none`: `None`, or a union with `None` in it.
pub(crate) fn allows_none(ty: &FieldType) -> bool {
    match ty {
        FieldType::None => true,
        FieldType::Union(members) => members.iter().any(allows_none),
        _ => false,
    }
}

/// Validate `v` against `ty` as pydantic's `TypeAdapter(ty).validate_python`
/// would, returning the JSON form of the result.
pub(crate) fn validate(v: &Value, ty: &FieldType, mode: Mode, depth: usize) -> Result<Value, CoerceError> {
    if depth > 2 * MAX_DEPTH {
        return Err(CoerceError::new("the value is nested too deeply"));
    }
    match ty {
        FieldType::Str => match v {
            Value::String(_) => Ok(v.clone()),
            _ => Err(CoerceError::expected("a string", v)),
        },
        FieldType::Int => to_int(v, mode),
        FieldType::Float => to_float(v, mode),
        FieldType::Bool => to_bool(v, mode),
        FieldType::Any => Ok(v.clone()),
        FieldType::None => match v {
            Value::Null => Ok(Value::Null),
            _ => Err(CoerceError::expected("None", v)),
        },
        FieldType::List(item) => match v {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, x)| validate(x, item, mode, depth + 1).map_err(|e| e.at(i.to_string())))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Err(CoerceError::expected("a list", v)),
        },
        FieldType::Tuple(types) => match v {
            Value::Array(items) if items.len() == types.len() => items
                .iter()
                .zip(types)
                .enumerate()
                .map(|(i, (x, t))| validate(x, t, mode, depth + 1).map_err(|e| e.at(i.to_string())))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Err(CoerceError::expected(&format!("a list of {} items", types.len()), v)),
        },
        FieldType::Dict(key_ty, value_ty) => match v {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, x) in map {
                    let key = validate(&Value::String(k.clone()), key_ty, mode, depth + 1).map_err(|e| e.at(k))?;
                    let val = validate(x, value_ty, mode, depth + 1).map_err(|e| e.at(k))?;
                    out.insert(json_key(&key), val);
                }
                Ok(Value::Object(out))
            }
            _ => Err(CoerceError::expected("a dict", v)),
        },
        FieldType::Union(members) => validate_union(v, members, mode, |x, m, md| validate(x, m, md, depth + 1)),
        FieldType::Literal(allowed) => {
            match_value(v, allowed, mode).ok_or_else(|| CoerceError::expected(&one_of(allowed), v))
        }
        FieldType::Enum { name, members } => {
            let values: Vec<Value> = members.iter().map(|(_, val)| val.clone()).collect();
            match_value(v, &values, mode)
                .ok_or_else(|| CoerceError::expected(&format!("a {name} value, {}", one_of(&values)), v))
        }
        FieldType::Model { schema, .. } => validate_schema(v, schema, schema, mode, depth + 1),
        FieldType::Custom(custom) => validate_custom(v, *custom),
    }
}

/// A custom type's value in its canonical JSON form.
fn validate_custom(v: &Value, custom: crate::custom_type::CustomType) -> Result<Value, CoerceError> {
    use crate::custom_type::CustomType;
    let invalid = |e: crate::error::CoreError| CoerceError::new(e.to_string());
    let json = |r: Result<Value, serde_json::Error>| r.map_err(|e| CoerceError::new(e.to_string()));
    match custom {
        CustomType::ToolCalls => crate::ToolCalls::from_value(v).map(|c| c.to_value()).map_err(invalid),
        CustomType::Image => match crate::Image::from_value(v) {
            Some(image) => json(serde_json::to_value(image)),
            None => Err(CoerceError::expected("an image URL", v)),
        },
        CustomType::History => match crate::History::from_value(v).map_err(invalid)? {
            Some(history) => json(serde_json::to_value(history)),
            None => Ok(Value::Null),
        },
        CustomType::Tool => json(serde_json::from_value::<crate::ToolSpec>(v.clone()).and_then(serde_json::to_value)),
        #[allow(unreachable_patterns)]
        _ => Ok(v.clone()),
    }
}

/// Pydantic's smart union: the first member that takes the value exactly,
/// else the first that takes it strictly, else the first that converts it.
pub(crate) fn validate_union<T, F>(v: &Value, members: &[T], mode: Mode, mut check: F) -> Result<Value, CoerceError>
where
    F: FnMut(&Value, &T, Mode) -> Result<Value, CoerceError>,
{
    let mut first_err = None;
    for step in [Mode::Exact, Mode::Strict, Mode::Lax] {
        if step > mode {
            break;
        }
        for m in members {
            match check(v, m, step) {
                Ok(x) => return Ok(x),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
    }
    let detail = first_err.map(|e| format!(" ({e})")).unwrap_or_default();
    Err(CoerceError::new(format!("no member of the union accepts {}{detail}", short_repr(v))))
}

/// One of `allowed` equal to `v`: same JSON type in exact/strict mode,
/// Python equality (`1 == 1.0 == True`) in lax mode.
pub(crate) fn match_value(v: &Value, allowed: &[Value], mode: Mode) -> Option<Value> {
    let same = allowed.iter().find(|a| *a == v || (same_kind(a, v) && py_eq(a, v)));
    let found = match same {
        Some(a) => Some(a),
        None if mode == Mode::Lax => allowed.iter().find(|a| py_eq(a, v)),
        None => None,
    };
    found.cloned()
}

fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn one_of(values: &[Value]) -> String {
    let parts: Vec<String> = values.iter().map(py_repr).collect();
    format!("one of {}", parts.join(", "))
}

/// A validated dict key back as JSON object key text.
fn json_key(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => py_number(n),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        other => py_repr(other),
    }
}

/// Pydantic's `int`: integers; in lax mode also integral floats, bools and
/// integer text (`" 42 "`, `"1_000"`, `"3.0"`).
pub(crate) fn to_int(v: &Value, mode: Mode) -> Result<Value, CoerceError> {
    let lax = mode == Mode::Lax;
    match v {
        Value::Number(n) if !n.is_f64() => Ok(v.clone()),
        Value::Number(n) if lax => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.is_finite() && f.fract() == 0.0 {
                int_from_f64(f).ok_or_else(|| CoerceError::expected("an integer in range", v))
            } else {
                Err(CoerceError::new(format!(
                    "expected an integer, got {}, which has a fractional part",
                    short_repr(v)
                )))
            }
        }
        Value::Bool(b) if lax => Ok(Value::from(i64::from(*b))),
        Value::String(s) if lax => {
            int_from_text(s).ok_or_else(|| CoerceError::new(format!("unable to parse {} as an integer", short_repr(v))))
        }
        _ => Err(CoerceError::expected("an integer", v)),
    }
}

fn int_from_f64(f: f64) -> Option<Value> {
    if (-9.2e18..9.2e18).contains(&f) {
        Some(Value::from(f as i64))
    } else if (0.0..1.8e19).contains(&f) {
        Some(Value::from(f as u64))
    } else {
        None
    }
}

fn int_from_text(s: &str) -> Option<Value> {
    let t = s.trim();
    let (sign, body) = match t.strip_prefix(['-', '+']) {
        Some(rest) => (&t[..1], rest),
        None => ("", t),
    };
    // `3.0` and `3.00` are integers to pydantic; `3.5` is not.
    let body = match body.split_once('.') {
        Some((int, frac)) if frac.bytes().all(|c| c == b'0') => int,
        Some(_) => return None,
        None => body,
    };
    let bytes = body.as_bytes();
    let digits_ok = !bytes.is_empty()
        && bytes.iter().all(|c| c.is_ascii_digit() || *c == b'_')
        && bytes.first() != Some(&b'_')
        && bytes.last() != Some(&b'_')
        && !body.contains("__");
    if !digits_ok {
        return None;
    }
    let digits: String = body.chars().filter(|&c| c != '_').collect();
    let text = format!("{}{digits}", if sign == "-" { "-" } else { "" });
    text.parse::<i64>().map(Value::from).ok().or_else(|| text.parse::<u64>().map(Value::from).ok())
}

/// Pydantic's `float`: numbers (ints widen); in lax mode also bools and
/// numeric text. The result is always an f64 JSON number.
pub(crate) fn to_float(v: &Value, mode: Mode) -> Result<Value, CoerceError> {
    let f = match v {
        Value::Number(n) if n.is_f64() || mode >= Mode::Strict => n.as_f64(),
        Value::Bool(b) if mode == Mode::Lax => Some(if *b { 1.0 } else { 0.0 }),
        Value::String(s) if mode == Mode::Lax => {
            let t = s.trim();
            let clean = if t.contains('_') { t.replace('_', "") } else { t.to_string() };
            match clean.parse::<f64>() {
                Ok(f) => Some(f),
                Err(_) => return Err(CoerceError::new(format!("unable to parse {} as a number", short_repr(v)))),
            }
        }
        _ => None,
    };
    match f {
        Some(f) => Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| CoerceError::expected("a finite number (JSON has no inf or nan)", v)),
        None => Err(CoerceError::expected("a number", v)),
    }
}

/// Pydantic's `bool`: booleans; in lax mode also 0/1 and the words
/// `true/false, yes/no, on/off, t/f, y/n, 1/0` in any case.
pub(crate) fn to_bool(v: &Value, mode: Mode) -> Result<Value, CoerceError> {
    let lax = mode == Mode::Lax;
    let b = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) if lax => n.as_f64().and_then(|f| {
            if f == 0.0 {
                Some(false)
            } else if f == 1.0 {
                Some(true)
            } else {
                None
            }
        }),
        Value::String(s) if lax => match s.trim().to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
            _ => None,
        },
        _ => None,
    };
    b.map(Value::Bool).ok_or_else(|| match v {
        Value::String(_) if lax => CoerceError::new(format!(
            "unable to interpret {} as a boolean (true/false, yes/no, on/off, t/f, y/n, 1/0)",
            short_repr(v)
        )),
        _ => CoerceError::expected("a boolean", v),
    })
}

/// Python's type name of the object a JSON value stands for.
pub(crate) fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `repr` of a value, cut to a readable length.
pub(crate) fn short_repr(v: &Value) -> String {
    let text = py_repr(v);
    if text.chars().count() <= 80 {
        return text;
    }
    let cut: String = text.chars().take(77).collect();
    format!("{cut}...")
}
