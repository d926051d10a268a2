//! Prompt formatting for the XML adapter: DSPy 3.4.1's `XMLAdapter.format`,
//! byte for byte.
//!
//! Every field is a block `<name>\nvalue\n</name>`. Outputs whose type is a
//! list, a dict or a model ("nested" types) are shown instead as an XML
//! skeleton built from the type's JSON schema (`<tags><item>...</item></tags>`)
//! and, in demo replies, as inline nested XML (`<item>` per list item, one
//! child per dict key, `<entry key="...">` for keys that are not names).
//! In `str` outputs and nested leaves, `&` and `<` are escaped; inputs are
//! sent as they are. The system message's field list and task description
//! are the chat adapter's.

use serde_json::{Map, Value};

use crate::adapter::prompt::{self, NOT_SUPPLIED, STRUCTURE_HEADER, Wording, field_placeholder, join_strip};
use crate::adapter::pyfmt::py_str;
use crate::adapter::render::field_value;
use crate::adapter::schema::type_schema;
use crate::error::Result;
use crate::example::Example;
use crate::field::FieldSpec;
use crate::message::Message;
use crate::signature::SignatureSpec;
use crate::types::FieldType;

/// System message, two messages per usable demo (incomplete ones first),
/// then the user message with `inputs` and the output reminder.
pub(crate) fn format(signature: &SignatureSpec, demos: &[Example], inputs: &Example) -> Result<Vec<Message>> {
    prompt::messages(signature, demos, inputs, &WORDING)
}

/// The system message and demo turns of [`format`].
pub(crate) fn format_prefix(signature: &SignatureSpec, demos: &[Example]) -> Vec<Message> {
    prompt::prefix(signature, demos, &WORDING)
}

/// The last user message of [`format`].
pub(crate) fn format_request(signature: &SignatureSpec, inputs: &Example) -> Option<Message> {
    prompt::request(signature, inputs, &WORDING)
}

const WORDING: Wording = Wording {
    structure: field_structure,
    assistant: assistant_content,
    reminder: output_requirements,
    user: user_content,
};

/// DSPy's `_uses_nested_xml`: `Optional[T]` is looked through; lists, dicts
/// and models (a model schema that is an object or an array of them) are
/// nested.
pub(crate) fn uses_nested_xml(ty: &FieldType) -> bool {
    match ty {
        FieldType::Union(members) => {
            let choices: Vec<&FieldType> = members.iter().filter(|m| **m != FieldType::None).collect();
            match choices.as_slice() {
                [only] => !matches!(only, FieldType::Union(_)) && uses_nested_xml(only),
                _ => false,
            }
        }
        FieldType::List(_) | FieldType::Dict(..) => true,
        FieldType::Model { schema, .. } => schema_is_nested(schema),
        _ => false,
    }
}

/// A model's schema: an object (a class or a mapping) or an array, or an
/// optional one of those.
fn schema_is_nested(schema: &Value) -> bool {
    match schema.get("type").and_then(Value::as_str) {
        Some("object" | "array") => true,
        Some(_) => false,
        None => match schema.get("anyOf").and_then(Value::as_array) {
            Some(choices) => {
                let real: Vec<&Value> =
                    choices.iter().filter(|c| c.get("type").and_then(Value::as_str) != Some("null")).collect();
                match real.as_slice() {
                    [only] => match only.get("$ref").and_then(Value::as_str) {
                        Some(_) => true,
                        None => schema_is_nested(only),
                    },
                    _ => false,
                }
            }
            None => schema.get("$ref").is_some(),
        },
    }
}

/// `<name>\nvalue\n</name>`.
fn block(name: &str, value: &str) -> String {
    format!("<{name}>\n{value}\n</{name}>")
}

/// `&` and `<` escaped, as DSPy escapes `str` outputs and nested leaves.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;")
}

/// DSPy's `XMLAdapter.format_field_with_value` for one field.
fn field_with_value(field: &FieldSpec, value: &Value) -> String {
    let output = !field.is_input();
    if output && uses_nested_xml(&field.ty) && (value.is_object() || value.is_array()) {
        return value_to_xml(value, &field.name, None);
    }
    let mut formatted = field_value(&field.ty, value);
    if output && field.ty.is_str() {
        formatted = escape(&formatted);
    }
    block(&field.name, &formatted)
}

