//! `--predictions DIR`: one JSON line per dev example of each evaluation
//! (`DIR/<model>/<program>-<optimizer>.jsonl`, the baseline as `none`), so a
//! run's predictions can be compared with another model's or with Python
//! DSPy's (`benches/dspy/local_dspy.py --predictions` writes the same keys;
//! `benches/dspy/compare_predictions.py` compares two files).
//!
//! Keys: `index`, `inputs`, `gold` (the example's other fields),
//! `prediction` (the fields, or null when the call failed), `correct`,
//! `error`, `json_fallback` (the ChatAdapter reply did not parse), and the
//! ChatAdapter request's `chat_messages` and `chat_reply`, read from the LM
//! client's history: the request whose last user message holds the
//! example's first input value.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use kestrel_eval::EvaluationResult;
use kestrel_lm::HistoryEntry;
use serde_json::{Value, json};

use super::fallbacks::is_json_request;

/// Write `result`'s rows to `path`; `history` holds (at least) the
/// evaluation's calls; `offset` is the first dev index evaluated (a
/// `--shard`'s slice start), so `index` is always the whole dev set's.
pub fn write(path: &Path, result: &EvaluationResult, history: &[HistoryEntry], offset: usize) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut out = String::new();
    for row in &result.results {
        let inputs = row.example.inputs();
        let labels = row.example.labels();
        let key = inputs.fields().values().next().map(text_of).unwrap_or_default();
        let last_user = |e: &HistoryEntry| e.request.messages.last().map(|m| m.content.clone()).unwrap_or_default();
        let requests: Vec<&HistoryEntry> =
            history.iter().filter(|e| !key.is_empty() && last_user(e).contains(&key)).collect();
        let chat = requests.iter().find(|e| !is_json_request(&e.request));
        let line = json!({
            "index": row.index + offset,
            "inputs": inputs.fields(),
            "gold": labels.fields(),
            "prediction": row.prediction.as_ref().map(|p| p.fields().clone()),
            "correct": row.is_ok() && row.score.score > 0.0,
            "error": row.error.as_ref().map(ToString::to_string),
            "json_fallback": requests.iter().any(|e| is_json_request(&e.request)),
            "chat_messages": chat.map(|e| &e.request.messages),
            "chat_reply": chat.and_then(|e| e.outcome.as_ref().ok()).and_then(|r| r.completions.first()).map(|c| &c.text),
        });
        out.push_str(&serde_json::to_string(&line)?);
        out.push('\n');
    }
    let mut file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(out.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
