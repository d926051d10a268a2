//! Resumable evaluation: with a [`kestrel_lm::Journal`] in scope
//! ([`kestrel_lm::with_journal`]), each scored row is recorded as it
//! finishes, and a rerun takes recorded rows back instead of running the
//! program again.
//!
//! A row's key hashes what decides it: the program's full state (the
//! document `ProgramState::save` writes: instructions, demos, `lm` entry),
//! the metric's name, the call options and LM in scope, and the example
//! (fields and input keys). Rows with an error are not recorded (they run
//! again). A replayed row has its prediction's completions and its score
//! bit for bit (the score is kept as its IEEE bits), and zero usage, like a
//! cache hit.

use kestrel_core::{Example, Prediction};
use kestrel_lm::{Journal, RunIdentity, current_journal, current_lm};
use kestrel_modules::{Module, ProgramState, current_call_config};
use serde_json::{Value, json};

use crate::score::Score;

/// The journal of a run and the hash of everything but the example.
#[derive(Debug)]
pub(crate) struct RowJournal {
    journal: Journal,
    base: String,
}

impl RowJournal {
    /// The row journal of an evaluation of `program` with `metric_name`,
    /// when a journal is in scope.
    pub(crate) fn in_scope<M: Module + ?Sized>(program: &M, metric_name: &str) -> Option<Self> {
        let journal = current_journal()?;
        let base = RunIdentity::new("evaluate")
            .part("program", &program.dump_state())
            .part("metric", metric_name)
            .part("call_config", &current_call_config())
            .part("lm", &current_lm().map(|lm| lm.model().to_string()))
            .run_id();
        Some(Self { journal, base })
    }

    fn key(&self, example: &Example) -> String {
        let id = RunIdentity::new("row")
            .part("base", &self.base)
            .part("example", example)
            .part("inputs", &example.input_keys())
            .run_id();
        format!("eval/{id}")
    }

    /// The recorded row of `example`, if there is one.
    pub(crate) fn replay(&self, example: &Example) -> Option<(Prediction, Score)> {
        let value = self.journal.get(&self.key(example))?;
        decode(&value)
    }

    /// Record a scored row (a failed write is logged: the run goes on, the
    /// row just runs again on a rerun).
    pub(crate) fn record(&self, example: &Example, prediction: &Prediction, score: &Score) {
        let value = json!({
            "completions": prediction.completions(),
            "score_bits": score.score.to_bits(),
            "feedback": score.feedback,
        });
        if let Err(e) = self.journal.record(&self.key(example), value) {
            tracing::warn!(target: "kestrel_eval", "{e}");
        }
    }
}

fn decode(value: &Value) -> Option<(Prediction, Score)> {
    let completions = serde_json::from_value(value.get("completions")?.clone()).ok()?;
    let bits = value.get("score_bits")?.as_u64()?;
    let feedback = match value.get("feedback") {
        None | Some(Value::Null) => None,
        Some(text) => Some(text.as_str()?.to_string()),
    };
    Some((Prediction::from_completions(completions), Score { score: f64::from_bits(bits), feedback }))
}
