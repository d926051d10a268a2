//! Reading the DSPy 3.4.1 golden fixtures in `testdata/dspy/`: every `.json`
//! file there is a case, so adding a file adds a case. Shared by the core
//! and modules test binaries: one table of runners ([`RUNNERS`]) and one list
//! of recorded-but-pending cases (`testdata/fixtures-pending.txt`).

use std::path::PathBuf;

use kestrel_core::{Example, FieldSpec, FieldType, Io, SignatureSpec};
use serde_json::Value;

/// The fixture folder (committed copy of `../shared/fixtures/dspy`).
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dspy")
}

/// Every (kind, adapter) a test runs, and where: `fixtures(kind, ..)` only
/// hands out files claimed here. `None` is a fixture without an adapter.
pub const RUNNERS: &[(&str, Option<&str>, &str)] = &[
    ("format", Some("chat"), "kestrel-core: fixtures_format"),
    ("format", Some("json"), "kestrel-core: fixtures_format"),
    ("format", Some("xml"), "kestrel-core: fixtures_format"),
    ("parse", Some("chat"), "kestrel-core: fixtures_parse"),
    ("parse", Some("json"), "kestrel-core: fixtures_parse"),
    ("parse", Some("xml"), "kestrel-core: fixtures_parse"),
    ("module_call", Some("chat"), "kestrel-modules: module_fixtures, inference_fixtures"),
    ("saved_program", None, "kestrel-modules: saved_programs"),
    ("optimizer_call", Some("chat"), "kestrel-optimizers: optimizer_fixtures"),
];

/// A line of `testdata/fixtures-pending.txt`: recorded cases no runner
/// implements yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The fixture kind.
    pub kind: String,
    /// The adapter (`-` in the file: none).
    pub adapter: Option<String>,
    /// For `optimizer_call` lines written `optimizer_call/NAME`: only the
    /// cases of that optimizer wait (the kind itself has a runner).
    pub optimizer: Option<String>,
    /// What the cases wait for.
    pub reason: String,
}

impl Pending {
    /// True when this line holds back every case of its (kind, adapter).
    pub fn whole_kind(&self) -> bool {
        self.optimizer.is_none()
    }

    /// True when this line holds back `case`.
    pub fn holds(&self, case: &Value) -> bool {
        let (kind, adapter) = kind_of(case);
        kind == Some(self.kind.as_str())
            && adapter == self.adapter.as_deref()
            && self.optimizer.as_deref().is_none_or(|o| case["optimizer"]["name"].as_str() == Some(o))
    }
}

/// The known-but-pending (kind, adapter) pairs, the one list of them.
pub fn pending() -> Vec<Pending> {
    let path = fixture_dir().join("../fixtures-pending.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut words = line.split_whitespace();
            let (Some(kind), Some(adapter)) = (words.next(), words.next()) else {
                panic!("fixtures-pending.txt: `{line}` is not `kind adapter reason`");
            };
            let adapter = (adapter != "-").then(|| adapter.to_string());
            let (kind, optimizer) = match kind.split_once('/') {
                Some((kind, optimizer)) => (kind, Some(optimizer.to_string())),
                None => (kind, None),
            };
            Pending { kind: kind.to_string(), adapter, optimizer, reason: words.collect::<Vec<_>>().join(" ") }
        })
        .collect()
}

