//! Every `format` fixture in `testdata/dspy/`: the messages (and, for the JSON
//! adapter, the `response_format`) must match DSPy 3.4.1 byte for byte.

use std::panic::AssertUnwindSafe;

use kestrel_core::{Adapter, ChatAdapter, JsonAdapter, Message, XmlAdapter};
use serde_json::Value;

use crate::fixture_support::{example, examples, fixtures, signature};

#[test]
fn fixtures_format_match_dspy() {
    let mut failures = Vec::new();
    let cases = fixtures("format", None);
    for (name, case) in &cases {
        // A panic while building the case (e.g. an unsupported type) is a
        // failure of that case only.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| check_case(case)))
            .unwrap_or_else(|_| Err("panicked while building or formatting the case".into()));
        if let Err(problem) = outcome {
            eprintln!("--- {name}\n{problem}\n");
            failures.push(name.clone());
        }
    }
    assert!(failures.is_empty(), "{} of {} format fixtures differ: {failures:?}", failures.len(), cases.len());
}

pub fn check_case(case: &Value) -> Result<(), String> {
    let adapter: Box<dyn Adapter> = match case["adapter"].as_str() {
        Some("chat") => Box::new(ChatAdapter),
        Some("json") => Box::new(JsonAdapter),
        Some("xml") => Box::new(XmlAdapter),
        other => return Err(format!("unknown adapter {other:?}")),
    };
    let sig = signature(case);
    let demos = examples(&case["demos"]);
    let inputs = example(&case["inputs"]);
    let got = adapter.format(&sig, &demos, &inputs).map_err(|e| format!("format failed: {e}"))?;
    let expected = &case["expected"];
    compare_messages(expected["messages"].as_array().ok_or("expected.messages is not a list")?, &got)?;
    if let Some(want) = expected.get("response_format") {
        let got = adapter.response_format(&sig).unwrap_or(Value::Null);
        let (want_text, got_text) = (want.to_string(), got.to_string());
        if want_text != got_text {
            return Err(format!("response_format differs:\n  expected: {want_text}\n  got:      {got_text}"));
        }
    }
    Ok(())
}

fn compare_messages(expected: &[Value], got: &[Message]) -> Result<(), String> {
    for (i, want) in expected.iter().enumerate() {
        let want_role = want["role"].as_str().unwrap_or_default();
        let want_content = want["content"].as_str().unwrap_or_default();
        let Some(message) = got.get(i) else {
            return Err(format!("message {i} ({want_role}) missing: got only {} messages", got.len()));
        };
        if message.role.as_str() != want_role || message.content != want_content {
            return Err(format!(
                "message {i} differs{}\n{}",
                if message.role.as_str() != want_role {
                    format!(" (role: expected {want_role}, got {})", message.role.as_str())
                } else {
                    String::new()
                },
                diff_text(want_content, &message.content)
            ));
        }
    }
    if got.len() > expected.len() {
        return Err(format!("got {} messages, expected {}", got.len(), expected.len()));
    }
    Ok(())
}

/// The first differing line of two texts, with a little context and the
/// lines shown escaped so whitespace differences are visible.
fn diff_text(want: &str, got: &str) -> String {
    let want_lines: Vec<&str> = want.split('\n').collect();
    let got_lines: Vec<&str> = got.split('\n').collect();
    let first =
        want_lines.iter().zip(&got_lines).position(|(a, b)| a != b).unwrap_or(want_lines.len().min(got_lines.len()));
    let from = first.saturating_sub(2);
    let mut out =
        format!("first difference at line {} (of {} expected, {} got)\n", first + 1, want_lines.len(), got_lines.len());
    for (label, lines) in [("expected", &want_lines), ("got", &got_lines)] {
        out.push_str(&format!("  {label}:\n"));
        for (n, line) in lines.iter().enumerate().skip(from).take(first - from + 3) {
            let marker = if n == first { ">" } else { " " };
            out.push_str(&format!("   {marker}{:4} {line:?}\n", n + 1));
        }
    }
    out
}
