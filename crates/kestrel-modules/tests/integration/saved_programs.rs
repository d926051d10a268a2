//! Saved programs in DSPy 3.4.1's JSON state format, driven by every
//! `testdata/dspy/saved_*.json` fixture: Kestrel writes what DSPy wrote (byte
//! for byte, metadata aside), DSPy's files load into the equivalent program
//! and render the same prompts, save → load → save is stable, and files that
//! do not fit the program are typed errors that leave it unchanged.

use kestrel_core::{Adapter, ChatAdapter, Example, FieldType, Io, SignatureSpec};
use kestrel_lm::with_lm;
use kestrel_modules::{
    ChainOfThought, ModuleError, Predict, Predictor, Predictors, PredictorsExt, ProgramState, SavedLm,
};
use kestrel_testkit::ScriptedLm;
use serde_json::{Value, json};

use crate::fixture_support::{examples, fixtures, signature};

#[derive(Clone, kestrel_macros::Module)]
struct DraftThenPolish {
    draft: ChainOfThought,
    polish: Predict,
}

/// How the equivalent program is built.
#[derive(Clone, Copy, PartialEq)]
enum Build {
    /// As the fixture describes it, demos included (input keys marked).
    Full,
    /// Same fields, but default instructions, no descriptions, no demos:
    /// everything else must come from the file.
    Bare,
}

fn spec(sig: &Value, build: Build) -> SignatureSpec {
    let full = match sig["string"].as_str() {
        Some(text) => SignatureSpec::parse(text).unwrap().with_instructions(sig["instructions"].as_str().unwrap()),
        None => signature(&json!({ "signature": sig })),
    };
    match build {
        Build::Full => full,
        Build::Bare => {
            let fields = full.fields().map(|f| kestrel_core::FieldSpec::new(&f.name, f.io, f.ty.clone())).collect();
            SignatureSpec::new(fields, None).unwrap()
        }
    }
}

fn demos(desc: &Value, build: Build) -> Vec<Example> {
    if build == Build::Bare {
        return Vec::new();
    }
    let inputs: Vec<String> =
        desc["demo_inputs"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().into()).collect();
    examples(&desc["demos"]).into_iter().map(|d| d.with_inputs(inputs.clone())).collect()
}

fn predict(desc: &Value, build: Build) -> Predict {
    assert_eq!(desc["module"], "Predict");
    Predict::with_spec(spec(&desc["signature"], build)).demos_from(demos(desc, build))
}

fn cot(desc: &Value, build: Build) -> ChainOfThought {
    assert_eq!(desc["module"], "ChainOfThought");
    ChainOfThought::with_spec(spec(&desc["signature"], build)).unwrap().demos_from(demos(desc, build))
}

/// The Kestrel program equivalent to a fixture's `program`.
fn build(program: &Value, build: Build) -> Box<dyn Predictors> {
    match program["module"].as_str().unwrap() {
        "Predict" => Box::new(predict(program, build)),
        "ChainOfThought" => Box::new(cot(program, build)),
        "DraftThenPolish" => {
            let subs = program["submodules"].as_array().unwrap();
            let attrs: Vec<&str> = subs.iter().map(|s| s["attribute"].as_str().unwrap()).collect();
            assert_eq!(attrs, ["draft", "polish"]);
            Box::new(DraftThenPolish { draft: cot(&subs[0], build), polish: predict(&subs[1], build) })
        }
        other => panic!("no Kestrel equivalent written for fixture module {other}"),
    }
}

fn draft_then_polish(build_as: Build) -> DraftThenPolish {
    let case = fixtures("saved_program", None).into_iter().find(|(n, _)| n == "saved_custom_two_predictors.json");
    let subs = case.unwrap().1["program"]["submodules"].clone();
    DraftThenPolish { draft: cot(&subs[0], build_as), polish: predict(&subs[1], build_as) }
}

fn without_metadata(mut state: Value) -> Value {
    state.as_object_mut().unwrap().remove("metadata");
    state
}

/// The file text up to the metadata block (the last entry of the root).
fn text_without_metadata(text: &str) -> String {
    let at = text.rfind(",\n  \"metadata\": ").expect("metadata block");
    format!("{}\n}}\n", &text[..at])
}

