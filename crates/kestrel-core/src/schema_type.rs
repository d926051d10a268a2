//! Field types of Rust types: [`field_type_of`] reads a type's JSON schema
//! (from `schemars`) and maps it to the [`FieldType`] the same annotation
//! has in a DSPy string signature, so a typed signature and its string form
//! render the same prompt.
//!
//! | JSON schema | [`FieldType`] | e.g. |
//! |---|---|---|
//! | `string` / `integer` / `number` / `boolean` / `null` | `Str` / `Int` / `Float` / `Bool` / `None` | `String`, `i64`, `f64`, `bool`, `()` |
//! | `array` with `items` (or none) | `List(T)` (`List(Any)`) | `Vec<T>`, `HashSet<T>`, `[T; N]` |
//! | `array` with `prefixItems` | `Tuple([..])` | `(A, B)` |
//! | `object` without `properties` | `Dict(Str, V)` from `additionalProperties` | `HashMap<String, V>` |
//! | `{}` / `true` | `Any` | `serde_json::Value` |
//! | `type: [X, "null"]`, `anyOf` with `null` | `Union[X, NoneType]` | `Option<X>` |
//! | string `enum` (or `oneOf` of string `const`s) with a title | `Enum { name, members }` | unit-variant enums |
//! | other `enum` / `const` | `Literal([..])` | |
//! | other `anyOf` / `oneOf` | `Union([..])` | `#[serde(untagged)]` enums of plain types |
//! | `anyOf` / `oneOf` with inline objects | `Model { name: title, schema }` | enums with struct variants |
//! | `object` with `properties` | `Model { name: title, schema }` | structs |
//! | `"x-kestrel-type": "Image"` (also `History`, `Tool`, `ToolCalls`) | `Custom(..)` | [`crate::Image`], [`crate::History`], [`crate::ToolSpec`], [`crate::ToolCalls`] |
//!
//! Enum members are named by their serialized value (the schema gives no
//! other name). Model schemas are put into pydantic's layout: no `$schema`
//! or `format`, a `title` on the model, on each `$defs` entry and on each
//! property (`first_name` → `First Name`, none on `$ref` properties),
//! `Option` properties as `anyOf: [X, {"type": "null"}]` with
//! `"default": null` when not required, nested types in `$defs`.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use crate::types::FieldType;

/// Deepest nesting followed when converting (recursive schemas stop here).
const MAX_DEPTH: usize = 64;

/// Schema keys that describe a value rather than constrain it; they stay on
/// the outside when `type: [X, "null"]` becomes `anyOf`.
const METADATA: [&str; 7] = ["title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"];

/// The [`FieldType`] of a Rust type, from its JSON schema.
///
/// `String`, `i64`, `f64`, `bool`, `Vec<String>`, `HashMap<String, i64>` and
/// `Option<String>` give exactly the types of `str`, `int`, `float`, `bool`,
/// `list[str]`, `dict[str, int]` and `Optional[str]`.
pub fn field_type_of<T: JsonSchema + ?Sized>() -> FieldType {
    let schema = SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>();
    FieldType::from_json_schema(schema.as_value())
}

impl FieldType {
    /// The field type a JSON schema describes (see the [module docs](crate::schema_type)
    /// for the mapping). Anything unrecognised is `Any`.
    pub fn from_json_schema(schema: &Value) -> FieldType {
        let cleaned = pydantic_layout(schema);
        let defs = cleaned.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
        let converter = Converter { defs: &defs };
        if let Some(custom) = custom_marker(&cleaned) {
            return FieldType::Custom(custom);
        }
        match &cleaned {
            // The root model keeps its own `$defs`.
            Value::Object(map) if is_model(map) => converter.model(map, None, Some(&cleaned)),
            _ => converter.convert(&cleaned, None, 0),
        }
    }
}

/// A JSON schema rewritten into pydantic's layout (see the module docs).
pub fn pydantic_layout(schema: &Value) -> Value {
    let mut out = schema.clone();
    if let Value::Object(map) = &mut out {
        map.shift_remove("$schema");
    }
    clean(&mut out);
    out
}

fn clean(node: &mut Value) {
    let Value::Object(map) = node else { return };
    map.shift_remove("format");
    nullable_to_any_of(map);
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = map.get_mut(key) {
            clean(child);
        }
    }
    for key in ["prefixItems", "anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(items)) = map.get_mut(key) {
            items.iter_mut().for_each(clean);
        }
    }
    if let Some(Value::Object(defs)) = map.get_mut("$defs") {
        for (name, def) in defs.iter_mut() {
            clean(def);
            if let Value::Object(d) = def
                && !d.contains_key("title")
            {
                d.insert("title".into(), Value::String(name.clone()));
            }
        }
    }
    let required: Vec<String> = match map.get("required") {
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            clean(prop);
            let Value::Object(p) = prop else { continue };
            if !p.contains_key("title") && !is_reference(p) {
                p.insert("title".into(), Value::String(python_title(name)));
            }
            if !required.contains(name) && is_nullable(p) && !p.contains_key("default") {
                p.insert("default".into(), Value::Null);
            }
        }
    }
}

