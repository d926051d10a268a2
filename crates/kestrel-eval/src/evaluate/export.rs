//! Saving results: [`EvaluationResult::save_json`] (the whole result),
//! [`EvaluationResult::save_csv`] and [`EvaluationResult::records`] (DSPy's
//! flat records: example fields, prediction fields, the score column).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use indexmap::{IndexMap, IndexSet};
use serde_json::Value;

use crate::error::EvalError;
use crate::evaluate::result::{EvalRow, EvaluationResult};

/// One flat record: column name → value, in column order.
pub type Record = IndexMap<String, Value>;

/// DSPy's merge of an example and a prediction into one record: a key on
/// both sides becomes `example_<key>` and `pred_<key>`; then the score under
/// the metric's name, and `feedback` / `error` when present.
///
/// `predicted` is the set of keys any prediction of the run has, so a row
/// whose program failed names its gold fields like the other rows do.
pub(crate) fn record(row: &EvalRow, metric_name: &str, predicted: &IndexSet<String>) -> Record {
    let example = row.example.fields();
    let empty = IndexMap::new();
    let prediction = row.prediction.as_ref().map_or(&empty, |p| p.fields());
    let mut out = Record::with_capacity(example.len() + prediction.len() + 2);
    for (k, v) in example {
        let key = if predicted.contains(k) || prediction.contains_key(k) { format!("example_{k}") } else { k.clone() };
        out.insert(key, v.clone());
    }
    for (k, v) in prediction {
        let key = if example.contains_key(k) { format!("pred_{k}") } else { k.clone() };
        out.insert(key, v.clone());
    }
    out.insert(metric_name.to_string(), Value::from(row.score.score));
    if let Some(feedback) = &row.score.feedback {
        out.insert("feedback".into(), Value::from(feedback.clone()));
    }
    if let Some(error) = &row.error {
        out.insert("error".into(), Value::from(error.to_string()));
    }
    out
}

/// Every key some prediction of the run has.
pub(crate) fn predicted_keys(rows: &[EvalRow]) -> IndexSet<String> {
    let mut keys = IndexSet::new();
    for p in rows.iter().filter_map(|r| r.prediction.as_ref()) {
        for k in p.fields().keys() {
            if !keys.contains(k) {
                keys.insert(k.clone());
            }
        }
    }
    keys
}

/// The union of the records' columns, in first-seen order.
pub(crate) fn columns<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<String> {
    let mut seen = IndexSet::new();
    for r in records {
        for k in r.keys() {
            if !seen.contains(k) {
                seen.insert(k.clone());
            }
        }
    }
    seen.into_iter().collect()
}

/// A value as cell text: strings as they are, null as nothing, anything
/// else as compact JSON.
pub(crate) fn cell_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl EvaluationResult {
    /// DSPy's flat records (what its `save_as_csv` / `save_as_json` write):
    /// one per finished example, in devset order.
    pub fn records(&self) -> Vec<Record> {
        let predicted = predicted_keys(&self.results);
        self.results.iter().map(|row| record(row, &self.metric_name, &predicted)).collect()
    }

    /// Write the whole result (score, counts, stop reason, usage, rows) as
    /// pretty JSON.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<(), EvalError> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| EvalError::io("cannot write", path, e))?;
        let mut out = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut out, self)
            .map_err(|e| EvalError::Export { path: path.to_path_buf(), message: e.to_string() })?;
        out.flush().map_err(|e| EvalError::io("cannot write", path, e))
    }

    /// Write DSPy's flat records as CSV with a header row: the union of all
    /// columns; strings as they are, other values as JSON, absent values
    /// empty.
    pub fn save_csv(&self, path: impl AsRef<Path>) -> Result<(), EvalError> {
        let path = path.as_ref();
        let export_error = |e: csv::Error| EvalError::Export { path: path.to_path_buf(), message: e.to_string() };
        let records = self.records();
        let columns = columns(&records);
        let file = File::create(path).map_err(|e| EvalError::io("cannot write", path, e))?;
        let mut writer = csv::Writer::from_writer(BufWriter::new(file));
        writer.write_record(&columns).map_err(export_error)?;
        for record in &records {
            writer
                .write_record(columns.iter().map(|c| record.get(c).map(cell_text).unwrap_or_default()))
                .map_err(export_error)?;
        }
        writer.flush().map_err(|e| EvalError::io("cannot write", path, e))
    }
}
