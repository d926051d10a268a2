//! Reply parsing against DSPy 3.4.1: every `parse` fixture in
//! `testdata/dspy/` (one data-driven test), plus hand-written cases the
//! fixtures do not cover (garbage input, unions, tuples, nested containers,
//! int literals, Enum member names).

use kestrel_core::{
    Adapter, AdapterParseError, ChatAdapter, FieldSpec, FieldType, JsonAdapter, SignatureSpec, XmlAdapter,
};
use serde_json::{Value, json};

use crate::fixture_support::{fixtures, signature};

/// The adapter a fixture names.
fn adapter_for(case: &Value) -> &'static dyn Adapter {
    match case["adapter"].as_str() {
        Some("json") => &JsonAdapter,
        Some("xml") => &XmlAdapter,
        _ => &ChatAdapter,
    }
}

#[test]
fn fixtures_parse_match_dspy() {
    let mut failures = Vec::new();
    let cases = fixtures("parse", None);
    for (name, case) in &cases {
        // A panic (e.g. a type the fixture support cannot build) fails this
        // case only; every case is still run and reported.
        let outcome = std::panic::catch_unwind(|| check_case(case)).unwrap_or_else(|panic| {
            let text =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(format!("panicked: {}", text.unwrap_or_default()))
        });
        if let Err(why) = outcome {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} parse fixtures differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

pub fn check_case(case: &Value) -> Result<(), String> {
    let sig = signature(case);
    let completion = case["completion"].as_str().ok_or("fixture has no completion")?;
    let expected = &case["expected"];
    let result = adapter_for(case).parse(&sig, completion);
    match (expected.get("error"), result) {
        (None, Ok(fields)) => {
            let got = Value::Object(fields.clone().into_iter().collect());
            let want = &expected["outputs"];
            if got != *want {
                return Err(format!("outputs differ\n  got:  {got}\n  want: {want}"));
            }
            let got_keys: Vec<&String> = fields.keys().collect();
            let want_keys: Vec<String> = sig.output_names();
            if got_keys.iter().map(|k| k.as_str()).ne(want_keys.iter().map(String::as_str)) {
                return Err(format!("output order {got_keys:?}, signature order {want_keys:?}"));
            }
            let types = expected["output_types"].as_object().ok_or("no output_types")?;
            for (field, ty) in types {
                let ty = ty.as_str().ok_or("output type is not text")?;
                let spec = sig.field(field).ok_or_else(|| format!("no field {field}"))?;
                check_type(&fields[field], ty, &spec.ty).map_err(|e| format!("field {field}: {e}"))?;
            }
            Ok(())
        }
        (None, Err(e)) => Err(format!("expected success, got error:\n{e}")),
        (Some(_), Ok(fields)) => Err(format!("expected an error, got {fields:?}")),
        (Some(_), Err(e)) => check_error(&e, expected),
    }
}

/// Python's type of a parsed value (`expected.output_types`), checked on its JSON form.
fn check_type(value: &Value, python_type: &str, ty: &FieldType) -> Result<(), String> {
    let ok = match python_type {
        "str" => value.is_string(),
        "int" => value.is_i64() || value.is_u64(),
        "float" => value.is_f64(),
        "bool" => value.is_boolean(),
        "list" | "tuple" => value.is_array(),
        "dict" => value.is_object(),
        "NoneType" => value.is_null(),
        class => match ty {
            FieldType::Enum { name, members } => name == class && members.iter().any(|(_, v)| v == value),
            FieldType::Model { name, .. } => {
                (name == class || *name == format!("Union[{class}, NoneType]")) && value.is_object()
            }
            _ => false,
        },
    };
    if ok { Ok(()) } else { Err(format!("{value} is not a Python {python_type}")) }
}

fn check_error(e: &AdapterParseError, expected: &Value) -> Result<(), String> {
    let text = |key: &str| expected[key].as_str().map(str::to_string);
    let names = |key: &str| -> Option<Vec<String>> {
        expected[key].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
    };
    if Some(e.adapter_name.clone()) != text("adapter_name") {
        return Err(format!("adapter_name {:?}", e.adapter_name));
    }
    if Some(e.expected_fields.clone()) != names("expected_fields") {
        return Err(format!("expected_fields {:?}", e.expected_fields));
    }
    if e.parsed_fields != names("parsed_fields") {
        return Err(format!("parsed_fields {:?}, want {}", e.parsed_fields, expected["parsed_fields"]));
    }
    let want = text("message").ok_or("no message")?;
    let got = e.to_string();
    // DSPy's frame is exact; a value-conversion paragraph before it is
    // compared up to where pydantic's (Python-specific) text starts.
    let (got_detail, got_frame) = split_frame(&got);
    let (want_detail, want_frame) = split_frame(&want);
    if got_frame != want_frame {
        return Err(format!("message frame differs\n  got:  {got_frame:?}\n  want: {want_frame:?}"));
    }
    let stable = |detail: &str| -> String {
        if let Some(i) = detail.find("Error message:") {
            return detail[..i + "Error message:".len()].to_string();
        }
        // JSONAdapter: `Failed to parse field X: <pydantic text>`.
        match detail.strip_prefix("Failed to parse field ").and_then(|rest| rest.find(": ").map(|i| (rest, i))) {
            Some((rest, i)) => format!("Failed to parse field {}:", &rest[..i]),
            None => detail.to_string(),
        }
    };
    if stable(got_detail) != stable(want_detail) {
        return Err(format!("message detail differs\n  got:  {got_detail:?}\n  want: {want_detail:?}"));
    }
    if got_detail.is_empty() != want_detail.is_empty() {
        return Err(format!("detail presence differs: got {got_detail:?}, want {want_detail:?}"));
    }
    Ok(())
}

/// (detail paragraph, DSPy's frame starting at `Adapter `).
fn split_frame(message: &str) -> (&str, &str) {
    if message.starts_with("Adapter ") {
        return ("", message);
    }
    match message.find("\n\nAdapter ") {
        Some(i) => (&message[..i], &message[i + 2..]),
        None => (message, ""),
    }
}

// ---------------------------------------------------------------------------
// Hand-written cases.

fn sig(outputs: Vec<(&str, FieldType)>) -> SignatureSpec {
    let mut fields = vec![FieldSpec::input("question", FieldType::Str)];
    fields.extend(outputs.into_iter().map(|(name, ty)| FieldSpec::output(name, ty)));
    SignatureSpec::new(fields, None).expect("valid signature")
}

fn chat(sig: &SignatureSpec, completion: &str) -> Result<Value, AdapterParseError> {
    ChatAdapter.parse(sig, completion).map(|f| Value::Object(f.into_iter().collect()))
}

fn json_parse(sig: &SignatureSpec, completion: &str) -> Result<Value, AdapterParseError> {
    JsonAdapter.parse(sig, completion).map(|f| Value::Object(f.into_iter().collect()))
}

fn sentiment() -> FieldType {
    FieldType::Enum {
        name: "Sentiment".into(),
        members: vec![("POSITIVE".into(), json!("positive")), ("NEGATIVE".into(), json!("negative"))],
    }
}

#[test]
fn garbage_never_panics() {
    let types = vec![
        ("a", FieldType::Str),
        ("b", FieldType::Int),
        ("c", FieldType::List(Box::new(FieldType::Dict(Box::new(FieldType::Str), Box::new(FieldType::Any))))),
        ("d", FieldType::optional(FieldType::Float)),
        ("e", sentiment()),
    ];
    let s = sig(types);
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(10));
    let deep_obj = "{\"a\": ".repeat(20_000);
    let inputs = [
        String::new(),
        "[[ ## a ## ]]".into(),
        "[[ ## a ## ]]\n[[ ## b ## ]]\n[[ ## c ## ]]\n[[ ## d ## ]]\n[[ ## e ## ]]".into(),
        "{{{{{{".into(),
        "}}}}]]]]".into(),
        "{\"a\": \"x\", \"b\": [1, {\"c\": ".into(),
        format!("[[ ## c ## ]]\n{deep}"),
        format!("[[ ## c ## ]]\n{deep_obj}"),
        deep.clone(),
        deep_obj.clone(),
        "\u{fffd}\u{0}\u{1b}[31m\u{202e}\u{feff}[[ ## a ## ]]\u{85}x".into(),
        "[[ ## b ## ]]\n99999999999999999999999999".into(),
        "[[ ## d ## ]]\n1e999".into(),
        "\"\\ud800\" '\\x' \u{201c}open".into(),
        "{'a': '''".into(),
        "[[ ## c ## ]]\n[\"a \"b \"c ".repeat(2_000),
        "- - - -".repeat(1000),
    ];
    for text in &inputs {
        let _ = ChatAdapter.parse(&s, text);
        let _ = JsonAdapter.parse(&s, text);
    }
    // `d` is Optional: DSPy fills a missing one with None, and lists it.
    let err = chat(&s, "").expect_err("empty reply");
    assert_eq!(err.parsed_fields, Some(vec!["d".to_string()]));
    let err = json_parse(&s, "no json here").expect_err("no object");
    assert!(err.to_string().starts_with("LM response cannot be serialized to a JSON object.\n\nAdapter JSONAdapter"));
    assert_eq!(err.parsed_fields, None);
}

#[test]
fn optional_and_union_values() {
    let s = sig(vec![
        ("maybe_text", FieldType::optional(FieldType::Str)),
        ("maybe_int", FieldType::optional(FieldType::Int)),
        ("either", FieldType::Union(vec![FieldType::Int, FieldType::Str])),
        ("number", FieldType::Union(vec![FieldType::Float, FieldType::Int])),
    ]);
    let reply = "[[ ## maybe_text ## ]]\nNone\n\n[[ ## maybe_int ## ]]\nNone\n\n[[ ## either ## ]]\n42\n\n[[ ## number ## ]]\n3";
    // Optional[str] keeps the raw text (DSPy validates it as a string).
    assert_eq!(
        chat(&s, reply).expect("parses"),
        json!({"maybe_text": "None", "maybe_int": null, "either": 42, "number": 3})
    );
    let reply = "[[ ## maybe_text ## ]]\nhello\n\n[[ ## maybe_int ## ]]\n\"7\"\n\n[[ ## either ## ]]\nforty\n\n[[ ## number ## ]]\n2.5";
    assert_eq!(
        chat(&s, reply).expect("parses"),
        json!({"maybe_text": "hello", "maybe_int": 7, "either": "forty", "number": 2.5})
    );
    let got = json_parse(&s, r#"{"maybe_text": null, "maybe_int": 5, "either": "x", "number": 1.0}"#).expect("parses");
    assert_eq!(got, json!({"maybe_text": null, "maybe_int": 5, "either": "x", "number": 1.0}));
    assert!(got["number"].is_f64());
    // A missing field whose type allows None is None (DSPy's
    // `apply_output_field_defaults`); the error lists found fields in signature order.
    let got = chat(&s, "[[ ## number ## ]]\n1\n[[ ## either ## ]]\nx").expect("optional fields may be missing");
    assert_eq!(got, json!({"maybe_text": null, "maybe_int": null, "either": "x", "number": 1}));
    let err = json_parse(&s, r#"{"number": 1, "maybe_int": 2}"#).expect_err("either is required");
    assert_eq!(err.parsed_fields, Some(vec!["maybe_text".into(), "maybe_int".into(), "number".into()]));
}

#[test]
fn tuples_and_nested_containers() {
    let s = sig(vec![
        ("pair", FieldType::Tuple(vec![FieldType::Str, FieldType::Int])),
        ("groups", FieldType::Dict(Box::new(FieldType::Str), Box::new(FieldType::List(Box::new(FieldType::Int))))),
        ("ratios", FieldType::List(Box::new(FieldType::Float))),
    ]);
    let reply = "[[ ## pair ## ]]\n('a', 1)\n\n[[ ## groups ## ]]\n{'odd': [1, 3], 'even': ['2', 4.0],}\n\n[[ ## ratios ## ]]\n[1, 2.5, '3']";
    let got = chat(&s, reply).expect("parses");
    assert_eq!(got, json!({"pair": ["a", 1], "groups": {"odd": [1, 3], "even": [2, 4]}, "ratios": [1.0, 2.5, 3.0]}));
    assert!(got["groups"]["even"][1].is_i64() && got["ratios"][0].is_f64());
    let err = chat(&s, "[[ ## pair ## ]]\n['a', 1, 2]\n\n[[ ## groups ## ]]\n{}\n\n[[ ## ratios ## ]]\n[]")
        .expect_err("3 items");
    assert!(err.detail.as_deref().is_some_and(|d| d.starts_with("Failed to parse field pair with value ['a', 1, 2]")));
    let err = chat(&s, "[[ ## pair ## ]]\n['a', 1]\n\n[[ ## groups ## ]]\n{'x': [1.5]}\n\n[[ ## ratios ## ]]\n[]")
        .expect_err("fractional int");
    assert!(err.detail.as_deref().is_some_and(|d| d.contains("`x.0`")), "{err}");
}

#[test]
fn int_literals_and_enum_names() {
    let s = sig(vec![
        ("level", FieldType::Literal(vec![json!(1), json!(2), json!(3)])),
        ("flag", FieldType::Literal(vec![json!(true)])),
        ("mood", sentiment()),
    ]);
    let got = chat(&s, "[[ ## level ## ]]\n2\n\n[[ ## flag ## ]]\nTrue\n\n[[ ## mood ## ]]\nNEGATIVE").expect("parses");
    assert_eq!(got, json!({"level": 2, "flag": true, "mood": "negative"}));
    assert!(got["level"].is_i64());
    let got = json_parse(&s, r#"{"level": 3, "flag": true, "mood": "POSITIVE"}"#).expect("parses");
    assert_eq!(got, json!({"level": 3, "flag": true, "mood": "positive"}));
    let err = chat(&s, "[[ ## level ## ]]\n4\n\n[[ ## flag ## ]]\nTrue\n\n[[ ## mood ## ]]\nhappy").expect_err("4");
    assert!(err.detail.as_deref().is_some_and(|d| d.starts_with("Failed to parse field level with value 4 ")));
    let err = chat(&s, "[[ ## level ## ]]\n1\n\n[[ ## flag ## ]]\nTrue\n\n[[ ## mood ## ]]\nhappy").expect_err("happy");
    assert!(
        err.detail.as_deref().is_some_and(|d| d.contains("happy is not a valid name or value for the enum Sentiment"))
    );
}

#[test]
fn int_and_float_edge_values() {
    let s = sig(vec![("n", FieldType::Int), ("x", FieldType::Float), ("ok", FieldType::Bool)]);
    assert_eq!(
        chat(&s, "[[ ## n ## ]]\n3.0\n[[ ## x ## ]]\n7\n[[ ## ok ## ]]\nyes").expect("parses"),
        json!({"n": 3, "x": 7.0, "ok": true})
    );
    assert!(chat(&s, "[[ ## n ## ]]\n3.5\n[[ ## x ## ]]\n7\n[[ ## ok ## ]]\nno").is_err());
    assert!(chat(&s, "[[ ## n ## ]]\n3\n[[ ## x ## ]]\nseven\n[[ ## ok ## ]]\nno").is_err());
    let got = json_parse(&s, r#"{"n": "12", "x": "3", "ok": 0}"#).expect("parses");
    assert_eq!(got, json!({"n": 12, "x": 3.0, "ok": false}));
    assert_eq!(serde_json::to_string(&got).expect("json"), r#"{"n":12,"x":3.0,"ok":false}"#);
}

#[test]
fn json_adapter_str_fields_take_python_str() {
    let s = sig(vec![("a", FieldType::Str), ("b", FieldType::Str), ("c", FieldType::Str), ("d", FieldType::Str)]);
    let got = json_parse(&s, r#"{"a": 42, "b": true, "c": [1, "x", null], "d": 7.0}"#).expect("parses");
    assert_eq!(got, json!({"a": "42", "b": "True", "c": "[1, 'x', None]", "d": "7.0"}));
}

#[test]
fn json_adapter_falls_back_to_first_object() {
    let s = sig(vec![("answer", FieldType::Str)]);
    let got = json_parse(&s, "[1, 2] then {\"answer\": \"yes\"} and {\"other\": 1}").expect("parses");
    assert_eq!(got, json!({"answer": "yes"}));
    let err = json_parse(&s, "[1] {\"answer\": 5, \"x\": 1} {\"y\": 2}").map(|_| ()).err();
    assert!(err.is_none());
    let err = json_parse(&s, "[1] then {\"nope\": 1}").expect_err("missing");
    assert_eq!(err.lm_response, "{\"nope\": 1}");
    assert_eq!(err.parsed_fields, Some(vec![]));
}

/// Output defaults (DSPy's `OutputField(default=...)`): a missing output
/// takes its default, before the `Optional` → `None` rule; the JSON
/// adapter's schema carries it. Expected values computed with DSPy 3.4.1:
/// `a: str = 'main'`, `b: list[int] = [1, 2]`, `o: Optional[str] = 'x'`,
/// `c: int` (no default).
#[test]
fn output_defaults_fill_missing_fields_as_dspy() {
    let optional: FieldType = "Optional[str]".parse().unwrap();
    let list: FieldType = "list[int]".parse().unwrap();
    let fields = vec![
        FieldSpec::input("q", FieldType::Str),
        FieldSpec::output("a", FieldType::Str).with_default("main"),
        FieldSpec::output("b", list).with_default(json!([1, 2])),
        FieldSpec::output("o", optional).with_default("x"),
        FieldSpec::output("c", FieldType::Int),
    ];
    let sig = SignatureSpec::new(fields, None).unwrap();
    assert_eq!(chat(&sig, "[[ ## c ## ]]\n3").unwrap(), json!({"a": "main", "b": [1, 2], "o": "x", "c": 3}));
    assert_eq!(json_parse(&sig, r#"{"a": "y", "c": 4}"#).unwrap(), json!({"a": "y", "b": [1, 2], "o": "x", "c": 4}));
    let err = chat(&sig, "[[ ## a ## ]]\nz").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Adapter ChatAdapter failed to parse the LM response. \n\nLM Response: [[ ## a ## ]]\nz \n\nExpected to find \
         output fields in the LM response: [a, b, o, c] \n\nActual output fields parsed from the LM response: [a, b, \
         o] \n\n"
    );
    let schema = JsonAdapter.response_format(&sig).unwrap()["json_schema"]["schema"].clone();
    let want = json!({"additionalProperties": false, "properties": {
        "a": {"default": "main", "title": "A", "type": "string"},
        "b": {"default": [1, 2], "items": {"type": "integer"}, "title": "B", "type": "array"},
        "o": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": "x", "title": "O"},
        "c": {"title": "C", "type": "integer"}},
        "required": ["a", "b", "o", "c"], "title": "DSPyProgramOutputs", "type": "object"});
    assert_eq!(schema.to_string(), want.to_string(), "same keys in the same order");
}