/// `{"type": [X, "null"], ...}` → `{"anyOf": [{"type": X, ...}, {"type": "null"}]}`.
fn nullable_to_any_of(map: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = map.get("type") else { return };
    let non_null: Vec<Value> = types.iter().filter(|t| t.as_str() != Some("null")).cloned().collect();
    if non_null.len() != 1 || non_null.len() == types.len() {
        return;
    }
    let mut inner = Map::new();
    let mut outer = Map::new();
    for (key, value) in std::mem::take(map) {
        if METADATA.contains(&key.as_str()) {
            outer.insert(key, value);
        } else {
            inner.insert(key, value);
        }
    }
    inner.insert("type".into(), non_null.into_iter().next().unwrap_or(Value::Null));
    let null = Value::Object(Map::from_iter([("type".to_string(), Value::from("null"))]));
    outer.insert("anyOf".into(), Value::Array(vec![Value::Object(inner), null]));
    *map = outer;
}

/// A `$ref`, or `Optional` of one: pydantic gives these no property title.
fn is_reference(p: &Map<String, Value>) -> bool {
    if p.contains_key("$ref") {
        return true;
    }
    match p.get("anyOf") {
        Some(Value::Array(members)) => {
            members.len() == 2 && members.iter().any(|m| m.get("$ref").is_some()) && members.iter().any(is_null)
        }
        _ => false,
    }
}

fn is_nullable(p: &Map<String, Value>) -> bool {
    matches!(p.get("anyOf"), Some(Value::Array(members)) if members.iter().any(is_null))
}

fn is_null(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// The custom type a schema names with `"x-kestrel-type"` (the schemas of
/// [`crate::History`], [`crate::Image`], [`crate::ToolSpec`] and
/// [`crate::ToolCalls`]), so typed signatures get DSPy's custom types.
fn custom_marker(schema: &Value) -> Option<crate::CustomType> {
    schema.get("x-kestrel-type").and_then(Value::as_str).and_then(crate::CustomType::from_name)
}

fn is_model(map: &Map<String, Value>) -> bool {
    map.contains_key("properties") && map.get("type").is_none_or(|t| t.as_str() == Some("object"))
}

/// Python's `name.title().replace('_', ' ')`, as pydantic titles properties.
fn python_title(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev_cased = false;
    for c in name.chars() {
        if prev_cased {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        prev_cased = c.is_alphabetic();
    }
    out.replace('_', " ").trim().to_string()
}

struct Converter<'a> {
    defs: &'a Map<String, Value>,
}

impl Converter<'_> {
    fn convert(&self, node: &Value, name: Option<&str>, depth: usize) -> FieldType {
        let Value::Object(map) = node else { return FieldType::Any };
        if depth > MAX_DEPTH {
            return FieldType::Any;
        }
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            let key = reference.rsplit('/').next().unwrap_or(reference);
            return match self.defs.get(key) {
                Some(def) => self.convert(def, Some(key), depth + 1),
                None => FieldType::Any,
            };
        }
        if let Some(custom) = custom_marker(node) {
            return FieldType::Custom(custom);
        }
        let title = map.get("title").and_then(Value::as_str).or(name);
        if let Some(value) = map.get("const") {
            return FieldType::Literal(vec![value.clone()]);
        }
        if let Some(Value::Array(values)) = map.get("enum") {
            return enum_or_literal(title, values.clone());
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            let Some(Value::Array(members)) = map.get(key) else { continue };
            if key == "allOf" && members.len() == 1 {
                return self.convert(&members[0], title, depth + 1);
            }
            if key == "allOf" {
                return FieldType::Any;
            }
            if let (Some(title), Some(values)) = (title, string_consts(members)) {
                return enum_or_literal(Some(title), values);
            }
            // Variants carrying inline objects (data enums) have no class of
            // their own to name: the whole type is one model.
            if members.iter().any(|m| m.get("properties").is_some()) {
                return self.model(map, title, None);
            }
            return union(members.iter().map(|m| self.convert(m, None, depth + 1)).collect());
        }
        match map.get("type") {
            Some(Value::String(t)) => self.typed(t, map, title, depth),
            Some(Value::Array(types)) => {
                union(types.iter().filter_map(Value::as_str).map(|t| self.typed(t, map, title, depth)).collect())
            }
            _ if is_model(map) => self.model(map, title, None),
            _ => FieldType::Any,
        }
    }

    fn typed(&self, t: &str, map: &Map<String, Value>, title: Option<&str>, depth: usize) -> FieldType {
        match t {
            "string" => FieldType::Str,
            "integer" => FieldType::Int,
            "number" => FieldType::Float,
            "boolean" => FieldType::Bool,
            "null" => FieldType::None,
            "array" => match (map.get("prefixItems"), map.get("items")) {
                (Some(Value::Array(items)), _) => {
                    FieldType::Tuple(items.iter().map(|i| self.convert(i, None, depth + 1)).collect())
                }
                (_, Some(items)) => FieldType::List(Box::new(self.convert(items, None, depth + 1))),
                _ => FieldType::List(Box::new(FieldType::Any)),
            },
            "object" if map.contains_key("properties") => self.model(map, title, None),
            "object" => {
                let value = match map.get("additionalProperties") {
                    Some(v @ Value::Object(_)) => self.convert(v, None, depth + 1),
                    _ => FieldType::Any,
                };
                FieldType::Dict(Box::new(FieldType::Str), Box::new(value))
            }
            _ => FieldType::Any,
        }
    }

    /// A model: its schema with the `$defs` it reaches (or `root` as is).
    fn model(&self, map: &Map<String, Value>, title: Option<&str>, root: Option<&Value>) -> FieldType {
        let name = map.get("title").and_then(Value::as_str).or(title).unwrap_or("object").to_string();
        if let Some(root) = root {
            return FieldType::Model { name, schema: root.clone() };
        }
        let mut body = map.clone();
        body.shift_remove("$defs");
        if !body.contains_key("title") {
            body.insert("title".into(), Value::String(name.clone()));
        }
        let mut needed: Vec<String> = Vec::new();
        collect_refs(&Value::Object(body.clone()), &mut needed);
        let mut i = 0;
        while let Some(key) = needed.get(i).cloned() {
            if let Some(def) = self.defs.get(&key) {
                collect_refs(def, &mut needed);
            }
            i += 1;
        }
        let defs: Map<String, Value> =
            self.defs.iter().filter(|(k, _)| needed.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        if !defs.is_empty() {
            body.insert("$defs".into(), Value::Object(defs));
        }
        FieldType::Model { name, schema: Value::Object(body) }
    }
}