fn temp_file(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

#[test]
fn kestrel_writes_what_dspy_wrote() {
    for (name, case) in fixtures("saved_program", None) {
        let program = build(&case["program"], Build::Full);
        let state = program.dump_state();
        assert_eq!(without_metadata(state.clone()), without_metadata(case["expected"].clone()), "{name}");
        let text = program.state_text();
        let expected_text = case["expected_text"].as_str().unwrap();
        assert_eq!(text_without_metadata(&text), text_without_metadata(expected_text), "{name}: file text");

        // Metadata stays loadable by DSPy: only keys its `load` knows.
        let versions = state["metadata"]["dependency_versions"].as_object().unwrap();
        assert!(versions.keys().all(|k| ["python", "dspy", "cloudpickle"].contains(&k.as_str())), "{name}");
        assert_eq!(versions["dspy"], "3.4.1");
        assert_eq!(state["metadata"]["kestrel"]["version"], env!("CARGO_PKG_VERSION"));

        let (_dir, path) = temp_file("program.json");
        program.save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{name}: saved bytes");
    }
}

/// The ChatAdapter messages of every predictor for one made-up input.
fn prompts(program: &dyn Predictors) -> Vec<(String, Vec<kestrel_core::Message>)> {
    program
        .predictor_states()
        .into_iter()
        .map(|(path, state)| {
            let inputs: Example =
                state.signature.input_fields().map(|f| (f.name.clone(), json!(format!("some {}", f.name)))).collect();
            (path, ChatAdapter.format(&state.signature, &state.demos, &inputs).unwrap())
        })
        .collect()
}

#[test]
fn dspy_files_load_into_equivalent_programs_and_render_the_same_prompts() {
    for (name, case) in fixtures("saved_program", None) {
        let (_dir, path) = temp_file("dspy_program.json");
        std::fs::write(&path, case["expected_text"].as_str().unwrap()).unwrap();
        let direct = build(&case["program"], Build::Full);
        let mut loaded = build(&case["program"], Build::Bare);
        assert_ne!(prompts(&*loaded), prompts(&*direct), "{name}: the bare program must differ before loading");
        loaded.load(&path).unwrap();

        let (direct_states, loaded_states) = (direct.predictor_states(), loaded.predictor_states());
        assert_eq!(loaded_states.len(), direct_states.len());
        for ((path, want), (got_path, got)) in direct_states.iter().zip(&loaded_states) {
            assert_eq!(path, got_path);
            assert_eq!(got.signature, want.signature, "{name}: {path} signature");
            // As DSPy, demos come back without input keys; `augmented` is kept.
            let saved = if path == "self" { &case["expected"] } else { &case["expected"][path.as_str()] };
            assert_eq!(got.demos, examples(&saved["demos"]), "{name}: {path} demos");
            let plain: Vec<Example> = want.demos.iter().map(|d| Example::from_fields(d.fields().clone())).collect();
            assert_eq!(got.demos, plain, "{name}: {path} demos equal the fixture program's");
        }
        assert_eq!(prompts(&*loaded), prompts(&*direct), "{name}: prompts");
        assert!(loaded.saved_lms().is_empty(), "{name}: lm is null");
        assert_eq!(without_metadata(loaded.dump_state()), without_metadata(case["expected"].clone()), "{name}");
    }
}

#[tokio::test]
async fn a_loaded_chain_of_thought_sends_the_same_request() {
    let (_, case) =
        fixtures("saved_program", None).into_iter().find(|(n, _)| n == "saved_chain_of_thought.json").unwrap();
    let direct = cot(&case["program"], Build::Full);
    let mut loaded = cot(&case["program"], Build::Bare);
    loaded.load_state(&case["expected"]).unwrap();
    assert_eq!(loaded.predict.demos()[0].get("augmented"), Some(&json!(true)));

    let reply = "[[ ## reasoning ## ]]\n3 * 4 = 12.\n\n[[ ## answer ## ]]\n12\n\n[[ ## completed ## ]]";
    let inputs = Example::from_pairs([("question", "What is 3 * 4?")]);
    let mut requests = Vec::new();
    for program in [&direct, &loaded] {
        let lm = ScriptedLm::sequence([reply]);
        let out = with_lm(lm.clone(), program.forward_example(&inputs, None)).await.unwrap();
        assert_eq!(out.get("answer"), Some(&json!(12)));
        requests.push(lm.requests()[0].messages.clone());
    }
    assert_eq!(requests[0], requests[1]);
}

#[test]
fn save_load_save_gives_identical_bytes() {
    for (name, case) in fixtures("saved_program", None) {
        let (_dir, path) = temp_file("first.json");
        build(&case["program"], Build::Full).save(&path).unwrap();
        let first = std::fs::read(&path).unwrap();
        let mut fresh = build(&case["program"], Build::Bare);
        fresh.load(&path).unwrap();
        let again = path.with_file_name("second.json");
        fresh.save(&again).unwrap();
        assert_eq!(std::fs::read(&again).unwrap(), first, "{name}");
    }
}

#[test]
fn an_own_lm_is_saved_as_its_model_and_recorded_not_instantiated_on_load() {
    let lm = ScriptedLm::sequence(Vec::<String>::new());
    let mut program = draft_then_polish(Build::Full);
    program.polish = program.polish.clone().lm(lm.clone());
    let state = program.dump_state();
    assert_eq!(state["polish"]["lm"], json!({"model": "scripted/dummy", "model_type": "chat"}));
    assert_eq!(state["draft.predict"]["lm"], Value::Null);

    let mut fresh = draft_then_polish(Build::Bare);
    fresh.load_state(&state).unwrap();
    assert!(Predictor::lm(&fresh.polish).is_none(), "loading never builds an LM client");
    let recorded = fresh.saved_lms();
    assert_eq!(recorded.len(), 1);
    assert_eq!((recorded[0].0.as_str(), recorded[0].1.model()), ("polish", "scripted/dummy"));
    assert_eq!(fresh.state_text(), program.state_text());

    // DSPy's own LM settings (what DSPy 3.4.1 wrote after loading the file
    // above) survive a Kestrel load and save, also once the caller attaches
    // an LM for the same model.
    let mut dspy_state = state.clone();
    dspy_state["polish"]["lm"] = json!({
        "_dspy_lm_class": "dspy.clients.lm.LM", "model": "scripted/dummy", "model_type": "chat", "cache": true,
        "num_retries": 3, "temperature": 0.2, "max_tokens": null, "finetuning_model": null,
        "launch_kwargs": {}, "train_kwargs": {}
    });
    fresh.load_state(&dspy_state).unwrap();
    assert_eq!(fresh.saved_lms()[0].1.get("temperature"), Some(&json!(0.2)));
    assert_eq!(fresh.dump_state()["polish"]["lm"], dspy_state["polish"]["lm"]);
    fresh.polish.set_lm(Some(lm.into()));
    assert_eq!(fresh.dump_state()["polish"]["lm"], dspy_state["polish"]["lm"]);
    // A null `lm` clears the record but keeps the predictor's own handle.
    let mut nulled = state.clone();
    nulled["polish"]["lm"] = Value::Null;
    fresh.load_state(&nulled).unwrap();
    assert!(fresh.saved_lms().is_empty() && Predictor::lm(&fresh.polish).is_some());
    assert_eq!(SavedLm::for_model("m").to_value(), json!({"model": "m", "model_type": "chat"}));
}

/// Load `state` into a program that already has non-default state; the
/// error must leave every byte of its state as it was.
fn rejected(program: &mut dyn Predictors, state: &Value) -> ModuleError {
    let before = program.state_text();
    let err = program.load_state(state).unwrap_err();
    assert_eq!(program.state_text(), before, "program changed by a failed load: {err}");
    err
}

fn two_predictor_state() -> Value {
    let mut state = draft_then_polish(Build::Full).dump_state();
    // Changes that would show if anything were applied before the error.
    state["draft.predict"]["signature"]["instructions"] = json!("Changed instructions.");
    state["draft.predict"]["demos"] = json!([]);
    state
}

#[test]
fn predictor_path_mismatches_name_the_paths() {
    let mut program = draft_then_polish(Build::Full);
    let mut state = two_predictor_state();
    state.as_object_mut().unwrap().remove("polish");
    let err = rejected(&mut program, &state);
    assert!(
        matches!(&err, ModuleError::StatePredictors { missing, unexpected, program }
            if missing == &["polish"] && unexpected.is_empty() && program == &["draft.predict", "polish"]),
        "{err:?}"
    );
    assert!(err.to_string().contains("missing predictor(s) `polish`"), "{err}");
    assert!(err.to_string().contains("the program has `draft.predict`, `polish`"), "{err}");

    let mut state = two_predictor_state();
    state["polish_v2"] = state["polish"].clone();
    let err = rejected(&mut program, &state);
    assert!(matches!(&err, ModuleError::StatePredictors { unexpected, .. } if unexpected == &["polish_v2"]), "{err}");
    assert!(err.to_string().contains("unexpected predictor(s) `polish_v2`"), "{err}");

    // A bare predictor's (flat) file into a module, and the other way round.
    let flat = predict(
        &json!({"module": "Predict", "signature": {"string": "draft, tone -> final",
        "instructions": "x"}, "demos": [], "demo_inputs": []}),
        Build::Full,
    )
    .dump_state();
    let err = rejected(&mut program, &flat);
    assert!(err.to_string().contains("as saved from a bare Predict"), "{err}");
    let mut bare = Predict::from_signature("draft, tone -> final").unwrap();
    let err = rejected(&mut bare, &two_predictor_state());
    assert!(matches!(&err, ModuleError::StatePredictors { missing, .. } if missing == &["self"]), "{err}");
    assert!(err.to_string().contains("single predictor"), "{err}");
}

#[test]
fn a_wrong_field_count_names_the_path_and_both_counts() {
    let mut program = draft_then_polish(Build::Full);
    let mut state = two_predictor_state();
    state["polish"]["signature"]["fields"].as_array_mut().unwrap().pop();
    let err = rejected(&mut program, &state);
    assert!(
        matches!(&err, ModuleError::StateFieldCount { path, saved: 2, expected: 3, fields }
            if path == "polish" && fields == &["draft", "tone", "final"]),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        r#"saved signature of `polish` has 2 fields, the predictor's has 3 (["draft", "tone", "final"])"#
    );
}

#[test]
fn malformed_entries_are_typed_errors_naming_the_location() {
    let mut program = draft_then_polish(Build::Full);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("", json!([1, 2]), "expected an object of predictor states, got a list"),
        ("polish.demos", json!("x"), "expected a list of demo objects, got a string"),
        ("polish.demos[1]", json!(3), "expected a demo object, got a number"),
        ("polish.signature", json!(null), "expected an object, got null"),
        ("polish.signature.fields[2].prefix", json!(7), "expected a string, got a number"),
        ("polish.signature.instructions", json!(["x"]), "expected a string, got a list"),
        ("polish.lm", json!("gpt"), "expected null or an object, got a string"),
        ("polish.lm", json!({"temperature": 0.1}), "an `lm` object must have a string `model`"),
        ("polish.traces", json!({}), "expected a list, got an object"),
        ("polish", json!(5), "expected a predictor state object, got a number"),
        ("metadata", json!("v1"), "expected an object, got a string"),
    ];
    for (at, value, message) in cases {
        let mut state = two_predictor_state();
        if at.is_empty() {
            state = value;
        } else {
            *pointer(&mut state, at) = value;
        }
        let err = rejected(&mut program, &state);
        assert!(
            matches!(&err, ModuleError::State { at: got, message: m } if got == at && m == message),
            "{at}: {err:?}"
        );
    }
    let mut state = two_predictor_state();
    state["polish"].as_object_mut().unwrap().remove("demos");
    let err = rejected(&mut program, &state);
    assert_eq!(err.to_string(), "saved state at `polish`: missing `demos`");
}

