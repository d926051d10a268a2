//! Dataset loading (JSONL, JSON, CSV) with its errors, input keys, the
//! seeded shuffle and splits.

use std::path::{Path, PathBuf};

use kestrel_core::Example;
use kestrel_eval::{CsvOptions, Dataset, EvalError};
use serde_json::json;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn parse_error(err: EvalError) -> (u64, String) {
    match err {
        EvalError::Parse { line, message, .. } => (line, message),
        other => panic!("expected a parse error, got {other}"),
    }
}

#[test]
fn jsonl_keeps_nested_values_and_skips_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\u{feff}{\"id\": \"a\", \"question\": \"Q1\", \"answer\": \"A1\", \"context\": [{\"title\": \"T\", \"sentences\": [\"s1\", \" s2\"]}]}\n\n{\"id\": \"b\", \"question\": \"Q2\", \"answer\": [\"x\", \"y\"], \"level\": 3}\n";
    let path = write(dir.path(), "d.jsonl", text);
    let data = Dataset::jsonl(&path).unwrap().with_inputs(["question"]);
    assert_eq!(data.len(), 2);
    let first = &data[0];
    assert_eq!(first.fields().keys().collect::<Vec<_>>(), ["id", "question", "answer", "context"]);
    assert_eq!(first.get("context").unwrap()[0]["sentences"][1], " s2");
    assert_eq!(data[1].get("level"), Some(&json!(3)));
    assert_eq!(data[1].inputs().fields().keys().collect::<Vec<_>>(), ["question"]);
    assert_eq!(data[1].labels().fields().keys().collect::<Vec<_>>(), ["id", "answer", "level"]);
    assert_eq!(Dataset::load(&path).unwrap(), Dataset::jsonl(&path).unwrap());
}

#[test]
fn malformed_jsonl_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.jsonl", "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3,}\n");
    let err = Dataset::jsonl(&path).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with(&format!("{}:3:", path.display())), "{text}");
    assert_eq!(parse_error(err).0, 3);

    let path = write(dir.path(), "array.jsonl", "{\"a\": 1}\n[1, 2]\n");
    let (line, message) = parse_error(Dataset::jsonl(&path).unwrap_err());
    assert_eq!((line, message.as_str()), (2, "expected a JSON object, found an array"));

    let path = dir.path().join("latin1.jsonl");
    std::fs::write(&path, b"{\"a\": \"caf\xe9\"}\n").unwrap();
    assert_eq!(parse_error(Dataset::jsonl(&path).unwrap_err()), (1, "the line is not valid UTF-8".to_string()));
}

#[test]
fn a_missing_file_is_an_error_naming_the_path() {
    let err = Dataset::jsonl("/no/such/dir/train.jsonl").unwrap_err();
    assert!(matches!(err, EvalError::Io { .. }));
    assert!(err.to_string().contains("/no/such/dir/train.jsonl"), "{err}");
    assert!(Dataset::csv("/no/such.csv").unwrap_err().to_string().contains("/no/such.csv"));
    assert!(Dataset::load("data.parquet").unwrap_err().to_string().contains("cannot tell the format"));
}

#[test]
fn json_reads_an_array_of_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "d.json",
        "[\n  {\"q\": \"1+1\", \"a\": \"2\"},\n  {\"q\": \"2+2\", \"a\": \"4\", \"tags\": [\"x\"]}\n]\n",
    );
    let data = Dataset::json(&path).unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1].get("tags"), Some(&json!(["x"])));

    let path = write(dir.path(), "elem.json", "[\n  {\"q\": 1},\n  \"oops\"\n]");
    let (line, message) = parse_error(Dataset::json(&path).unwrap_err());
    assert_eq!(line, 3);
    assert!(message.contains("every element must be a JSON object"), "{message}");

    let path = write(dir.path(), "obj.json", "{\"q\": 1}");
    let (_, message) = parse_error(Dataset::json(&path).unwrap_err());
    assert_eq!(message, "expected a JSON array of objects, found an object");

    let path = write(dir.path(), "trunc.json", "[{\"q\": 1},\n{\"q\": ");
    assert_eq!(parse_error(Dataset::json(&path).unwrap_err()).0, 2);
}

