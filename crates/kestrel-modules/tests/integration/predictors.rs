//! Predictor access by path, cheap clones that keep ids, and state checks.

use kestrel_core::{Example, SignatureSpec};
use kestrel_modules::{ChainOfThought, ModuleError, Predict, Predictor, Predictors, PredictorsExt, join_path};

#[derive(Clone)]
struct Pipeline {
    draft: ChainOfThought,
    polish: Predict,
    hops: Vec<Predict>,
}

impl Predictors for Pipeline {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        self.draft.visit_predictors(&join_path(path, "draft"), visit);
        self.polish.visit_predictors(&join_path(path, "polish"), visit);
        self.hops.visit_predictors(&join_path(path, "hops"), visit);
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        self.draft.visit_predictors_mut(&join_path(path, "draft"), visit);
        self.polish.visit_predictors_mut(&join_path(path, "polish"), visit);
        self.hops.visit_predictors_mut(&join_path(path, "hops"), visit);
    }
}

fn pipeline() -> Pipeline {
    Pipeline {
        draft: ChainOfThought::from_signature("request -> draft").unwrap(),
        polish: Predict::from_signature("draft, tone -> final").unwrap(),
        hops: vec![Predict::from_signature("q -> a").unwrap(), Predict::from_signature("q -> a").unwrap()],
    }
}

#[test]
fn paths_follow_dspy_named_predictors() {
    assert_eq!(pipeline().predictor_paths(), vec!["draft.predict", "polish", "hops[0]", "hops[1]"]);
    assert_eq!(Predict::from_signature("q -> a").unwrap().predictor_paths(), vec!["self"]);
    assert_eq!(ChainOfThought::from_signature("q -> a").unwrap().predictor_paths(), vec!["predict"]);
}

#[test]
fn demos_and_instructions_set_by_path_leave_the_original_untouched() {
    let original = pipeline();
    let mut candidate = original.clone();
    let demo = Example::from_pairs([("q", "x"), ("a", "y")]);
    candidate.with_predictor_mut("hops[1]", |p| p.set_demos(vec![demo.clone()])).unwrap();
    candidate.with_predictor_mut("draft.predict", |p| p.set_instructions("Draft it.".into())).unwrap();

    let states = candidate.predictor_states();
    assert_eq!(states[3].1.demos, vec![demo]);
    assert_eq!(states[0].1.signature.instructions(), "Draft it.");
    assert!(original.predictor_states().iter().all(|(_, s)| s.demos.is_empty()));
    assert_ne!(original.predictor_states()[0].1.signature.instructions(), "Draft it.");
}

#[test]
fn clones_keep_predictor_ids_and_ids_map_back_to_paths() {
    let original = pipeline();
    let copy = original.clone();
    let id = original.polish.id();
    assert_eq!(copy.polish.id(), id);
    assert_ne!(original.hops[0].id(), original.hops[1].id());
    assert_eq!(copy.path_of(id).as_deref(), Some("polish"));
}

#[test]
fn unknown_path_and_mismatched_signature_are_errors() {
    let mut p = pipeline();
    let err = p.with_predictor_mut("nope", |_| ()).unwrap_err();
    assert!(matches!(err, ModuleError::UnknownPredictor { ref available, .. } if available.len() == 4), "{err}");

    let other = SignatureSpec::parse("x -> y").unwrap();
    let err = p.with_predictor_mut("polish", |pr| pr.set_signature(other)).unwrap().unwrap_err();
    assert!(matches!(err, ModuleError::SignatureMismatch { .. }), "{err}");

    let same_fields = SignatureSpec::parse("draft, tone -> final").unwrap().with_instructions("Polish.");
    p.with_predictor_mut("polish", |pr| pr.set_signature(same_fields)).unwrap().unwrap();
    assert_eq!(p.polish.signature_spec().instructions(), "Polish.");
}
