//! Saving and loading a program's learnable state in DSPy's JSON format
//! ([`ProgramState`]).
//!
//! The layout is what DSPy 3.4.1's `Module.save("program.json")` writes: one
//! object per predictor path (`predict`, `draft.predict`, `polish`), each with
//! `traces`, `train`, `demos`, `signature` (`instructions`, and
//! `{prefix, description}` per field in signature order) and `lm`, then a
//! `metadata` object. A program that is itself a single predictor (path
//! `self`, a bare `Predict`) is written without a path key, as DSPy does.
//! Files are indented by two spaces, keep non-ASCII text as is and end with a
//! newline, so Kestrel and DSPy write the same bytes for the same program
//! (metadata aside).
//!
//! Like DSPy's, the file holds no field names or types: the program is built
//! in code and the file fills in its instructions, prefixes, descriptions and
//! demos. Loading checks the whole file against the program first and changes
//! nothing when anything does not fit. See `docs/SAVING.md`.

mod dump;
mod file;
mod parse;
mod saved_lm;

use std::path::Path;

use serde_json::Value;

use crate::error::ModuleError;
use crate::predictor::{PredictorState, Predictors, StateMut};

pub use saved_lm::SavedLm;

/// The DSPy release whose state format Kestrel writes; recorded in
/// `metadata.dependency_versions.dspy`.
pub const DSPY_STATE_FORMAT: &str = "3.4.1";

/// Save and load a program's learnable state (instructions, field prefixes
/// and descriptions, demos, the recorded `lm` entry) in DSPy's JSON format.
///
/// Implemented for every [`Predictors`] value: `Predict`, `ChainOfThought`
/// and `#[derive(Module)]` structs alike.
pub trait ProgramState: Predictors {
    /// The state as DSPy's `dump_state()` plus the `metadata` entry `save`
    /// adds: exactly the document [`ProgramState::save`] writes.
    fn dump_state(&self) -> Value {
        dump::dump(self)
    }

    /// The text [`ProgramState::save`] writes: two-space indent, non-ASCII
    /// as is, a final newline.
    fn state_text(&self) -> String {
        dump::to_text(&self.dump_state())
    }

    /// Write the state to `path` atomically (a temporary file in the same
    /// directory, synced, then renamed over `path`): a reader never sees a
    /// half-written file. Errors name the file.
    fn save(&self, path: impl AsRef<Path>) -> Result<(), ModuleError> {
        file::write_atomic(path.as_ref(), &self.state_text())
    }

    /// Apply a state document (parsed JSON). The whole document is checked
    /// first: every predictor path of the program must be in it and no other,
    /// every saved signature must have as many fields as the predictor's, and
    /// every entry must have the expected shape. On any error the program is
    /// left unchanged.
    ///
    /// Then, per predictor: the instructions, each field's prefix and
    /// description (`${name}` means none) in signature order, the demos (as
    /// examples with no input keys marked, as DSPy), and the `lm` entry,
    /// recorded but never instantiated: the predictor's own LM handle, if
    /// any, is kept. `traces` and `train` are checked to be lists and
    /// otherwise ignored; `metadata` must be an object if present.
    fn load_state(&mut self, state: &Value) -> Result<(), ModuleError> {
        let loaded = parse::parse(self, state)?;
        apply(self, loaded)
    }

    /// Read `path` and apply it as [`ProgramState::load_state`] does. I/O
    /// and JSON syntax errors name the file.
    fn load(&mut self, path: impl AsRef<Path>) -> Result<(), ModuleError> {
        let state = file::read_json(path.as_ref())?;
        self.load_state(&state)
    }

    /// The `lm` entries recorded by the last load, by predictor path, for a
    /// caller that wants to build those LMs itself.
    fn saved_lms(&self) -> Vec<(String, SavedLm)> {
        let mut out = Vec::new();
        self.visit_predictors("", &mut |path, p| {
            if let Some(saved) = p.saved_lm() {
                out.push((path.to_string(), saved.clone()));
            }
        });
        out
    }
}

impl<T: Predictors + ?Sized> ProgramState for T {}

