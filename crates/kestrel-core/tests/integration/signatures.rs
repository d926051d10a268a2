//! Signature strings (DSPy syntax): every accepted form, every error
//! (variant, byte position, message), round trips, default instructions,
//! `SignatureSpec` manipulations, and a no-panic sweep over mangled input.
//! Type annotations on their own are in [`types`].

mod types;

use kestrel_core::{CoreError, FieldSpec, FieldType, Io, SignatureSpec};
use serde_json::json;

pub(super) fn ty(text: &str) -> FieldType {
    text.parse::<FieldType>().unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

pub(super) fn list(t: FieldType) -> FieldType {
    FieldType::List(Box::new(t))
}

pub(super) fn dict(k: FieldType, v: FieldType) -> FieldType {
    FieldType::Dict(Box::new(k), Box::new(v))
}

/// The (position, message) of a signature error, checking its variant and input.
fn sig_err(text: &str) -> (usize, String) {
    match SignatureSpec::parse(text) {
        Err(CoreError::SignatureSyntax { input, position, message }) => {
            assert_eq!(input, text);
            assert!(position <= text.len(), "{text:?}: position {position} out of range");
            (position, message)
        }
        other => panic!("{text:?} should fail with SignatureSyntax, got {other:?}"),
    }
}

fn sig(text: &str) -> SignatureSpec {
    SignatureSpec::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn shape(spec: &SignatureSpec) -> Vec<(String, Io, FieldType)> {
    spec.fields().map(|f| (f.name.clone(), f.io, f.ty.clone())).collect()
}

#[test]
fn signature_strings_parse_like_dspy() {
    let spec = sig("context: list[str], question -> answer: int");
    assert_eq!(
        shape(&spec),
        vec![
            ("context".to_string(), Io::Input, list(FieldType::Str)),
            ("question".to_string(), Io::Input, FieldType::Str),
            ("answer".to_string(), Io::Output, FieldType::Int),
        ]
    );
    assert_eq!(spec.instructions(), "Given the fields `context`, `question`, produce the fields `answer`.");
    for field in spec.fields() {
        assert_eq!(field.desc, None);
        assert_eq!(field.constraints, None);
    }
    assert_eq!(spec.field("question").map(|f| f.prefix.as_str()), Some("Question:"));
    assert_eq!(sig("word_counts -> x").field("word_counts").map(|f| f.prefix.clone()), Some("Word Counts:".into()));

    let spec = sig("text -> label: Literal['spam', 'ham'], score: float, count: int, flag: bool");
    assert_eq!(spec.output_names(), ["label", "score", "count", "flag"]);
    assert_eq!(spec.field("label").map(|f| f.ty.clone()), Some(FieldType::Literal(vec![json!("spam"), json!("ham")])));

    let spec = sig("document -> entity_counts: dict[str, int], language");
    assert_eq!(spec.field("entity_counts").map(|f| f.ty.clone()), Some(dict(FieldType::Str, FieldType::Int)));
    assert_eq!(spec.field("language").map(|f| f.ty.clone()), Some(FieldType::Str));

    // Commas and arrows inside brackets or quotes do not split.
    let spec = sig("a: dict[str, int], b: Literal['x, y', 'p->q'] -> c: tuple[int, str]");
    assert_eq!(spec.input_names(), ["a", "b"]);
    assert_eq!(spec.field("b").map(|f| f.ty.clone()), Some(FieldType::Literal(vec![json!("x, y"), json!("p->q")])));

    // Whitespace, newlines, unicode names, a trailing comma (Python allows one).
    let spec = sig("\n  question :str ,\n  context\t: list[ str ] , -> answer ,");
    assert_eq!(spec.input_names(), ["question", "context"]);
    assert_eq!(spec.output_names(), ["answer"]);
    assert_eq!(sig("frage, größe -> antwort").input_names(), ["frage", "größe"]);
    assert_eq!(sig("a->b").output_names(), ["b"]);
    assert_eq!(sig("x: str | None -> y: Optional[int]").field("y").map(|f| f.ty.clone()), Some(ty("int | None")));

    // DSPy accepts a signature without inputs.
    let spec = sig("-> answer");
    assert_eq!(spec.input_names(), Vec::<String>::new());
    assert_eq!(spec.instructions(), "Given the fields , produce the fields `answer`.");
    assert_eq!(spec.to_string(), " -> answer");
}

#[test]
fn signature_errors_point_at_the_problem() {
    let (pos, msg) = sig_err("question answer");
    assert_eq!(pos, 15);
    assert!(msg.contains("missing `->`"), "{msg}");
    let (pos, msg) = sig_err("a -> b -> c");
    assert_eq!(pos, 7);
    assert!(msg.contains("more than one `->`"), "{msg}");
    let (pos, msg) = sig_err("question ->");
    assert_eq!(pos, 11);
    assert!(msg.contains("no output fields"), "{msg}");
    let (pos, msg) = sig_err("question ->   ");
    assert_eq!(pos, 11);
    assert!(msg.contains("at least one output"), "{msg}");
    let (pos, msg) = sig_err("a, a -> b");
    assert_eq!(pos, 3);
    assert!(msg.contains("duplicate field name `a`") && msg.contains("input"), "{msg}");
    let (pos, msg) = sig_err("a, b -> c, b");
    assert_eq!(pos, 11);
    assert!(msg.contains("duplicate field name `b`") && msg.contains("already an input"), "{msg}");
    let (pos, msg) = sig_err("a,, b -> c");
    assert_eq!(pos, 2);
    assert!(msg.contains("empty field between commas"), "{msg}");
    let (pos, msg) = sig_err(", a -> c");
    assert_eq!(pos, 0);
    assert!(msg.contains("empty field before `,`"), "{msg}");
    let (pos, msg) = sig_err("a -> b, , c");
    assert_eq!(pos, 8);
    assert!(msg.contains("empty field"), "{msg}");
    let (pos, msg) = sig_err("a -> ,");
    assert_eq!(pos, 5);
    assert!(msg.contains("empty field"), "{msg}");
    let (pos, msg) = sig_err("1st -> b");
    assert_eq!(pos, 0);
    assert!(msg.contains("`1st` is not a valid field name"), "{msg}");
    let (pos, msg) = sig_err("question answer -> b");
    assert_eq!(pos, 0);
    assert!(msg.contains("missing comma"), "{msg}");
    let (pos, msg) = sig_err("a -> b-c");
    assert_eq!(pos, 5);
    assert!(msg.contains("`b-c` is not a valid field name"), "{msg}");
    let (pos, msg) = sig_err("a -> class");
    assert_eq!(pos, 5);
    assert!(msg.contains("`class` is a Python keyword"), "{msg}");
    let (pos, msg) = sig_err("_private -> b");
    assert_eq!(pos, 0);
    assert!(msg.contains("must not start with an underscore") && msg.contains("`private`"), "{msg}");
    let (pos, msg) = sig_err(" : int -> b");
    assert_eq!(pos, 1);
    assert!(msg.contains("missing field name"), "{msg}");
    let (pos, msg) = sig_err("a: -> b");
    assert_eq!(pos, 2);
    assert!(msg.contains("missing type after `a:`"), "{msg}");
    let (pos, msg) = sig_err("q -> answer: integer");
    assert_eq!(pos, 13);
    assert!(msg.contains("field `answer`") && msg.contains("unknown type `integer`"), "{msg}");
    let (pos, msg) = sig_err("q -> a: Person");
    assert_eq!(pos, 8);
    assert!(msg.contains("unknown type `Person`") && msg.contains("derive(Signature)"), "{msg}");
    let (pos, msg) = sig_err("q: list[str -> a");
    assert_eq!(pos, 7);
    assert!(msg.contains("unclosed `[`"), "{msg}");
    let (pos, msg) = sig_err("q: list[int]] -> a");
    assert_eq!(pos, 12);
    assert!(msg.contains("unmatched `]`"), "{msg}");
    let (pos, msg) = sig_err("q -> a: Literal['x]");
    assert_eq!(pos, 16);
    assert!(msg.contains("unterminated string"), "{msg}");
    let (pos, msg) = sig_err("q -> a: Literal[]");
    assert_eq!(pos, 15);
    assert!(msg.contains("field `a`") && msg.contains("empty `[]`"), "{msg}");
    let (pos, msg) = sig_err("q -> a: int str");
    assert_eq!(pos, 12);
    assert!(msg.contains("unexpected `s`"), "{msg}");
    let (pos, msg) = sig_err("");
    assert_eq!(pos, 0);
    assert!(msg.contains("missing `->`"), "{msg}");

    // The Display form names the input and the position.
    let text = SignatureSpec::parse("a -> b -> c").unwrap_err().to_string();
    assert!(text.contains("\"a -> b -> c\"") && text.contains("byte 7"), "{text}");
}

#[test]
fn display_round_trips() {
    for text in [
        "question -> answer",
        "context, question -> answer",
        "question -> answer, confidence",
        "a, b, c -> d, e",
        " -> answer",
    ] {
        let spec = sig(text);
        assert_eq!(spec.to_string(), text);
        assert_eq!(sig(&spec.to_string()).input_names(), spec.input_names());
    }
    let typed = sig("context: list[str], question: str -> answer: int, why");
    assert_eq!(typed.to_string(), "context, question -> answer, why");
    let reparsed = sig(&typed.to_string());
    assert_eq!(reparsed.input_names(), typed.input_names());
    assert_eq!(reparsed.output_names(), typed.output_names());
    assert_eq!(reparsed.instructions(), typed.instructions());
    let via_from_str: SignatureSpec = "question -> answer".parse().unwrap();
    assert_eq!(via_from_str, sig("question -> answer"));
}

#[test]
fn typed_and_hand_built_specs_are_equal() {
    let by_hand = SignatureSpec::new(
        vec![
            FieldSpec::output("answer", FieldType::Int),
            FieldSpec::input("context", list(FieldType::Str)),
            FieldSpec::input("question", FieldType::Str),
        ],
        None,
    )
    .unwrap();
    assert_eq!(by_hand, sig("context: list[str], question -> answer: int"), "field interleaving does not matter");
    assert_eq!(by_hand.input_names(), ["context", "question"]);
}

#[test]
fn default_instructions_follow_dspy() {
    let spec = sig("a, b -> c");
    assert_eq!(spec.default_instructions(), "Given the fields `a`, `b`, produce the fields `c`.");
    assert_eq!(spec.instructions(), spec.default_instructions());
    let custom = SignatureSpec::new(spec.fields().cloned().collect(), Some("Be brief.".into())).unwrap();
    assert_eq!(custom.instructions(), "Be brief.");
    assert_eq!(custom.default_instructions(), "Given the fields `a`, `b`, produce the fields `c`.");
}

#[test]
fn manipulations() {
    let base = sig("question -> answer");
    let with = base.clone().with_instructions("Answer briefly.");
    assert_eq!(with.instructions(), "Answer briefly.");
    assert_eq!(shape(&with), shape(&base));
    let mut set = base.clone();
    set.set_instructions("Other.");
    assert_eq!(set.instructions(), "Other.");

    // prepend / append on each side; instructions kept as they were (DSPy).
    let cot = base.clone().prepend(FieldSpec::output("reasoning", FieldType::Str)).unwrap();
    assert_eq!(cot.output_names(), ["reasoning", "answer"]);
    assert_eq!(cot.instructions(), "Given the fields `question`, produce the fields `answer`.");
    let more = cot.clone().append(FieldSpec::input("context", list(FieldType::Str))).unwrap();
    assert_eq!(more.input_names(), ["question", "context"]);
    assert_eq!(more.output_names(), ["reasoning", "answer"]);
    let first = more.clone().prepend(FieldSpec::input("topic", FieldType::Str)).unwrap();
    assert_eq!(first.input_names(), ["topic", "question", "context"]);
    assert_eq!(
        first.fields().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["topic", "question", "context", "reasoning", "answer"]
    );

    // insert at any index of its side, including the end.
    let ins = more.clone().insert(1, FieldSpec::input("hint", FieldType::Str)).unwrap();
    assert_eq!(ins.input_names(), ["question", "hint", "context"]);
    let end = more.clone().insert(2, FieldSpec::output("score", FieldType::Float)).unwrap();
    assert_eq!(end.output_names(), ["reasoning", "answer", "score"]);
    let err = more.clone().insert(3, FieldSpec::output("x", FieldType::Str)).unwrap_err();
    assert!(matches!(&err, CoreError::InvalidSignature(m) if m.contains("`x`") && m.contains("position 3")), "{err}");
    // insert into an empty side.
    let no_inputs = sig("-> answer").insert(0, FieldSpec::input("q", FieldType::Str)).unwrap();
    assert_eq!(no_inputs.input_names(), ["q"]);

    // duplicates and invalid names are refused.
    let dup = base.clone().append(FieldSpec::input("answer", FieldType::Str)).unwrap_err();
    assert!(matches!(&dup, CoreError::InvalidSignature(m) if m.contains("duplicate field name `answer`")), "{dup}");
    let bad = base.clone().append(FieldSpec::input("not valid", FieldType::Str)).unwrap_err();
    assert!(matches!(&bad, CoreError::InvalidSignature(m) if m.contains("not a valid field name")), "{bad}");

    // delete keeps the rest in order; an unknown name is an error.
    let deleted = first.clone().delete("question").unwrap();
    assert_eq!(deleted.input_names(), ["topic", "context"]);
    assert_eq!(deleted.output_names(), ["reasoning", "answer"]);
    assert_eq!(deleted.clone().delete("nope").unwrap_err(), CoreError::UnknownField("nope".into()));

    // field_mut edits descriptions and prefixes in place.
    let mut edited = base.clone();
    if let Some(f) = edited.field_mut("answer") {
        f.desc = Some("a short answer".into());
        f.prefix = "Final Answer:".into();
    }
    assert_eq!(edited.field("answer").and_then(|f| f.desc.clone()).as_deref(), Some("a short answer"));
    assert_eq!(edited.field("answer").map(|f| f.stored_desc()), Some("a short answer".into()));
    assert_eq!(base.field("answer").map(|f| f.stored_desc()), Some("${answer}".into()));
}

/// Deterministic pseudo-random numbers (xorshift) for the sweep.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn mangled_input_never_panics() {
    let valid = [
        "context: list[str], question -> answer: int",
        "text -> label: Literal['spam', 'ham'], score: float",
        "a: dict[str, list[Optional[int]]], b: Union[int, str] | None -> c: tuple[int, ...]",
        "q: Literal['it\\'s', \"x]y\", 1, True, None] -> a: str | None",
        "größe: List[Dict[str, Any]] -> ответ",
    ];
    let mut inputs: Vec<String> = Vec::new();
    for v in valid {
        for (i, _) in v.char_indices() {
            inputs.push(v[..i].to_string());
            inputs.push(v[i..].to_string());
        }
    }
    let pieces = [
        "[", "]", "(", ")", ",", ":", "->", "-", ">", "|", "'", "\"", "\\", "list", "dict", "Literal", "Optional",
        "Union", "str", "int", "None", "a", "b", " ", "\n", "...", ".", "1", "-1", "é", "1.5", "True", "r'", "\\x",
        "\\u12", "typing.",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..600 {
        let len = 1 + rng.next() % 12;
        let soup: String = (0..len).map(|_| rng.pick(&pieces)).collect();
        inputs.push(soup);
    }
    assert!(inputs.len() > 500, "{} inputs", inputs.len());
    let mut parsed = 0;
    for text in &inputs {
        match SignatureSpec::parse(text) {
            Ok(spec) => {
                parsed += 1;
                assert!(spec.output_fields().count() > 0, "{text:?}");
            }
            Err(CoreError::SignatureSyntax { position, message, .. }) => {
                assert!(position <= text.len() && text.is_char_boundary(position), "{text:?}: {position}");
                assert!(!message.is_empty());
            }
            Err(other) => panic!("{text:?}: unexpected error kind {other:?}"),
        }
        match text.parse::<FieldType>() {
            Ok(t) => assert_eq!(ty(&t.python_name()), t, "{text:?} round trip"),
            Err(CoreError::TypeSyntax { position, .. }) => {
                assert!(position <= text.len() && text.is_char_boundary(position), "{text:?}: {position}");
            }
            Err(other) => panic!("{text:?}: unexpected error kind {other:?}"),
        }
    }
    assert!(parsed > 10, "only {parsed} of the mangled inputs parsed");
}
