//! DSPy 3.4.1 goldens for the custom types (`testdata/dspy-types/`, recorded
//! by `benches/dspy/record_types.py`): `History` turns, `Image` content
//! parts, `Tool` / `ToolCalls` in text mode, and what native function
//! calling sends (the prompt without the tool fields, the `tools` entries)
//! and reads back (the tool calls).

use std::path::PathBuf;

use kestrel_core::{
    Adapter, ChatAdapter, ContentPart, CustomType, Example, FieldType, History, Image, JsonAdapter, Message,
    SignatureSpec, ToolCalls, ToolSpec,
};
use serde_json::{Value, json};

fn cases() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dspy-types");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 14, "expected the recorded cases in {}", dir.display());
    out
}

fn example(value: &Value) -> Example {
    Example::from_fields(value.as_object().unwrap().clone().into_iter().collect())
}

fn signature(case: &Value) -> SignatureSpec {
    let sig = &case["signature"];
    SignatureSpec::parse(sig["string"].as_str().unwrap())
        .unwrap()
        .with_instructions(sig["instructions"].as_str().unwrap())
}

fn adapter(case: &Value) -> &'static dyn Adapter {
    match case["adapter"].as_str() {
        Some("chat") => &ChatAdapter,
        Some("json") => &JsonAdapter,
        other => panic!("unknown adapter {other:?}"),
    }
}

/// A message in DSPy's shape: text content, or the list of parts.
fn dspy_shape(message: &Message) -> Value {
    let content = match message.parts() {
        None => Value::String(message.content.clone()),
        Some(parts) => Value::Array(parts.iter().map(ContentPart::to_openai).collect()),
    };
    json!({"role": message.role.as_str(), "content": content})
}

fn differences(name: &str, got: &[Message], expected: &Value) -> Vec<String> {
    let got: Vec<Value> = got.iter().map(dspy_shape).collect();
    let expected = expected.as_array().unwrap();
    let mut out = Vec::new();
    if got.len() != expected.len() {
        out.push(format!("{name}: {} messages, DSPy has {}", got.len(), expected.len()));
    }
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        if g != e {
            out.push(format!("{name}: message {i}\n  kestrel: {g}\n  dspy:    {e}"));
        }
    }
    out
}

#[test]
fn custom_type_prompts_match_dspy() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, case) in cases() {
        let sig = signature(&case);
        let demos: Vec<Example> = case["demos"].as_array().unwrap().iter().map(example).collect();
        let inputs = example(&case["inputs"]);
        let expected = &case["expected"];
        if expected.get("tools").is_some() {
            continue; // native_function_calling_matches_dspy
        }
        let messages = adapter(&case).format(&sig, &demos, &inputs).unwrap();
        failures.extend(differences(&name, &messages, &expected["messages"]));
        ran += 1;
    }
    assert!(ran >= 12);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn native_function_calling_matches_dspy() {
    let mut ran = 0;
    for (name, case) in cases() {
        let expected = &case["expected"];
        let Some(tools) = expected.get("tools") else { continue };
        let sig = signature(&case);
        let inputs = example(&case["inputs"]);
        // Native calling: both tool fields leave the prompt, the instructions stay.
        let processed = sig.clone().delete("tools").unwrap().delete("tool_calls").unwrap();
        let messages = adapter(&case).format(&processed, &[], &inputs).unwrap();
        let failures = differences(&name, &messages, &expected["messages"]);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let specs = ToolSpec::list_from_value(inputs.get("tools").unwrap()).unwrap();
        let sent: Vec<Value> = specs.iter().map(ToolSpec::function_json).collect();
        assert_eq!(&Value::Array(sent), tools, "{name}: tools");
        let reply = &expected["replies"][0]["tool_calls"];
        let calls = ToolCalls::from_value(reply).unwrap();
        let shown: Vec<Value> = calls.tool_calls.iter().map(|c| json!({"name": c.name, "args": c.args})).collect();
        assert_eq!(json!({"tool_calls": shown}), expected["parsed"][0]["tool_calls"], "{name}: parsed");
        assert_eq!(calls.tool_calls[0].id.as_deref(), Some("call_1"));
        ran += 1;
    }
    assert_eq!(ran, 2);
}

#[test]
fn custom_types_parse_from_dspy_annotations() {
    let sig = SignatureSpec::parse("h: dspy.History, img: Image, tools: list[dspy.Tool] -> calls: ToolCalls").unwrap();
    let types: Vec<FieldType> = sig.fields().map(|f| f.ty.clone()).collect();
    assert_eq!(
        types,
        vec![
            FieldType::Custom(CustomType::History),
            FieldType::Custom(CustomType::Image),
            FieldType::List(Box::new(FieldType::Custom(CustomType::Tool))),
            FieldType::Custom(CustomType::ToolCalls),
        ]
    );
    assert_eq!(types[2].python_name(), "list[Tool]");
}

#[test]
fn text_mode_tool_calls_parse_from_a_reply() {
    let sig = SignatureSpec::parse("question -> answer, tool_calls: ToolCalls").unwrap();
    let reply = "[[ ## answer ## ]]\nchecking\n\n[[ ## tool_calls ## ]]\n\
                 {\"tool_calls\": [{\"name\": \"weather\", \"args\": {\"city\": \"Paris\"}}]}\n\n[[ ## completed ## ]]";
    let fields = ChatAdapter.parse(&sig, reply).unwrap();
    assert_eq!(fields["tool_calls"], json!({"tool_calls": [{"name": "weather", "args": {"city": "Paris"}}]}));
    let bad = "[[ ## answer ## ]]\nx\n\n[[ ## tool_calls ## ]]\nnot tool calls\n\n[[ ## completed ## ]]";
    assert!(ChatAdapter.parse(&sig, bad).is_err());
}

#[test]
fn typed_values_serialize_to_what_the_prompt_reads() {
    let history = History::default().turn([("question", json!("q1")), ("answer", json!("a1"))]);
    let image = Image::from_url("https://example.com/cat.png").unwrap();
    let inputs = Example::from_serialize(&json!({"question": "q2", "history": history, "image": image})).unwrap();
    let sig = SignatureSpec::parse("question, history: History, image: Image -> answer").unwrap();
    let messages = ChatAdapter.format(&sig, &[], &inputs).unwrap();
    assert_eq!(messages.len(), 4, "system, history user + assistant, request");
    assert_eq!(messages[1].content.lines().nth(1), Some("q1"));
    assert!(messages[1].parts().is_none(), "no image in the history turn");
    let parts = messages[3].parts().unwrap();
    assert!(parts.contains(&ContentPart::ImageUrl("https://example.com/cat.png".into())));
    // An invalid history is a typed error, not a panic.
    let bad = Example::from_pairs([("question", json!("q")), ("history", json!(3)), ("image", json!("u"))]);
    assert!(ChatAdapter.format(&sig, &[], &bad).is_err());
}

#[test]
fn rust_types_map_to_the_custom_field_types() {
    use kestrel_core::field_type_of;
    assert_eq!(field_type_of::<History>(), FieldType::Custom(CustomType::History));
    assert_eq!(field_type_of::<Image>(), FieldType::Custom(CustomType::Image));
    assert_eq!(field_type_of::<ToolCalls>(), FieldType::Custom(CustomType::ToolCalls));
    assert_eq!(field_type_of::<Vec<ToolSpec>>(), FieldType::List(Box::new(FieldType::Custom(CustomType::Tool))));
    assert_eq!(
        field_type_of::<Option<Image>>(),
        FieldType::Union(vec![FieldType::Custom(CustomType::Image), FieldType::None])
    );
}