/// The value at a dotted location such as `polish.signature.fields[2].prefix`
/// (the first segment is a root key and may itself contain dots).
fn pointer<'a>(state: &'a mut Value, at: &str) -> &'a mut Value {
    let (root_key, rest) = match at.strip_prefix("draft.predict") {
        Some(rest) => ("draft.predict", rest.trim_start_matches('.')),
        None => at.split_once('.').unwrap_or((at, "")),
    };
    let mut value = &mut state[root_key];
    for part in rest.split('.').filter(|p| !p.is_empty()) {
        value = match part.split_once('[') {
            Some((key, index)) => &mut value[key][index.trim_end_matches(']').parse::<usize>().unwrap()],
            None => &mut value[part],
        };
    }
    value
}

#[test]
fn file_errors_name_the_file_and_leave_the_program_unchanged() {
    let mut program = draft_then_polish(Build::Full);
    let before = program.state_text();
    let (dir, path) = temp_file("broken.json");
    std::fs::write(&path, "{\n  \"polish\": {,\n}").unwrap();
    let err = program.load(&path).unwrap_err();
    assert!(matches!(&err, ModuleError::StateJson { file, line: 2, .. } if file == &path), "{err:?}");
    assert!(err.to_string().contains("broken.json") && err.to_string().contains("line 2"), "{err}");

    let missing = dir.path().join("nope.json");
    let err = program.load(&missing).unwrap_err();
    assert!(
        matches!(&err, ModuleError::StateIo { file, action: "read", kind: std::io::ErrorKind::NotFound, .. }
            if file == &missing),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("cannot read `") && err.to_string().contains("nope.json"), "{err}");

    let err = program.save(dir.path().join("no_such_dir").join("p.json")).unwrap_err();
    assert!(matches!(&err, ModuleError::StateIo { action: "write", .. }), "{err:?}");
    assert_eq!(program.state_text(), before);
}

