//! The XML adapter against DSPy 3.4.1 beyond the shared fixtures: the 75
//! cases in `xml_cases.json`, recorded by `tests/dspy_reference/xml_cases.py`
//! (replies with surrounding text, malformed XML with expat's messages,
//! entities, CDATA, repeated and nested tags, every scalar type, lists,
//! dicts, unions, literals, tuples, models, Enums; prompts whose demo values
//! need nested XML, 12 of them with seeded random values), and 750 seeded
//! random replies in `xml_random_cases.json` (`tests/dspy_reference/
//! xml_random.py`). Formats must match byte for byte, parse errors in full
//! up to pydantic's own wording, which is Python's.

use kestrel_core::{Adapter, SignatureSpec, XmlAdapter};
use serde_json::{Value, json};

use crate::{fixtures_format, fixtures_parse};

fn cases() -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/xml_cases.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The value part of `Failed to parse field <repr> with value <value>: <error>`:
/// everything up to where the converter's own wording starts.
fn conversion_prefix(detail: &str) -> Option<&str> {
    let start = detail.find(" with value ")?;
    let own_error = |rest: &str| {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        (digits > 0 && rest[digits..].starts_with(" validation error"))
            || rest.starts_with("the value is not a valid ")
            || rest.split('\n').next().is_some_and(|line| line.contains(" is not a valid name or value for the enum "))
    };
    detail[start..]
        .match_indices(": ")
        .map(|(i, _)| start + i)
        .find(|&i| own_error(&detail[i + 2..]))
        .map(|i| &detail[..i])
}

#[test]
fn recorded_xml_cases_match_dspy() {
    let cases = cases();
    assert!(cases.len() >= 75, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or_default();
        let outcome = match case["kind"].as_str() {
            Some("format") => fixtures_format::check_case(case),
            Some("parse") => fixtures_parse::check_case(case).and_then(|()| check_full_error(case)),
            other => Err(format!("unknown kind {other:?}")),
        };
        if let Err(why) = outcome {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} XML cases differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Parse errors: the whole message must be DSPy's, except the converter's
/// own error text after a field's value.
fn check_full_error(case: &Value) -> Result<(), String> {
    let Some(want) = case["expected"]["message"].as_str() else { return Ok(()) };
    let sig = crate::fixture_support::signature(case);
    let completion = case["completion"].as_str().unwrap_or_default();
    let got = XmlAdapter.parse(&sig, completion).map(|_| ()).err().ok_or("no error")?.to_string();
    match (conversion_prefix(want), conversion_prefix(&got)) {
        (Some(w), Some(g)) if w == g => Ok(()),
        (None, None) if want == got => Ok(()),
        _ => Err(format!("message differs\n  got:  {got:?}\n  want: {want:?}")),
    }
}

#[test]
fn hostile_replies_never_panic() {
    let sig = SignatureSpec::parse(
        "q -> a, n: int, tags: list[str], m: dict[str, list[int]], o: Optional[dict[str, Any]], t: tuple[int, str]",
    )
    .unwrap();
    let deep = format!("<m>{}{}</m>", "<x>".repeat(5_000), "</x>".repeat(5_000));
    let items = format!("<tags>{}</tags>", "<item>z</item>".repeat(20_000));
    let inputs = [
        deep,
        items,
        "<".repeat(1000),
        "&".repeat(1000),
        "<a".repeat(1000),
        "<![CDATA[".into(),
        "<!--".into(),
        "<?".into(),
        "<a b='".into(),
        "<a xmlns:p='u'><p:b p:c='1'/></a>".into(),
        "\u{0}\u{fffe}\u{10ffff}".into(),
        "<o><entry>no key</entry><entry key=''>empty</entry></o>".into(),
        "<t><item>1</item><item>2</item><item>3</item></t>".into(),
        "<n>99999999999999999999999</n><n/>".into(),
        "&#99999999999999999999;".into(),
        "&#x;&#;".into(),
    ];
    for text in &inputs {
        let _ = XmlAdapter.parse(&sig, text);
    }
    let deep = XmlAdapter.parse(&sig, &inputs[0]).unwrap_err().to_string();
    assert!(deep.starts_with("Failed to parse XML: elements nested too deeply: line 1, column "), "{deep}");
    let nested =
        format!("<a>x</a><m><k>{}1{}</k></m><n>1</n><tags/><t>[1, \"a\"]</t>", "<x>".repeat(200), "</x>".repeat(200));
    assert!(XmlAdapter.parse(&sig, &nested).is_err(), "a 200-deep value is read (and fails to convert), not refused");
}

#[test]
fn missing_optional_and_default_outputs() {
    let fields = vec![
        kestrel_core::FieldSpec::input("q", kestrel_core::FieldType::Str),
        kestrel_core::FieldSpec::output("a", kestrel_core::FieldType::Str).with_default("dflt"),
        kestrel_core::FieldSpec::output("b", "Optional[list[int]]".parse().unwrap()),
        kestrel_core::FieldSpec::output("c", kestrel_core::FieldType::Int),
    ];
    let sig = SignatureSpec::new(fields, None).unwrap();
    let got = XmlAdapter.parse(&sig, "Thinking... <c> 4 </c> done.").unwrap();
    assert_eq!(Value::Object(got.into_iter().collect()), json!({"a": "dflt", "b": null, "c": 4}));
}

/// Seeded random replies (`tests/dspy_reference/xml_random.py`): outputs
/// equal DSPy's, errors equal DSPy's message (up to pydantic's wording).
#[test]
fn random_replies_match_dspy() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/xml_random_cases.json");
    let groups: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (mut total, mut parsed, mut mismatches) = (0, 0, Vec::new());
    for group in &groups {
        let sig = SignatureSpec::parse(group["signature"].as_str().unwrap()).unwrap();
        for case in group["cases"].as_array().unwrap() {
            total += 1;
            let completion = case["completion"].as_str().unwrap();
            let got = XmlAdapter.parse(&sig, completion);
            let same = match (&case["outputs"], &got) {
                (Value::Object(want), Ok(fields)) => {
                    parsed += 1;
                    Value::Object(fields.clone().into_iter().collect()) == Value::Object(want.clone())
                }
                (Value::Null, Err(e)) => {
                    let (want, got) = (case["error"].as_str().unwrap(), e.to_string());
                    match (conversion_prefix(want), conversion_prefix(&got)) {
                        (Some(w), Some(g)) => w == g,
                        (None, None) => want == got,
                        _ => false,
                    }
                }
                _ => false,
            };
            if !same {
                mismatches
                    .push(format!("{completion:?}\n  want: {case}\n  got:  {:?}", got.map_err(|e| e.to_string())));
            }
        }
    }
    assert!(total >= 750 && parsed >= 100, "{total} cases, {parsed} parsed");
    assert!(mismatches.is_empty(), "{} of {total} differ:\n{}", mismatches.len(), mismatches.join("\n"));
}
