//! `answer_exact_match` and `answer_passage_match` on examples and
//! predictions, as DSPy defines them, and their errors.

use kestrel_core::{Example, Prediction};
use kestrel_eval::metrics::{
    AnswerExactMatch, AnswerPassageMatch, answer_exact_match, answer_exact_match_metric, answer_passage_match,
};
use kestrel_eval::{EvalError, Metric};
use serde_json::json;

fn example(answer: serde_json::Value) -> Example {
    Example::from_pairs([("question", json!("q")), ("answer", answer)]).with_inputs(["question"])
}

fn prediction(pairs: serde_json::Value) -> Prediction {
    serde_json::from_value(pairs).unwrap()
}

#[test]
fn answer_exact_match_follows_dspy() {
    let gold = example(json!(["Eiffel Tower", "Louvre"]));
    let pred = prediction(json!({"answer": "The Eiffel Tower"}));
    assert!(answer_exact_match(&gold, &pred, 1.0).unwrap());
    assert!(answer_exact_match(&gold, &pred, 0.5).unwrap());

    let gold = example(json!("Eiffel Tower"));
    let pred = prediction(json!({"answer": "the tower"}));
    // F1("the tower", "Eiffel Tower") = 2/3.
    assert!(!answer_exact_match(&gold, &pred, 1.0).unwrap());
    assert!(answer_exact_match(&gold, &pred, 0.5).unwrap());
    assert!(!answer_exact_match(&gold, &pred, 0.67).unwrap());
    // frac above 1 is exact match, as in DSPy.
    assert!(!answer_exact_match(&gold, &pred, 2.0).unwrap());

    // Numbers are compared as their text.
    assert!(answer_exact_match(&example(json!(72)), &prediction(json!({"answer": "72"})), 1.0).unwrap());
}

#[test]
fn bad_answer_fields_are_typed_errors() {
    let pred = prediction(json!({"answer": "x"}));
    let err = answer_exact_match(&example(json!({"a": 1})), &pred, 1.0).unwrap_err();
    assert!(matches!(&err, EvalError::FieldType { field, on: "example", .. } if field == "answer"), "{err}");
    let err = answer_exact_match(&example(json!([])), &pred, 1.0).unwrap_err();
    assert!(err.to_string().contains("non-empty list"), "{err}");
    let no_answer = Example::from_pairs([("question", "q")]);
    let err = answer_exact_match(&no_answer, &pred, 1.0).unwrap_err();
    assert_eq!(err.to_string(), "the example has no field `answer` (it has [\"question\"])");
    let err = answer_exact_match(&example(json!("x")), &prediction(json!({"output": "x"})), 1.0).unwrap_err();
    assert!(matches!(err, EvalError::MissingField { on: "prediction", .. }));
}

#[test]
fn answer_passage_match_reads_the_predicted_context() {
    let gold = example(json!("Eiffel Tower"));
    let pred = prediction(json!({"context": ["The Louvre is a museum.", "The Eiffel Tower is in Paris."]}));
    assert!(answer_passage_match(&gold, &pred).unwrap());
    let pred = prediction(json!({"context": ["The Louvre is a museum."]}));
    assert!(!answer_passage_match(&gold, &pred).unwrap());
    assert!(answer_passage_match(&example(json!(["Louvre", "Orsay"])), &pred).unwrap());
    // One string is one passage.
    let pred = prediction(json!({"context": "It is the Eiffel tower."}));
    assert!(answer_passage_match(&gold, &pred).unwrap());
    let err = answer_passage_match(&gold, &prediction(json!({"context": [1, {"x": 2}]}))).unwrap_err();
    assert!(err.to_string().contains("list of strings"), "{err}");
}

#[tokio::test]
async fn the_metric_values_read_configurable_fields() {
    let gold = Example::from_pairs([("label", "SUPPORTED")]);
    let pred = prediction(json!({"verdict": "supported"}));
    let metric = AnswerExactMatch::new().fields("label", "verdict");
    assert_eq!(metric.score(&gold, &pred, None).await.unwrap().score, 1.0);
    assert_eq!(metric.name(), "answer_exact_match");
    let same = AnswerExactMatch::new().field("label");
    assert!(same.score(&gold, &pred, None).await.is_err());
    let f1 = answer_exact_match_metric().frac(0.5);
    let half = prediction(json!({"answer": "tower"}));
    assert_eq!(f1.score(&example(json!("Eiffel Tower")), &half, None).await.unwrap().score, 1.0);

    let passages = AnswerPassageMatch::new().gold_field("label").context_field("docs");
    let pred = prediction(json!({"docs": ["This claim is supported."]}));
    assert_eq!(passages.score(&gold, &pred, None).await.unwrap().score, 1.0);
    assert_eq!(passages.name(), "answer_passage_match");
}