#[test]
fn saving_replaces_the_file_atomically_and_leaves_no_temporary_files() {
    let (dir, path) = temp_file("program.json");
    std::fs::write(&path, "old contents").unwrap();
    let program = draft_then_polish(Build::Full);
    program.save(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), program.state_text());
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert_eq!(names, ["program.json"]);
}

#[test]
fn descriptions_round_trip_and_placeholders_mean_none() {
    let mut program = Predict::from_signature("question -> answer").unwrap();
    let mut state = program.dump_state();
    state["signature"]["fields"][1]["description"] = json!("often between 1 and 5 words");
    state["signature"]["fields"][0]["prefix"] = json!("Q:");
    program.load_state(&state).unwrap();
    let sig = program.signature_spec();
    assert_eq!(sig.field("answer").unwrap().desc.as_deref(), Some("often between 1 and 5 words"));
    assert_eq!(sig.field("question").unwrap().desc, None);
    assert_eq!(sig.field("question").unwrap().prefix, "Q:");
    assert_eq!((sig.field("answer").unwrap().io, &sig.field("answer").unwrap().ty), (Io::Output, &FieldType::Str));
    assert_eq!(program.dump_state(), state);
}

/// DSPy 3.4.1's `Predict.dump_state()` for `q -> ok: Noul, a` with
/// `p.fields = {"ok": {"threshold": 0.7}}` (written by DSPy itself): the
/// `fields` key sits between `signature` and `lm`.
const DSPY_STATE_WITH_FIELDS: &str = r#"{"traces": [], "train": [], "demos": [], "signature": {"instructions": "Given the fields `q`, produce the fields `ok`, `a`.", "fields": [{"prefix": "Q:", "description": "${q}"}, {"prefix": "Ok:", "description": "${ok}"}, {"prefix": "A:", "description": "${a}"}]}, "fields": {"ok": {"threshold": 0.7}}, "lm": null}"#;

