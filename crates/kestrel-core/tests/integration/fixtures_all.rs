//! The rule every fixture test shares: each file in `testdata/dspy/` is run
//! by a runner ([`RUNNERS`]) or listed as pending in
//! `testdata/fixtures-pending.txt` (and reported as skipped); a file of any
//! other (kind, adapter) is a failure, so adding a file always adds a case.

use serde_json::{Value, json};

use crate::fixture_support::{Pending, RUNNERS, all_fixtures, kind_of, pending, report_skipped};

/// The files neither a runner nor the pending list claims, with the reason.
fn unclaimed(cases: &[(String, Value)], pending: &[Pending]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, case) in cases {
        let (kind, adapter) = kind_of(case);
        let Some(kind) = kind else {
            out.push(format!("{name}: no `kind`"));
            continue;
        };
        let run = RUNNERS.iter().any(|(k, a, _)| *k == kind && *a == adapter);
        let waiting = pending.iter().any(|p| p.whole_kind() && p.holds(case));
        if !run && !waiting {
            out.push(format!("{name}: kind {kind:?} with adapter {adapter:?} has no runner and is not pending"));
        }
    }
    out
}

#[test]
fn every_fixture_file_is_run_or_pending() {
    let cases = all_fixtures();
    assert!(!cases.is_empty(), "no fixtures in testdata/dspy");
    let pending = pending();
    let problems = unclaimed(&cases, &pending);
    assert!(problems.is_empty(), "fixtures no test runs:\n{}", problems.join("\n"));

    for p in &pending {
        // A pending pair that a runner now claims must leave the list, and
        // a line that matches no file is out of date.
        let run = RUNNERS.iter().any(|(k, a, _)| *k == p.kind && a.map(str::to_string) == p.adapter);
        if p.whole_kind() {
            assert!(!run, "{p:?} is both run and pending: remove it from testdata/fixtures-pending.txt");
        } else {
            // `optimizer_call/NAME`: the kind's runner skips that optimizer.
            assert!(run, "{p:?} names an optimizer, but no runner claims its kind");
        }
        let files: Vec<&String> = cases.iter().filter(|(_, c)| p.holds(c)).map(|(n, _)| n).collect();
        assert!(!files.is_empty(), "{p:?} in testdata/fixtures-pending.txt matches no fixture file");
        for name in files {
            report_skipped(name, p);
        }
    }
}

#[test]
fn a_file_of_an_unknown_kind_or_adapter_is_unclaimed() {
    let pending = pending();
    let case = |kind: &str, adapter: Value| json!({"kind": kind, "adapter": adapter});
    let cases = vec![
        ("new_kind.json".to_string(), case("brand_new_kind", json!("chat"))),
        ("new_adapter.json".to_string(), case("format", json!("yaml"))),
        ("no_kind.json".to_string(), json!({"adapter": "chat"})),
        ("format_chat.json".to_string(), case("format", json!("chat"))),
        ("saved.json".to_string(), case("saved_program", Value::Null)),
        ("xml.json".to_string(), case("parse", json!("xml"))),
    ];
    let problems = unclaimed(&cases, &pending);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].starts_with("new_kind.json: kind \"brand_new_kind\""), "{problems:?}");
    assert!(problems[1].starts_with("new_adapter.json: kind \"format\" with adapter Some(\"yaml\")"), "{problems:?}");
    assert!(problems[2].starts_with("no_kind.json: no `kind`"), "{problems:?}");
}
