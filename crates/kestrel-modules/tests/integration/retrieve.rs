//! `Retrieve`: passages from a scope-provided or own retriever, `k` from the
//! module or the call, several queries, typed errors, DSPy's `{"k": k}`
//! state, and a `Retrieve` field inside a derived program.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kestrel_core::Example;
use kestrel_lm::{LmError, Passage, Retriever, SharedRetriever, with_retriever};
use kestrel_modules::{
    Module, ModuleError, ModuleExt, Predict, Predictor, PredictorsExt, ProgramState, Retrieve, RetrieveInput,
};
use serde_json::json;

/// Answers `"<name>: <query> #i"` for i in 0..k and logs every call.
#[derive(Debug)]
struct Echo {
    name: &'static str,
    calls: Mutex<Vec<(Vec<String>, usize)>>,
}

impl Echo {
    fn shared(name: &'static str) -> Arc<Echo> {
        Arc::new(Echo { name, calls: Mutex::new(Vec::new()) })
    }
}

#[async_trait]
impl Retriever for Echo {
    fn name(&self) -> &str {
        self.name
    }
    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, LmError> {
        self.calls.lock().unwrap().push((vec![query.to_string()], k));
        Ok((0..k)
            .map(|i| Passage::new(format!("{}: {query} #{i}", self.name), 1.0 / (i + 1) as f32, Some(i as u64)))
            .collect())
    }
    async fn retrieve_batch(&self, queries: &[String], k: usize) -> Result<Vec<Vec<Passage>>, LmError> {
        self.calls.lock().unwrap().push((queries.to_vec(), k));
        Ok(queries
            .iter()
            .map(|q| (0..k).map(|i| Passage::new(format!("{}: {q} #{i}", self.name), 0.0, None)).collect())
            .collect())
    }
}

#[tokio::test]
async fn the_scope_provides_the_retriever_and_k_defaults_to_the_module() {
    let echo = Echo::shared("scoped");
    let retrieve = Retrieve::new(2);
    let out = with_retriever(echo.clone(), retrieve.forward(RetrieveInput::new("who?"))).await.unwrap();
    assert_eq!(out.get("passages").unwrap(), &json!(["scoped: who? #0", "scoped: who? #1"]));
    // A per-call k wins over the module's.
    let out =
        with_retriever(echo.clone(), retrieve.forward(RetrieveInput { query: "x".into(), k: Some(1) })).await.unwrap();
    assert_eq!(out.get("passages").unwrap(), &json!(["scoped: x #0"]));
    assert_eq!(*echo.calls.lock().unwrap(), vec![(vec!["who?".to_string()], 2), (vec!["x".to_string()], 1)]);
    // DSPy's default k is 3.
    assert_eq!(Retrieve::default().get_k(), 3);
}

#[tokio::test]
async fn an_own_retriever_wins_and_none_at_all_is_a_typed_error() {
    let own: SharedRetriever = Echo::shared("own");
    let retrieve = Retrieve::new(1).retriever(own);
    let out = with_retriever(Echo::shared("scoped"), retrieve.forward(RetrieveInput::new("q"))).await.unwrap();
    assert_eq!(out.get("passages").unwrap(), &json!(["own: q #0"]));
    let err = Retrieve::new(1).forward(RetrieveInput::new("q")).await.unwrap_err();
    assert!(matches!(err, ModuleError::Lm(LmError::NoRetriever)), "{err}");
}