/// Names of every `#/$defs/...` reference in `node`, added to `out` once.
fn collect_refs(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "$ref"
                    && let Some(name) = value.as_str().and_then(|r| r.strip_prefix("#/$defs/"))
                {
                    if !out.iter().any(|n| n == name) {
                        out.push(name.to_string());
                    }
                } else if key != "$defs" && key != "enum" && key != "const" && key != "default" {
                    collect_refs(value, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
        _ => {}
    }
}

/// The string values of `members` if every one is a string `const` (or a
/// one-value string `enum`), as schemars writes documented unit variants.
fn string_consts(members: &[Value]) -> Option<Vec<Value>> {
    members
        .iter()
        .map(|m| match (m.get("const"), m.get("enum")) {
            (Some(v @ Value::String(_)), _) => Some(v.clone()),
            (_, Some(Value::Array(vs))) if vs.len() == 1 && vs[0].is_string() => Some(vs[0].clone()),
            _ => None,
        })
        .collect()
}

/// A titled all-string `enum` is an Enum class; anything else a Literal.
fn enum_or_literal(title: Option<&str>, values: Vec<Value>) -> FieldType {
    match title {
        Some(name) if !values.is_empty() && values.iter().all(Value::is_string) => FieldType::Enum {
            name: name.to_string(),
            members: values.into_iter().map(|v| (v.as_str().unwrap_or_default().to_string(), v)).collect(),
        },
        _ => FieldType::Literal(values),
    }
}

/// A flattened, de-duplicated union (one member stands alone), with
/// `NoneType` moved last as `Optional` has it.
fn union(members: Vec<FieldType>) -> FieldType {
    let mut flat: Vec<FieldType> = Vec::new();
    for m in members {
        let items = match m {
            FieldType::Union(items) => items,
            other => vec![other],
        };
        for t in items {
            if !flat.contains(&t) {
                flat.push(t);
            }
        }
    }
    if let Some(i) = flat.iter().position(|t| *t == FieldType::None) {
        let none = flat.remove(i);
        flat.push(none);
    }
    match flat.len() {
        0 => FieldType::Any,
        1 => flat.pop().unwrap_or(FieldType::Any),
        _ => FieldType::Union(flat),
    }
}

/// What `#[derive(Signature)]` generated code needs; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use schemars;
    pub use serde;
    pub use serde_json;

    use crate::field::FieldSpec;
    use crate::signature::SignatureSpec;

    /// Build a derived signature's spec. The derive has already checked the
    /// field names (identifiers, unique, at least one output), so this cannot
    /// fail for generated input.
    #[allow(clippy::panic)]
    pub fn signature_spec(type_name: &str, fields: Vec<FieldSpec>, instructions: Option<&str>) -> SignatureSpec {
        match SignatureSpec::new(fields, instructions.map(str::to_string)) {
            Ok(spec) => spec,
            Err(e) => panic!("#[derive(Signature)] on `{type_name}` built an invalid signature: {e}"),
        }
    }
}