/// DSPy's `_value_to_xml`: lists as `<item>` children, dicts as one child per
/// key (`<entry key="...">` when the key is not a name), leaves escaped,
/// `None` and empty lists as `<tag />`.
fn value_to_xml(value: &Value, tag: &str, key: Option<&str>) -> String {
    let attrs = key.map(|k| format!(" key={}", quote_attr(k))).unwrap_or_default();
    match value {
        Value::Array(items) => {
            let children: String = items.iter().map(|item| value_to_xml(item, "item", None)).collect();
            if children.is_empty() { format!("<{tag}{attrs} />") } else { format!("<{tag}{attrs}>{children}</{tag}>") }
        }
        Value::Object(map) => {
            let children: String = map
                .iter()
                .map(|(name, child)| {
                    if is_tag_name(name) {
                        value_to_xml(child, name, None)
                    } else {
                        value_to_xml(child, "entry", Some(name))
                    }
                })
                .collect();
            format!("<{tag}{attrs}>{children}</{tag}>")
        }
        Value::Null => format!("<{tag}{attrs} />"),
        other => format!("<{tag}{attrs}>{}</{tag}>", escape(&py_str(other))),
    }
}

/// DSPy's test for a dict key used as a tag: the key with `-` and `.` after
/// its first character read as `_` is a Python identifier.
fn is_tag_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return false };
    // Python's `isidentifier` (XID_Start, XID_Continue), read as Unicode's
    // alphabetic / alphanumeric classes.
    let start = first == '_' || first.is_alphabetic();
    start && chars.all(|c| c == '-' || c == '.' || c == '_' || c.is_alphanumeric())
}

/// Python's `xml.sax.saxutils.quoteattr`.
fn quote_attr(value: &str) -> String {
    let mut data = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '&' => data.push_str("&amp;"),
            '>' => data.push_str("&gt;"),
            '<' => data.push_str("&lt;"),
            '\n' => data.push_str("&#10;"),
            '\r' => data.push_str("&#13;"),
            '\t' => data.push_str("&#9;"),
            c => data.push(c),
        }
    }
    if data.contains('"') {
        if data.contains('\'') { format!("\"{}\"", data.replace('"', "&quot;")) } else { format!("'{data}'") }
    } else {
        format!("\"{data}\"")
    }
}

/// DSPy's `_xml_schema`: the skeleton of a nested type, from its JSON schema.
pub(crate) fn xml_schema(tag: &str, ty: &FieldType) -> String {
    let schema = type_schema(ty);
    let empty = Map::new();
    let defs = schema.get("$defs").and_then(Value::as_object).unwrap_or(&empty);
    schema_to_xml(tag, &schema, defs, &mut Vec::new())
}

/// DSPy's `_schema_to_xml`: references followed once per path (`...` on a
/// cycle), the first non-null choice of a union, `<item>` for array items,
/// one child per property, `...` for leaves.
fn schema_to_xml(tag: &str, schema: &Value, defs: &Map<String, Value>, seen: &mut Vec<String>) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        if seen.iter().any(|s| s == name) {
            return format!("<{tag}>...</{tag}>");
        }
        let Some(def) = defs.get(name) else { return format!("<{tag}>...</{tag}>") };
        seen.push(name.to_string());
        let out = schema_to_xml(tag, def, defs, seen);
        seen.pop();
        return out;
    }
    if let Some(choices) = schema.get("anyOf").and_then(Value::as_array).filter(|c| !c.is_empty()) {
        let pick =
            choices.iter().find(|c| c.get("type").and_then(Value::as_str) != Some("null")).unwrap_or(&choices[0]);
        return schema_to_xml(tag, pick, defs, seen);
    }
    if schema.get("type").and_then(Value::as_str) == Some("array") {
        let empty = Value::Object(Map::new());
        let item = schema_to_xml("item", schema.get("items").unwrap_or(&empty), defs, seen);
        return format!("<{tag}>{item}</{tag}>");
    }
    let children: String = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| props.iter().map(|(name, child)| schema_to_xml(name, child, defs, seen)).collect())
        .unwrap_or_default();
    if children.is_empty() { format!("<{tag}>...</{tag}>") } else { format!("<{tag}>{children}</{tag}>") }
}

