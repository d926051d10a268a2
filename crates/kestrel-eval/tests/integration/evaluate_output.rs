//! The results table and the JSON / CSV exports.

use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_eval::{Evaluate, EvaluationResult};
use kestrel_lm::with_lm;
use kestrel_modules::Predict;
use serde_json::Value;

use crate::support::{FakeLm, qa};

async fn three_rows() -> EvaluationResult {
    let long = "word ".repeat(40);
    let devset = vec![
        qa("What is the capital of France?", "Paris", "Paris"),
        qa(format!("q1 FAIL {long}"), "x", "x"),
        qa("Largest planet?", "Saturn", "Jupiter"),
    ];
    let program = Predict::from_signature("question -> answer").unwrap();
    with_lm(FakeLm::new(), Evaluate::new(devset).run(&program, &AnswerExactMatch::new())).await.unwrap()
}

#[tokio::test]
async fn the_table_shows_inputs_gold_predictions_and_scores() {
    let result = three_rows().await;
    let table = result.table(2);
    let lines: Vec<&str> = table.lines().collect();
    let header: Vec<&str> = lines[0].split('|').map(str::trim).collect();
    assert_eq!(header, ["question", "example_answer", "pred_answer", "answer_exact_match", "error"]);
    assert!(lines[1].starts_with("---") && lines[1].contains('+'));
    assert!(lines[2].contains("What is the capital of France? => Paris") && lines[2].contains("1.000"), "{table}");
    // The long failing question is cut to one short cell.
    assert!(lines[3].contains("...") && lines[3].contains("program error"), "{table}");
    assert!(lines[3].chars().count() < 200, "{table}");
    assert_eq!(lines[4], "... 1 more rows not displayed ...");
    assert_eq!(lines.len(), 5);
    // Every row has the same column positions.
    let bars = |l: &str| l.match_indices('|').map(|(i, _)| i).collect::<Vec<_>>();
    assert_eq!(bars(lines[0]), bars(lines[2]));
    assert_eq!(result.table(0).lines().count(), 3, "header, rule and the footer");
}

#[tokio::test]
async fn results_save_as_json_and_csv() {
    let result = three_rows().await;
    let dir = tempfile::tempdir().unwrap();

    let json_path = dir.path().join("results.json");
    result.save_json(&json_path).unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(saved["score"], 33.33);
    assert_eq!(saved["total"], 3);
    assert_eq!(saved["errors"], 1);
    assert_eq!(saved["stop"], Value::Null);
    assert_eq!(saved["metric_name"], "answer_exact_match");
    assert!(saved["elapsed_secs"].as_f64().unwrap() > 0.0);
    assert_eq!(saved["results"][0]["prediction"]["answer"], "Paris");
    assert_eq!(saved["results"][1]["prediction"], Value::Null);
    assert!(saved["results"][1]["error"].as_str().unwrap().contains("refused"));
    assert_eq!(saved["results"][2]["score"]["score"], 0.0);
    assert!(saved["usage"]["total"].is_object());

    let csv_path = dir.path().join("results.csv");
    result.save_csv(&csv_path).unwrap();
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    // The failed row has no prediction; its gold answer is still `example_answer`.
    assert_eq!(headers, ["question", "example_answer", "pred_answer", "answer_exact_match", "error"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][0], "What is the capital of France? => Paris");
    assert_eq!((&rows[0][1], &rows[0][2], &rows[0][3], &rows[0][4]), ("Paris", "Paris", "1.0", ""));
    assert_eq!((&rows[1][1], &rows[1][2], &rows[1][3]), ("x", "", "0.0"));
    assert!(rows[1][4].contains("program error"));
    assert_eq!(result.records()[2]["pred_answer"], "Saturn");
}

#[tokio::test]
async fn saving_to_a_missing_directory_names_the_path() {
    let result = three_rows().await;
    let err = result.save_csv("/nonexistent-dir/kestrel/results.csv").unwrap_err();
    assert!(err.to_string().contains("/nonexistent-dir/kestrel/results.csv"), "{err}");
    let err = result.save_json("/nonexistent-dir/kestrel/results.json").unwrap_err();
    assert!(err.to_string().contains("cannot write"), "{err}");
}
