//! `Retrieve`: passages from a scope-provided or own retriever, `k` from the
//! module or the call, several queries, typed errors, DSPy's `{"k": k}`
//! state, and a `Retrieve` field inside a derived program.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kestrel_core::Example;
use kestrel_lm::{LmError, Passage, Retriever, SharedRetriever, with_retriever};
use kestrel_modules::{Module, ModuleError, ModuleExt, Predict, PredictorsExt, ProgramState, Retrieve, RetrieveInput};
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

#[test]
fn a_derived_program_holds_a_retrieve_field_beside_its_predictors() {
    let rag =
        Rag { retrieve: Retrieve::new(4), answer: Predict::from_signature("context, question -> answer").unwrap() };
    assert_eq!(rag.predictor_paths(), vec!["answer".to_string()]);
    // The program's state is its predictors' (the retriever's `k` is its own).
    assert!(rag.dump_state().get("answer").is_some());
    assert_eq!(rag.retrieve.dump_state(), json!({"k": 4}));
}
