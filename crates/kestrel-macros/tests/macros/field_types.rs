//! Field types from Rust types (via JSON schema): the same `FieldType` as
//! the Python annotation, pydantic's model schemas, Enums, and a typed
//! signature rendering exactly DSPy's prompt.

use std::collections::{BTreeMap, HashMap};

use kestrel_core::{Adapter, ChatAdapter, Example, FieldType, Signature, SignatureSpec, field_type_of};
use kestrel_macros::Signature;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Address {
    street: String,
    city: String,
    postcode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Person {
    name: String,
    age: i64,
    emails: Vec<String>,
    address: Address,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Sentiment {
    Positive,
    Negative,
    Neutral,
}

/// Extract structured data about the person described in the text.
#[derive(Signature)]
struct ExtractPerson {
    #[input]
    text: String,
    #[output(desc = "Up to five keywords")]
    keywords: Vec<String>,
    #[output]
    word_counts: HashMap<String, i64>,
    #[output(desc = "The person mentioned")]
    person: Person,
    #[output]
    events: Vec<HashMap<String, Value>>,
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../testdata/dspy/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ty(text: &str) -> FieldType {
    text.parse().unwrap()
}

#[test]
fn rust_types_match_python_annotations() {
    assert_eq!(field_type_of::<String>(), ty("str"));
    assert_eq!(field_type_of::<str>(), ty("str"));
    assert_eq!(field_type_of::<i64>(), ty("int"));
    assert_eq!(field_type_of::<u8>(), ty("int"));
    assert_eq!(field_type_of::<f64>(), ty("float"));
    assert_eq!(field_type_of::<f32>(), ty("float"));
    assert_eq!(field_type_of::<bool>(), ty("bool"));
    assert_eq!(field_type_of::<Value>(), ty("Any"));
    assert_eq!(field_type_of::<()>(), ty("None"));
    assert_eq!(field_type_of::<Vec<String>>(), ty("list[str]"));
    assert_eq!(field_type_of::<Vec<Vec<i64>>>(), ty("list[list[int]]"));
    assert_eq!(field_type_of::<HashMap<String, i64>>(), ty("dict[str, int]"));
    assert_eq!(field_type_of::<BTreeMap<String, Value>>(), ty("dict[str, Any]"));
    assert_eq!(field_type_of::<Vec<HashMap<String, Value>>>(), ty("list[dict[str, Any]]"));
    assert_eq!(field_type_of::<Option<String>>(), ty("Optional[str]"));
    assert_eq!(field_type_of::<Option<Vec<i64>>>(), ty("Optional[list[int]]"));
    assert_eq!(field_type_of::<Option<Option<bool>>>(), ty("Optional[bool]"));
    assert_eq!(field_type_of::<(i64, String)>(), ty("tuple[int, str]"));
}

#[test]
fn structs_become_models_in_pydantic_layout() {
    let case = fixture("chat_format_output_types_structured");
    let person = &case["signature"]["fields"][3];
    assert_eq!(person["name"], "person");
    let expected = FieldType::Model { name: "Person".into(), schema: person["schema"].clone() };
    assert_eq!(field_type_of::<Person>(), expected);

    // Nested in a list: the model keeps the `$defs` it needs.
    let FieldType::List(item) = field_type_of::<Vec<Person>>() else { panic!("a list") };
    assert_eq!(*item, expected);
    let FieldType::Union(members) = field_type_of::<Option<Address>>() else { panic!("a union") };
    let FieldType::Model { name, schema } = &members[0] else { panic!("a model") };
    assert_eq!(name, "Address");
    assert_eq!(
        schema["properties"]["postcode"],
        json!({"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "Postcode"})
    );
    assert!(schema.get("$defs").is_none());
    assert_eq!(members[1], FieldType::None);
}

#[test]
fn unit_enums_become_enums() {
    let expected = FieldType::Enum {
        name: "Sentiment".into(),
        members: ["positive", "negative", "neutral"].iter().map(|v| (v.to_string(), json!(v))).collect(),
    };
    assert_eq!(field_type_of::<Sentiment>(), expected);
    assert_eq!(field_type_of::<Option<Sentiment>>(), FieldType::optional(expected.clone()));
    assert_eq!(field_type_of::<Vec<Sentiment>>(), FieldType::List(Box::new(expected)));
}

/// A tree of labels.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Tree {
    label: String,
    children: Vec<Tree>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
enum IntOrText {
    Int(i64),
    Text(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
enum Shape {
    Circle { radius: f64 },
    Named(String),
    Empty,
}

#[test]
fn other_shapes_map_sensibly() {
    let FieldType::Model { name, schema } = field_type_of::<Tree>() else { panic!("a model") };
    assert_eq!(name, "Tree");
    assert_eq!(schema["description"], "A tree of labels.");
    assert_eq!(schema["properties"]["label"], json!({"type": "string", "title": "Label"}));
    let FieldType::List(item) = field_type_of::<Vec<Tree>>() else { panic!("a list") };
    assert!(matches!(*item, FieldType::Model { ref name, .. } if name == "Tree"));
    assert_eq!(field_type_of::<IntOrText>(), ty("Union[int, str]"));
    let FieldType::Model { name, schema } = field_type_of::<Shape>() else { panic!("a model") };
    assert_eq!(name, "Shape");
    assert!(schema["oneOf"].is_array() && schema.get("$schema").is_none());
    assert_eq!(FieldType::from_json_schema(&json!(true)), FieldType::Any);
    assert_eq!(FieldType::from_json_schema(&json!({"type": ["integer", "string"]})), ty("int | str"));
    assert_eq!(FieldType::from_json_schema(&json!({"enum": ["a", 1]})), ty("Literal['a', 1]"));
    assert_eq!(FieldType::from_json_schema(&json!({"const": "x"})), ty("Literal['x']"));
    assert_eq!(FieldType::from_json_schema(&json!({"$ref": "#/$defs/Missing"})), FieldType::Any);
}

#[test]
fn typed_signature_renders_dspy_exact_prompt() {
    let case = fixture("chat_format_output_types_structured");
    let spec = ExtractPerson::spec();
    let inputs: Example = serde_json::from_value(case["inputs"].clone()).unwrap();
    let messages = ChatAdapter.format(&spec, &[], &inputs).unwrap();
    let expected = case["expected"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), expected.len());
    for (got, want) in messages.iter().zip(expected) {
        assert_eq!(got.role.as_str(), want["role"]);
        assert_eq!(got.content, want["content"].as_str().unwrap());
    }
}

// The typed and the string form of the same signature render the same
// prompt (the fixture was recorded from the string form). No doc comment:
// DSPy's default instructions.
#[derive(Signature)]
struct Typed {
    #[input]
    question: String,
    #[input]
    context: Vec<String>,
    #[output]
    answer: String,
    #[output]
    confidence: f64,
}

#[test]
fn typed_and_string_forms_render_the_same_prompt() {
    let case = fixture("chat_format_typed_string_signature");
    let string = SignatureSpec::parse(case["signature"]["string"].as_str().unwrap()).unwrap();
    assert_eq!(Typed::spec(), string);
    let inputs: Example = serde_json::from_value(case["inputs"].clone()).unwrap();
    let messages = ChatAdapter.format(&Typed::spec(), &[], &inputs).unwrap();
    let expected = case["expected"]["messages"].as_array().unwrap();
    assert_eq!(
        messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        expected.iter().map(|m| m["content"].as_str().unwrap()).collect::<Vec<_>>()
    );
}