/// The structure section: input placeholders, then output placeholders
/// (nested outputs as their skeleton). Not stripped, as in DSPy.
fn field_structure(signature: &SignatureSpec) -> String {
    let group = |fields: Vec<&FieldSpec>| -> String {
        let blocks: Vec<String> = fields
            .into_iter()
            .map(|f| {
                if !f.is_input() && uses_nested_xml(&f.ty) {
                    xml_schema(&f.name, &f.ty)
                } else {
                    field_with_value(f, &Value::String(field_placeholder(f)))
                }
            })
            .collect();
        blocks.join("\n\n")
    };
    let inputs = group(signature.input_fields().collect());
    let outputs = group(signature.output_fields().collect());
    [STRUCTURE_HEADER, &inputs, &outputs].join("\n\n")
}

/// A demo's assistant turn: every output (missing ones hold the
/// not-supplied text).
fn assistant_content(signature: &SignatureSpec, demo: &Example) -> String {
    let missing = Value::String(NOT_SUPPLIED.to_string());
    let blocks: Vec<String> =
        signature.output_fields().map(|f| field_with_value(f, demo.get(&f.name).unwrap_or(&missing))).collect();
    let parts: Vec<&str> = blocks.iter().map(String::as_str).collect();
    join_strip(&parts, "\n\n")
}

/// A user turn: `prefix`, the input blocks present in `values`, the
/// reminder, joined by blank lines and stripped.
fn user_content(signature: &SignatureSpec, values: &Example, prefix: &str, reminder: Option<&str>) -> String {
    let blocks: Vec<String> =
        signature.input_fields().filter_map(|f| values.get(&f.name).map(|v| field_with_value(f, v))).collect();
    let block_parts: Vec<&str> = blocks.iter().map(String::as_str).collect();
    let fields = join_strip(&block_parts, "\n\n");
    let mut parts = vec![prefix, fields.as_str()];
    parts.extend(reminder);
    parts.push("");
    join_strip(&parts, "\n\n")
}

/// `Respond with the corresponding output fields wrapped in XML tags ...`,
/// with the skeletons of nested outputs.
fn output_requirements(signature: &SignatureSpec) -> String {
    let tags: Vec<String> = signature.output_fields().map(|f| format!("`<{}>`", f.name)).collect();
    let schemas: Vec<String> =
        signature.output_fields().filter(|f| uses_nested_xml(&f.ty)).map(|f| xml_schema(&f.name, &f.ty)).collect();
    let mut out = format!("Respond with the corresponding output fields wrapped in XML tags {}.", tags.join(", then "));
    if !schemas.is_empty() {
        out.push_str(" Use this nested XML structure: ");
        out.push_str(&schemas.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_as_nested_xml() {
        let v = json!({"fish": 1, "&": 1, "new york": [], "x.y": null, "3d": "a<b", "é": true});
        assert_eq!(
            value_to_xml(&v, "counts", None),
            "<counts><fish>1</fish><entry key=\"&amp;\">1</entry><entry key=\"new york\" /><x.y /><entry \
             key=\"3d\">a&lt;b</entry><é>True</é></counts>"
        );
        assert_eq!(quote_attr("say \"hi\""), "'say \"hi\"'");
        assert_eq!(quote_attr("a\"b'c\n"), "\"a&quot;b'c&#10;\"");
    }

    #[test]
    fn nested_types() {
        let t = |s: &str| s.parse::<FieldType>().unwrap();
        assert!(uses_nested_xml(&t("list[str]")));
        assert!(uses_nested_xml(&t("Optional[dict[str, int]]")));
        assert!(!uses_nested_xml(&t("Optional[int]")));
        assert!(!uses_nested_xml(&t("tuple[int, str]")));
        assert!(!uses_nested_xml(&t("Union[list[str], int]")));
        assert_eq!(xml_schema("m", &t("dict[str, list[int]]")), "<m>...</m>");
        assert_eq!(xml_schema("m", &t("list[list[int]]")), "<m><item><item>...</item></item></m>");
    }
}
