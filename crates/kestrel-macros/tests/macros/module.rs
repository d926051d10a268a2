//! `#[derive(Module)]`: predictor paths in DSPy's `named_predictors()` style,
//! mutation by path, tuple structs, skipped fields and generics.

use std::collections::HashMap;

use kestrel_core::{Example, SignatureTypes};
use kestrel_macros::{Module, Signature};
use kestrel_modules::{ChainOfThought, Predict, Predictor, Predictors, PredictorsExt};

/// Answer the question.
#[derive(Signature)]
struct Answer {
    #[input]
    question: String,
    #[output]
    answer: String,
}

#[derive(Module)]
struct Inner {
    polish: Option<Predict>,
    unused: Option<Predict>,
}

#[derive(Module)]
struct Program {
    generate: ChainOfThought<Answer>,
    hops: Vec<Predict>,
    inner: Inner,
    #[module(skip)]
    notes: HashMap<String, String>,
    max_hops: usize,
    r#final: Box<Predict>,
}

#[derive(Module)]
struct Pair(Predict, #[module(skip)] Predict, ChainOfThought);

#[derive(Module)]
struct Wrap<M> {
    step: M,
    label: String,
}

#[derive(Module)]
struct Typed<S: SignatureTypes> {
    step: Predict<S>,
}

#[derive(Module)]
struct Empty;

fn predict(signature: &str) -> Predict {
    Predict::from_signature(signature).unwrap()
}

fn program() -> Program {
    Program {
        generate: ChainOfThought::new(),
        hops: vec![predict("q -> a"), predict("q -> a")],
        inner: Inner { polish: Some(predict("draft -> final")), unused: None },
        notes: HashMap::new(),
        max_hops: 2,
        r#final: Box::new(predict("x -> y")),
    }
}

#[test]
fn paths_follow_dspy_named_predictors() {
    let program = program();
    assert_eq!(program.predictor_paths(), ["generate.predict", "hops[0]", "hops[1]", "inner.polish", "final"]);
    assert!(program.notes.is_empty() && program.max_hops == 2);
    let pair = Pair(predict("a -> b"), predict("a -> b"), ChainOfThought::from_signature("a -> b").unwrap());
    assert_eq!(pair.predictor_paths(), ["0", "2.predict"]);
    assert_eq!(pair.1.predictor_paths(), ["self"]);
    let wrapped = Wrap { step: program, label: "x".into() };
    assert_eq!(wrapped.predictor_paths()[..2], ["step.generate.predict", "step.hops[0]"]);
    assert_eq!(wrapped.label, "x");
    assert_eq!(Wrap { step: String::new(), label: String::new() }.predictor_paths(), Vec::<String>::new());
    assert_eq!(Typed::<Answer> { step: Predict::new() }.predictor_paths(), ["step"]);
    assert_eq!(Empty.predictor_paths(), Vec::<String>::new());
}

#[test]
fn predictors_can_be_changed_by_path() {
    let mut program = program();
    let demo = Example::from_pairs([("q", "x"), ("a", "y")]);
    program.with_predictor_mut("hops[1]", |p| p.set_demos(vec![demo.clone()])).unwrap();
    program.with_predictor_mut("inner.polish", |p| p.set_instructions("Polish it.".into())).unwrap();
    program.with_predictor_mut("generate.predict", |p| p.set_demos(vec![demo.clone()])).unwrap();
    assert_eq!(program.hops[1].demos(), std::slice::from_ref(&demo));
    assert!(program.hops[0].demos().is_empty());
    assert_eq!(program.inner.polish.as_ref().unwrap().signature().instructions(), "Polish it.");
    assert_eq!(program.generate.predict.demos(), [demo]);
    let missing = program.with_predictor_mut("inner.unused", |_| ()).unwrap_err();
    assert!(missing.to_string().contains("inner.unused"), "{missing}");

    let mut seen = Vec::new();
    program.visit_predictors("root", &mut |path, p| seen.push((path.to_string(), p.demos().len())));
    assert_eq!(seen[0], ("root.generate.predict".to_string(), 1));
}