/// Set every predictor's parsed state. Should a predictor reject its new
/// signature (it cannot when the signature was derived from its own, as
/// `parse` does), the predictors already set are restored before the error
/// is returned.
fn apply<P: Predictors + ?Sized>(program: &mut P, parsed: parse::Parsed) -> Result<(), ModuleError> {
    // Other parameters first (their entries were checked); restored if a
    // predictor then fails.
    let mut parameters: std::collections::HashMap<String, Value> = parsed.parameters.into_iter().collect();
    let mut previous_parameters: Vec<(String, Value)> = Vec::new();
    let mut failure = None;
    program.visit_state_mut("", &mut |path, item| {
        if let (None, StateMut::Parameter(p)) = (&failure, item)
            && let Some(state) = parameters.remove(path)
        {
            let before = p.parameter_state();
            match p.set_parameter_state(&state) {
                Ok(()) => previous_parameters.push((path.to_string(), before)),
                Err(e) => failure = Some(e),
            }
        }
    });
    let result = match failure {
        None => apply_predictors(program, parsed.predictors),
        Some(e) => Err(e),
    };
    if result.is_err() {
        let mut restore: std::collections::HashMap<String, Value> = previous_parameters.into_iter().collect();
        program.visit_state_mut("", &mut |path, item| {
            if let StateMut::Parameter(p) = item
                && let Some(state) = restore.remove(path)
            {
                // The parameter's own previous state: accepted.
                let _ = p.set_parameter_state(&state);
            }
        });
    }
    result
}

/// Set every predictor's parsed state (see [`apply`]).
fn apply_predictors<P: Predictors + ?Sized>(program: &mut P, loaded: Vec<parse::Loaded>) -> Result<(), ModuleError> {
    let mut pending: std::collections::HashMap<String, parse::Loaded> =
        loaded.into_iter().map(|l| (l.path.clone(), l)).collect();
    type Before = (PredictorState, Option<SavedLm>, Option<serde_json::Map<String, Value>>);
    let mut previous: Vec<(String, Before)> = Vec::new();
    let mut failure = None;
    program.visit_predictors_mut("", &mut |path, p| {
        if failure.is_some() {
            return;
        }
        let Some(l) = pending.remove(path) else { return };
        let before = (path.to_string(), (p.state(), p.saved_lm().cloned(), p.decision_fields().cloned()));
        match p.set_signature(l.signature) {
            Ok(()) => {
                p.set_demos(l.demos);
                p.set_saved_lm(l.lm);
                p.set_decision_fields(l.fields);
                previous.push(before);
            }
            Err(e) => failure = Some(e),
        }
    });
    let Some(error) = failure else { return Ok(()) };
    let mut restore: std::collections::HashMap<String, Before> = previous.into_iter().collect();
    program.visit_predictors_mut("", &mut |path, p| {
        if let Some((state, lm, fields)) = restore.remove(path) {
            // The old signature was this predictor's own, so it is accepted.
            let _ = p.set_state(state);
            p.set_saved_lm(lm);
            p.set_decision_fields(fields);
        }
    });
    Err(error)
}

/// The message of [`ModuleError::StatePredictors`].
pub(crate) fn describe_path_mismatch(missing: &[String], unexpected: &[String], program: &[String]) -> String {
    let list = |paths: &[String]| paths.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing predictor(s) {}", list(missing)));
    }
    if !unexpected.is_empty() {
        let mut text = format!("unexpected predictor(s) {}", list(unexpected));
        if unexpected.iter().any(|p| p == "signature") && unexpected.iter().any(|p| p == "demos") {
            text.push_str(" (the file holds one predictor's state, as saved from a bare Predict)");
        }
        parts.push(text);
    }
    let has = if program == ["self"] {
        "the program is a single predictor, saved without a path key (`self`)".to_string()
    } else if program.is_empty() {
        "the program has no predictors".to_string()
    } else {
        format!("the program has {}", list(program))
    };
    format!("saved state does not match the program: {}; {has}", parts.join("; "))
}

/// The location part of [`ModuleError::State`]'s message.
pub(crate) fn describe_location(at: &str) -> String {
    if at.is_empty() { String::new() } else { format!(" at `{at}`") }
}

/// A JSON value's kind, for error messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
