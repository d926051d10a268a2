//! Example and Prediction: order, input keys, serde round trips, all
//! completions kept, typed conversion, and clear conversion errors.

use kestrel_core::{CoreError, Example, Fields, Prediction, Usage};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct QaInput {
    question: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct QaOutput {
    answer: String,
    confidence: f64,
}

#[test]
fn fields_keep_insertion_order_and_input_keys() {
    let ex = Example::from_pairs([("question", json!("2+2?")), ("context", json!(["a"])), ("answer", json!("4"))])
        .with_inputs(["question", "context"]);
    assert_eq!(ex.fields().keys().collect::<Vec<_>>(), ["question", "context", "answer"]);
    assert_eq!(ex.inputs().fields().keys().collect::<Vec<_>>(), ["question", "context"]);
    assert_eq!(ex.labels().fields().keys().collect::<Vec<_>>(), ["answer"]);
    assert_eq!(ex.get_str("answer"), Some("4"));

    let unmarked = Example::from_pairs([("a", 1), ("b", 2)]);
    assert!(unmarked.inputs().is_empty(), "no input keys marked: no inputs (DSPy raises; we return empty)");
    assert_eq!(unmarked.labels().len(), 2);

    let mut edited = ex.clone();
    edited.insert("question", "3+3?");
    edited.remove("context");
    assert_eq!(edited.fields().keys().collect::<Vec<_>>(), ["question", "answer"]);
}

#[test]
fn serde_round_trip_is_a_plain_object() {
    let ex = Example::from_pairs([("z", json!(1)), ("a", json!({"k": [1, 2]})), ("augmented", json!(true))]);
    let text = serde_json::to_string(&ex).unwrap();
    assert_eq!(text, r#"{"z":1,"a":{"k":[1,2]},"augmented":true}"#);
    let back: Example = serde_json::from_str(&text).unwrap();
    assert_eq!(back, ex);

    let pred = Prediction::new(Fields::from_iter([("answer".to_string(), json!("4"))]));
    assert_eq!(serde_json::to_string(&pred).unwrap(), r#"{"answer":"4"}"#);
}

#[test]
fn predictions_keep_every_completion_and_usage() {
    let completions: Vec<Fields> =
        (0..3).map(|i| Fields::from_iter([("answer".to_string(), json!(i.to_string()))])).collect();
    let mut pred =
        Prediction::from_completions(completions).with_usage(Usage { prompt_tokens: 10, completion_tokens: 3 });
    assert_eq!(pred.completions().len(), 3);
    assert_eq!(pred.get_str("answer"), Some("0"));
    assert_eq!(pred.usage().total_tokens(), 13);
    pred.insert("answer", "first");
    assert_eq!(pred.completions()[0]["answer"], "first");
    assert_eq!(pred.completions()[1]["answer"], "1");
    assert!(Prediction::from_completions(Vec::new()).fields().is_empty());
}

#[test]
fn typed_conversion_both_ways() {
    let ex = Example::from_serialize(&QaInput { question: "2+2?".into() }).unwrap();
    assert_eq!(ex.get_str("question"), Some("2+2?"));
    assert_eq!(ex.to_typed::<QaInput>().unwrap(), QaInput { question: "2+2?".into() });

    let pred = Prediction::new(Fields::from_iter([
        ("answer".to_string(), json!("4")),
        ("confidence".to_string(), json!(0.9)),
    ]));
    assert_eq!(pred.to_typed::<QaOutput>().unwrap(), QaOutput { answer: "4".into(), confidence: 0.9 });
}

#[test]
fn conversion_errors_are_typed() {
    let pred = Prediction::new(Fields::from_iter([("answer".to_string(), json!("4"))]));
    let err = pred.to_typed::<QaOutput>().unwrap_err();
    assert!(matches!(err, CoreError::Conversion { ref message, .. } if message.contains("confidence")), "{err}");
    let err = Example::from_serialize(&42).unwrap_err();
    assert!(matches!(err, CoreError::Conversion { ref message, .. } if message.contains("JSON object")), "{err}");
}
