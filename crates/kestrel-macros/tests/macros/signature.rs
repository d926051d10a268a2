//! `#[derive(Signature)]`: the spec equals the string form's, instructions
//! come from doc comments, and the generated Input / Output structs round
//! trip through `Example` / `Prediction`.

use kestrel_core::{Example, FieldType, Fields, Io, Prediction, Signature, SignatureSpec, SignatureTypes};
use kestrel_macros::Signature;
use serde_json::json;

/// Answer questions with short factoid answers.
#[derive(Signature)]
pub struct Qa {
    #[input]
    question: String,
    /// The passages to read.
    #[input(desc = "facts")]
    context: Vec<String>,
    #[output(desc = "often between 1 and 5 words")]
    answer: String,
}

/// Summarize the document.
///
/// Keep it under three sentences:
///   - be factual
///   - no opinions
#[derive(Signature)]
struct Summarize {
    #[input]
    document: String,
    #[output(prefix = "Short Summary:")]
    summary: String,
}

#[derive(Signature)]
struct NoDocs {
    #[output]
    answer_id2: i64,
    #[input]
    question: String,
}

/// This doc comment is replaced.
#[derive(Signature)]
#[signature(instructions = "Explicit instructions.")]
struct Explicit {
    #[input]
    r#type: String,
    #[output(desc = "the \"label\"", prefix = "Label:")]
    label: bool,
}

mod nested {
    use kestrel_macros::Signature;

    /// Visible to the parent module.
    #[derive(Signature)]
    pub(crate) struct Inner {
        #[input]
        pub(crate) text: String,
        #[output]
        pub(crate) words: u32,
    }
}

#[test]
fn typed_spec_equals_the_string_form() {
    let mut expected = SignatureSpec::parse("question, context: list[str] -> answer")
        .unwrap()
        .with_instructions("Answer questions with short factoid answers.");
    expected.field_mut("context").unwrap().desc = Some("facts".into());
    expected.field_mut("answer").unwrap().desc = Some("often between 1 and 5 words".into());
    assert_eq!(Qa::spec(), expected);
    assert_eq!(Qa::spec().to_string(), "question, context -> answer");
    assert_eq!(Qa::spec().field("question").unwrap().prefix, "Question:");
    assert_eq!(Qa::spec().field("question").unwrap().desc, None);
    // Cached and cloned: every call gives the same spec.
    assert_eq!(Qa::spec(), Qa::spec());
}

#[test]
fn instructions_come_from_doc_comments() {
    assert_eq!(
        Summarize::spec().instructions(),
        "Summarize the document.\n\nKeep it under three sentences:\n  - be factual\n  - no opinions"
    );
    assert_eq!(Summarize::spec().field("summary").unwrap().prefix, "Short Summary:");
    // No doc comment: DSPy's default instructions; inputs before outputs.
    let spec = NoDocs::spec();
    assert_eq!(spec.instructions(), "Given the fields `question`, produce the fields `answer_id2`.");
    assert_eq!(
        spec.fields().map(|f| (f.name.as_str(), f.io)).collect::<Vec<_>>(),
        [("question", Io::Input), ("answer_id2", Io::Output)]
    );
    assert_eq!(spec.field("answer_id2").unwrap().prefix, "Answer Id 2:");
    // #[signature(instructions = ...)] wins over the doc comment; raw
    // identifiers lose their `r#`.
    let spec = Explicit::spec();
    assert_eq!(spec.instructions(), "Explicit instructions.");
    assert_eq!(spec.input_names(), ["type"]);
    let label = spec.field("label").unwrap();
    assert_eq!(
        (label.desc.as_deref(), label.prefix.as_str(), &label.ty),
        (Some("the \"label\""), "Label:", &FieldType::Bool)
    );
}

#[test]
fn input_and_output_structs_round_trip() {
    let input = QaInput { question: "Where is the Eiffel Tower?".into(), context: vec!["It is in Paris.".into()] };
    let example = Example::from_serialize(&input).unwrap();
    assert_eq!(example.fields().keys().collect::<Vec<_>>(), ["question", "context"]);
    assert_eq!(example.get("context"), Some(&json!(["It is in Paris."])));
    let back: QaInput = example.to_typed().unwrap();
    assert_eq!(back.question, input.question);
    assert_eq!(back.context, input.context);

    let prediction = Prediction::new(Fields::from_iter([("answer".to_string(), json!("Paris"))]));
    let output: <Qa as SignatureTypes>::Output = prediction.to_typed().unwrap();
    assert_eq!(output.answer, "Paris");
    assert_eq!(Prediction::from_serialize(&output).unwrap(), prediction);
    let cloned = output.clone();
    assert!(format!("{cloned:?}").contains("Paris"));

    let raw = ExplicitInput { r#type: "x".into() };
    assert_eq!(Example::from_serialize(&raw).unwrap().get_str("type"), Some("x"));

    let inner = nested::InnerInput { text: "a b".into() };
    assert_eq!(inner.text, "a b");
    assert_eq!(nested::Inner::spec().field("words").unwrap().ty, FieldType::Int);
}

/// Output defaults: `#[output(default = <JSON>)]` takes any JSON value
/// (`serde_json::json!` syntax) and fills a missing output, as DSPy's
/// `OutputField(default=...)`.
#[derive(Signature)]
struct Branch {
    #[input]
    repo: String,
    #[output(desc = "the branch", default = "main")]
    branch: String,
    #[output(default = [1, 2], prefix = "Ids:")]
    ids: Vec<i64>,
    #[output(default = {"depth": 1, "tags": null})]
    options: serde_json::Value,
    #[output]
    count: i64,
}

#[test]
fn output_defaults_are_declared_with_any_json_value() {
    use kestrel_core::{Adapter, ChatAdapter};
    let spec = Branch::spec();
    let default = |name: &str| spec.field(name).unwrap().default.clone();
    assert_eq!(default("repo"), None);
    assert_eq!(default("branch"), Some(json!("main")));
    assert_eq!(default("ids"), Some(json!([1, 2])));
    assert_eq!(default("options"), Some(json!({"depth": 1, "tags": null})));
    assert_eq!(default("count"), None);
    assert_eq!(spec.field("branch").unwrap().desc.as_deref(), Some("the branch"));
    assert_eq!(spec.field("ids").unwrap().prefix, "Ids:");

    // A reply with only `count` parses, the rest filled from the defaults.
    let fields = ChatAdapter.parse(&spec, "[[ ## count ## ]]\n3").unwrap();
    let out: BranchOutput = Prediction::new(fields).to_typed().unwrap();
    assert_eq!((out.branch.as_str(), out.ids, out.count), ("main", vec![1, 2], 3));
    assert_eq!(out.options, json!({"depth": 1, "tags": null}));
}