#[test]
fn the_fields_key_survives_load_and_save() {
    let saved: Value = serde_json::from_str(DSPY_STATE_WITH_FIELDS).unwrap();
    let mut program = Predict::from_signature("q -> ok: bool, a").unwrap();
    assert_eq!(without_metadata(program.dump_state()).get("fields"), None, "no `fields` when there is none");
    program.load_state(&saved).unwrap();
    assert_eq!(program.decision_fields(), saved["fields"].as_object());
    let again = without_metadata(program.dump_state());
    // Same document, same key order, as DSPy writes it.
    assert_eq!(serde_json::to_string(&again).unwrap(), serde_json::to_string(&saved).unwrap());
    // Clones keep it; an empty `fields` is not written back (DSPy: `if self.fields`).
    assert_eq!(program.clone().decision_fields(), saved["fields"].as_object());
    let mut empty = saved.clone();
    empty["fields"] = json!({});
    program.load_state(&empty).unwrap();
    assert_eq!(program.decision_fields(), None);
    assert_eq!(without_metadata(program.dump_state()).get("fields"), None);
}

#[test]
fn a_malformed_fields_key_is_a_typed_error_and_changes_nothing() {
    let saved: Value = serde_json::from_str(DSPY_STATE_WITH_FIELDS).unwrap();
    let mut program = Predict::from_signature("q -> ok: bool, a").unwrap();
    program.load_state(&saved).unwrap();
    for (bad, at, words) in [
        (json!([]), "fields", "must be a mapping of output names"),
        (json!({"zz": {}}), "fields", "[\"zz\"]"),
        (json!({"q": {}}), "fields", "[\"q\"]"),
        (json!({"ok": 3}), "fields.ok", "for \"ok\" must be a mapping"),
    ] {
        let mut state = saved.clone();
        state["fields"] = bad.clone();
        state["demos"] = json!([{"q": "x", "ok": true, "a": "y"}]);
        match rejected(&mut program, &state) {
            ModuleError::State { at: got_at, message } => {
                assert_eq!(got_at, at, "{bad}");
                assert!(message.contains(words), "{bad}: {message}");
            }
            other => panic!("{bad}: unexpected {other:?}"),
        }
        assert!(program.demos().is_empty(), "{bad}: program unchanged");
        assert_eq!(program.decision_fields(), saved["fields"].as_object());
    }
}