#[test]
fn csv_reads_strings_with_a_header_row() {
    let dir = tempfile::tempdir().unwrap();
    let text = "question,answer,n\n\"Hello, world\",\"line one\nline two\",3\nplain,\"say \"\"hi\"\"\",4.5\n";
    let path = write(dir.path(), "d.csv", text);
    let data = Dataset::csv(&path).unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0].get_str("question"), Some("Hello, world"));
    assert_eq!(data[0].get_str("answer"), Some("line one\nline two"));
    assert_eq!(data[0].get("n"), Some(&json!("3")));
    assert_eq!(data[1].get_str("answer"), Some("say \"hi\""));

    let typed = Dataset::csv_with(&path, CsvOptions::default().infer_numbers(true)).unwrap();
    assert_eq!(typed[0].get("n"), Some(&json!(3)));
    assert_eq!(typed[1].get("n"), Some(&json!(4.5)));
    assert_eq!(typed[1].get("question"), Some(&json!("plain")));

    let tsv = write(dir.path(), "d.tsv", "a\tb\n1\t2\n");
    assert_eq!(Dataset::load(&tsv).unwrap()[0].get_str("b"), Some("2"));
}

#[test]
fn malformed_csv_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "short.csv", "a,b\n1,2\n3\n4,5\n");
    let (line, message) = parse_error(Dataset::csv(&path).unwrap_err());
    assert_eq!((line, message.as_str()), (3, "the row has 1 field(s) but the header has 2"));

    let path = write(dir.path(), "dup.csv", "a,b,a\n1,2,3\n");
    let (line, message) = parse_error(Dataset::csv(&path).unwrap_err());
    assert_eq!(line, 1);
    assert!(message.contains("\"a\" twice"), "{message}");

    let path = write(dir.path(), "empty.csv", "");
    assert!(parse_error(Dataset::csv(&path).unwrap_err()).1.contains("header row is empty"));
}

fn numbered(n: usize) -> Dataset {
    (0..n).map(|i| Example::from_pairs([("i", i)])).collect()
}

fn order(data: &Dataset) -> Vec<u64> {
    data.iter().map(|e| e.get("i").unwrap().as_u64().unwrap()).collect()
}

#[test]
fn the_seeded_shuffle_is_deterministic() {
    let a = numbered(10).shuffle(0);
    let b = numbered(10).shuffle(0);
    assert_eq!(a, b);
    // Pinned: the same permutation on every platform and run.
    assert_eq!(order(&a), [2, 8, 6, 1, 9, 5, 7, 4, 0, 3]);
    assert_ne!(order(&numbered(10).shuffle(1)), order(&a));
    // Python's `random.Random(seed).shuffle`, as DSPy shuffles.
    assert_eq!(order(&numbered(10).shuffle_python(0)), [7, 8, 1, 5, 3, 4, 2, 0, 9, 6]);
    assert_eq!(
        order(&numbered(25).shuffle_python(2023)),
        [23, 9, 7, 6, 0, 5, 1, 15, 2, 13, 21, 8, 11, 4, 17, 16, 3, 20, 18, 19, 10, 24, 14, 22, 12]
    );
    let mut sorted = order(&numbered(100).shuffle(42));
    sorted.sort_unstable();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>());
}

#[test]
fn splits_by_counts_and_fractions() {
    let splits = numbered(10).split_counts(6, 3).unwrap();
    assert_eq!(
        (order(&splits.train), order(&splits.dev), order(&splits.test)),
        ((0..6).collect(), vec![6, 7, 8], vec![9])
    );
    let splits = numbered(100).split_fractions(0.29, 0.5).unwrap();
    assert_eq!((splits.train.len(), splits.dev.len(), splits.test.len()), (29, 50, 21));
    let splits = numbered(7).split_fractions(0.5, 0.5).unwrap();
    assert_eq!(splits.train.len() + splits.dev.len() + splits.test.len(), 7);

    assert!(numbered(5).split_counts(3, 3).unwrap_err().to_string().contains("dataset has 5"));
    assert!(numbered(5).split_counts(usize::MAX, 1).is_err());
    assert!(numbered(5).split_fractions(0.8, 0.3).is_err());
    assert!(numbered(5).split_fractions(-0.1, 0.3).is_err());
    assert!(numbered(5).split_fractions(f64::NAN, 0.3).is_err());

    assert_eq!(order(&numbered(10).skip(3).take(2)), [3, 4]);
    assert_eq!(numbered(3).take(10).len(), 3);
    assert_eq!(numbered(3).skip(10).len(), 0);
}

/// The real HotPotQA sample in the shared folder (when this checkout has it
/// beside it) loads with its nested context.
#[test]
fn loads_the_shared_hotpotqa_sample() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/hotpotqa/dev_distractor_100.jsonl");
    if !path.exists() {
        eprintln!("skipped: {} is not here", path.display());
        return;
    }
    let data = Dataset::jsonl(&path).unwrap().with_inputs(["question"]);
    assert_eq!(data.len(), 100);
    let context = data[0].get("context").unwrap().as_array().unwrap();
    assert!(context[0]["sentences"].is_array());
    assert!(data.iter().all(|e| e.get_str("answer").is_some()));
}