#[tokio::test]
async fn several_queries_are_one_batch_with_one_list_per_query() {
    let echo = Echo::shared("r");
    let input = RetrieveInput::new(vec!["a".to_string(), "b".to_string()]);
    let out = with_retriever(echo.clone(), Retrieve::new(1).forward(input)).await.unwrap();
    assert_eq!(out.get("passages").unwrap(), &json!([["r: a #0"], ["r: b #0"]]));
    assert_eq!(echo.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn dynamic_callers_pass_an_example() {
    let example = Example::from_pairs([("query", json!("dyn")), ("answer", json!("ignored"))]).with_inputs(["query"]);
    let out = with_retriever(Echo::shared("r"), Retrieve::new(1).call_example(&example)).await.unwrap();
    assert_eq!(out.get("passages").unwrap(), &json!(["r: dyn #0"]));
    // The scores and ids stay reachable for typed callers.
    let passages = with_retriever(Echo::shared("r"), Retrieve::new(2).passages("s", None)).await.unwrap();
    assert_eq!(passages[1].score, 0.5);
    assert_eq!(passages[1].pid, Some(1));
}

#[test]
fn state_is_dspys_k_and_round_trips() {
    let retrieve = Retrieve::new(7);
    let state = retrieve.dump_state();
    assert_eq!(state, json!({"k": 7}));
    let mut other = Retrieve::new(3);
    other.load_state(&state).unwrap();
    assert_eq!(other.get_k(), 7);
    // Malformed states are typed errors and change nothing.
    for bad in [json!({"k": -1}), json!({"k": "3"}), json!({"k": 2.5}), json!([1])] {
        assert!(matches!(other.load_state(&bad), Err(ModuleError::State { .. })), "{bad}");
        assert_eq!(other.get_k(), 7);
    }
    // Unknown keys are ignored, as DSPy's setattr loop would keep them aside.
    other.load_state(&json!({})).unwrap();
    assert_eq!(other.get_k(), 7);
}

#[derive(Clone, kestrel_macros::Module)]
struct Rag {
    retrieve: Retrieve,
    answer: Predict,
}

fn rag(k: usize) -> Rag {
    Rag { retrieve: Retrieve::new(k), answer: Predict::from_signature("context, question -> answer").unwrap() }
}

#[test]
fn a_derived_program_saves_the_retrieve_k_under_its_field_in_field_order() {
    let program = rag(4);
    assert_eq!(program.predictor_paths(), vec!["answer".to_string()]);
    let state = program.dump_state();
    let keys: Vec<&str> = state.as_object().unwrap().keys().map(String::as_str).collect();
    // DSPy's `named_parameters()` order: fields as declared, then metadata.
    assert_eq!(keys, ["retrieve", "answer", "metadata"]);
    assert_eq!(state["retrieve"], json!({"k": 4}));

    let mut loaded = rag(3);
    loaded.load_state(&state).unwrap();
    assert_eq!(loaded.retrieve.get_k(), 4);
    assert_eq!(loaded.dump_state(), state);
}

#[test]
fn a_missing_or_malformed_retrieve_entry_is_a_typed_error_and_changes_nothing() {
    let mut saved = rag(5);
    saved.answer.set_instructions("Answer tersely.".into());
    let good = saved.dump_state();

    let mut program = rag(2);
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("retrieve");
    let err = program.load_state(&missing).unwrap_err();
    assert!(
        matches!(&err, ModuleError::StatePredictors { missing, .. } if missing == &vec!["retrieve".to_string()]),
        "{err}"
    );

    let mut bad = good.clone();
    bad["retrieve"] = json!({"k": "five"});
    let err = program.load_state(&bad).unwrap_err();
    assert!(matches!(&err, ModuleError::State { at, .. } if at == "retrieve.k"), "{err}");
    assert_eq!(program.retrieve.get_k(), 2, "unchanged");
    assert_ne!(program.answer.signature().instructions(), "Answer tersely.", "unchanged");

    // A bad predictor entry after a good retrieve entry: the k is restored.
    let mut bad_predictor = good.clone();
    bad_predictor["answer"]["signature"]["fields"] = json!([]);
    assert!(program.load_state(&bad_predictor).is_err());
    assert_eq!(program.retrieve.get_k(), 2, "unchanged");

    program.load_state(&good).unwrap();
    assert_eq!(program.retrieve.get_k(), 5);
    assert_eq!(program.answer.signature().instructions(), "Answer tersely.");
}

#[test]
fn a_bare_retrieve_saves_its_k_as_the_document() {
    let bare = Retrieve::new(6);
    let state = kestrel_modules::ProgramState::dump_state(&bare);
    assert_eq!(state["k"], 6);
    let mut other = Retrieve::new(1);
    kestrel_modules::ProgramState::load_state(&mut other, &state).unwrap();
    assert_eq!(other.get_k(), 6);
}