/// Every fixture file, as (file name, JSON), sorted by name.
pub fn all_fixtures() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(fixture_dir()).expect("testdata/dspy exists");
    for entry in entries {
        let path = entry.expect("readable dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable fixture");
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        out.push((name, value));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A fixture's (kind, adapter).
pub fn kind_of(case: &Value) -> (Option<&str>, Option<&str>) {
    (case["kind"].as_str(), case["adapter"].as_str())
}

/// Every fixture of `kind` (and adapter, if given) that a runner claims, as
/// (file name, JSON). Files of that kind listed as pending are skipped and
/// reported by name on stderr (written past the test harness's capture, so
/// they show in every run); a file of that kind that neither a runner nor
/// the pending list claims fails the test.
pub fn fixtures(kind: &str, adapter: Option<&str>) -> Vec<(String, Value)> {
    assert!(
        RUNNERS.iter().any(|(k, a, _)| *k == kind && adapter.is_none_or(|want| *a == Some(want))),
        "fixtures({kind:?}, {adapter:?}) is not in fixture_support::RUNNERS: add the runner there"
    );
    let pending = pending();
    let mut out = Vec::new();
    for (name, case) in all_fixtures() {
        let (case_kind, case_adapter) = kind_of(&case);
        if case_kind != Some(kind) || adapter.is_some_and(|want| case_adapter != Some(want)) {
            continue;
        }
        if let Some(p) = pending.iter().find(|p| p.whole_kind() && p.holds(&case)) {
            report_skipped(&name, p);
            continue;
        }
        assert!(
            RUNNERS.iter().any(|(k, a, _)| *k == kind && *a == case_adapter),
            "{name}: no runner for kind {kind:?} with adapter {case_adapter:?}, and it is not in \
             testdata/fixtures-pending.txt"
        );
        out.push((name, case));
    }
    assert!(!out.is_empty(), "no fixtures of kind {kind}");
    out
}

/// Print `fixture skipped (pending ...): name` on the process's stderr.
pub fn report_skipped(name: &str, pending: &Pending) {
    use std::io::Write as _;
    let adapter = pending.adapter.as_deref().unwrap_or("-");
    let kind = match &pending.optimizer {
        Some(optimizer) => format!("{}/{optimizer}", pending.kind),
        None => pending.kind.clone(),
    };
    let line = format!("fixture skipped (pending {kind} {adapter}: {}): {name}\n", pending.reason);
    // Straight to the process's stderr: `eprintln!` would be captured.
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The field type a fixture field declares: Python annotation text, or a
/// model / Enum class described by `schema` / `enums`.
pub fn field_type(field: &Value) -> FieldType {
    let ty = field["type"].as_str().expect("field type");
    if let Some(enums) = field.get("enums").and_then(Value::as_object) {
        let (name, members) = enums.iter().next().expect("one enum");
        let members = members.as_object().expect("enum members").iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        return FieldType::Enum { name: name.clone(), members };
    }
    if let Some(schema) = field.get("schema") {
        return FieldType::Model { name: ty.to_string(), schema: schema.clone() };
    }
    ty.parse::<FieldType>().unwrap_or_else(|e| panic!("fixture type {ty:?}: {e}"))
}

/// Build the signature a fixture describes (from its field list, so typed
/// and class-based signatures work alike).
pub fn signature(case: &Value) -> SignatureSpec {
    let sig = &case["signature"];
    let fields = sig["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            let io = if f["io"] == "input" { Io::Input } else { Io::Output };
            let mut spec = FieldSpec::new(f["name"].as_str().expect("name"), io, field_type(f));
            if let Some(desc) = f["desc"].as_str() {
                spec = spec.with_desc(desc);
            }
            if let Some(prefix) = f["prefix"].as_str() {
                spec = spec.with_prefix(prefix);
            }
            if let Some(c) = f.get("constraints").and_then(Value::as_str) {
                spec = spec.with_constraints(c);
            }
            spec
        })
        .collect();
    let instructions = sig["instructions"].as_str().map(str::to_string);
    SignatureSpec::new(fields, instructions).expect("fixture signature is valid")
}

/// A list of examples from a JSON array of objects.
pub fn examples(value: &Value) -> Vec<Example> {
    value.as_array().map(|a| a.iter().map(example).collect()).unwrap_or_default()
}

/// One example from a JSON object.
pub fn example(value: &Value) -> Example {
    serde_json::from_value(value.clone()).expect("example object")
}
