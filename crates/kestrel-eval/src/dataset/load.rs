//! Reading dataset files into examples: JSON Lines, a JSON array of objects,
//! and CSV with a header row. Every malformed record is an error naming the
//! file and line.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use kestrel_core::{Example, Fields};
use serde_json::Value;

use crate::error::EvalError;

/// How CSV values become JSON values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CsvOptions {
    /// Field delimiter (default `,`).
    pub delimiter: u8,
    /// Read values that look like integers or finite floats as numbers
    /// (default `false`: every value is a string, exactly as written).
    pub infer_numbers: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self { delimiter: b',', infer_numbers: false }
    }
}

impl CsvOptions {
    /// Builder: the delimiter (`b'\t'` for TSV).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// Builder: read numeric-looking values as numbers.
    pub fn infer_numbers(mut self, on: bool) -> Self {
        self.infer_numbers = on;
        self
    }
}

fn open(path: &Path) -> Result<File, EvalError> {
    File::open(path).map_err(|e| EvalError::io("cannot read", path, e))
}

fn parse_error(path: &Path, line: u64, column: Option<u64>, message: impl Into<String>) -> EvalError {
    EvalError::Parse { path: path.to_path_buf(), line, column, message: message.into() }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One JSON object per line; blank lines are skipped.
pub(crate) fn read_jsonl(path: &Path) -> Result<Vec<Example>, EvalError> {
    let mut reader = BufReader::new(open(path)?);
    let mut examples = Vec::new();
    let mut line = String::new();
    let mut number = 0u64;
    loop {
        line.clear();
        number += 1;
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(parse_error(path, number, None, "the line is not valid UTF-8"));
            }
            Err(e) => return Err(EvalError::io("cannot read", path, e)),
        }
        let text = if number == 1 { line.trim_start_matches('\u{feff}') } else { &line };
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => examples.push(Example::from_fields(map.into_iter().collect())),
            Ok(other) => {
                return Err(parse_error(
                    path,
                    number,
                    None,
                    format!("expected a JSON object, found {}", kind_of(&other)),
                ));
            }
            Err(e) => return Err(parse_error(path, number, Some(e.column() as u64), e.to_string())),
        }
    }
    Ok(examples)
}

/// A JSON array whose elements are objects.
pub(crate) fn read_json(path: &Path) -> Result<Vec<Example>, EvalError> {
    let mut text = String::new();
    open(path)?.read_to_string(&mut text).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => parse_error(path, 1, None, "the file is not valid UTF-8"),
        _ => EvalError::io("cannot read", path, e),
    })?;
    let text = text.trim_start_matches('\u{feff}');
    // Deserializing straight into objects makes serde report the line and
    // column of the first element that is not one.
    match serde_json::from_str::<Vec<Fields>>(text) {
        Ok(records) => Ok(records.into_iter().map(Example::from_fields).collect()),
        Err(e) => {
            let message = match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(_)) => format!("every element must be a JSON object: {e}"),
                Ok(other) => format!("expected a JSON array of objects, found {}", kind_of(&other)),
                Err(_) => e.to_string(),
            };
            Err(parse_error(path, e.line() as u64, Some(e.column() as u64), message))
        }
    }
}

/// CSV with a header row naming the fields.
pub(crate) fn read_csv(path: &Path, options: CsvOptions) -> Result<Vec<Example>, EvalError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).delimiter(options.delimiter).from_reader(open(path)?);
    let csv_error = |e: csv::Error| {
        let line = e.position().map_or(1, csv::Position::line);
        match e.into_kind() {
            csv::ErrorKind::Io(io) => EvalError::io("cannot read", path, io),
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                parse_error(path, line, None, format!("the row has {len} field(s) but the header has {expected_len}"))
            }
            csv::ErrorKind::Utf8 { err, .. } => {
                parse_error(path, line, None, format!("field {} is not valid UTF-8", err.field() + 1))
            }
            other => parse_error(path, line, None, format!("{other:?}")),
        }
    };
    let headers: Vec<String> = reader.headers().map_err(csv_error)?.iter().map(str::to_string).collect();
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Err(parse_error(path, 1, None, "the header row is empty"));
    }
    for (i, name) in headers.iter().enumerate() {
        if headers[..i].contains(name) {
            return Err(parse_error(path, 1, None, format!("the header names the column {name:?} twice")));
        }
    }
    let mut examples = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let fields: Fields =
            headers.iter().zip(record.iter()).map(|(k, v)| (k.clone(), csv_value(v, options.infer_numbers))).collect();
        examples.push(Example::from_fields(fields));
    }
    Ok(examples)
}

fn csv_value(text: &str, infer_numbers: bool) -> Value {
    if infer_numbers {
        if let Ok(i) = text.parse::<i64>() {
            return Value::from(i);
        }
        if let Some(n) = text.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            if text.chars().any(|c| c.is_ascii_digit()) {
                return Value::Number(n);
            }
        }
    }
    Value::String(text.to_string())
}
