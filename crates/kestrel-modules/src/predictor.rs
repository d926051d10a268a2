//! Predictor access: the [`Predictor`] trait (what optimizers read and write)
//! and the [`Predictors`] visitor that walks a program's predictors by path.
//!
//! Paths follow DSPy's `named_predictors()`: a struct field's name, dotted
//! into nested modules (`generate.predict`), `[i]` for list items
//! (`hops[1].predict`), and `self` for a program that is itself a predictor.

use kestrel_core::{Example, PredictorId, SignatureSpec};
use kestrel_lm::{CallConfig, SharedLm};
use serde_json::{Map, Value};

use crate::error::ModuleError;
use crate::state::SavedLm;

/// The learnable state of one predictor: its signature (instructions, field
/// descriptions and prefixes) and its demos. Save/load serialize this.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictorState {
    /// The signature as the predictor uses it.
    pub signature: SignatureSpec,
    /// Few-shot demos, in prompt order.
    pub demos: Vec<Example>,
}

/// One LM step inside a program, as optimizers see it.
pub trait Predictor: Send + Sync {
    /// Identity kept across clones (traces record it).
    fn id(&self) -> PredictorId;
    /// The signature in use.
    fn signature(&self) -> &SignatureSpec;
    /// The demos in use.
    fn demos(&self) -> &[Example];
    /// Replace the demos.
    fn set_demos(&mut self, demos: Vec<Example>);
    /// Replace the instructions.
    fn set_instructions(&mut self, instructions: String);
    /// Replace the signature; it must have the same fields (names and sides),
    /// only instructions, descriptions and prefixes may differ.
    fn set_signature(&mut self, signature: SignatureSpec) -> Result<(), ModuleError>;
    /// The predictor's own LM, if any.
    fn lm(&self) -> Option<&SharedLm>;
    /// Set or clear the predictor's own LM.
    fn set_lm(&mut self, lm: Option<SharedLm>);
    /// Call options (n, temperature...).
    fn config(&self) -> &CallConfig;
    /// Replace the call options.
    fn set_config(&mut self, config: CallConfig);

    /// The `lm` entry a loaded state file gave this predictor, recorded as
    /// is (loading never builds an LM client). Predictors that do not keep
    /// it return `None`.
    fn saved_lm(&self) -> Option<&SavedLm> {
        None
    }

    /// Record or clear the saved `lm` entry (no effect on predictors that do
    /// not keep it).
    fn set_saved_lm(&mut self, _saved: Option<SavedLm>) {}

    /// The `fields` entry of a loaded state (DSPy's `Predict.fields`: per
    /// output, the configuration of a decision-typed output such as
    /// `{"ok": {"threshold": 0.7}}`), kept as read so that saving writes it
    /// back. Kestrel has no decision types and does not apply it. `None`
    /// when the state had none (or an empty one), and for predictors that do
    /// not keep it.
    fn decision_fields(&self) -> Option<&Map<String, Value>> {
        None
    }

    /// Record or clear the `fields` entry (no effect on predictors that do
    /// not keep it).
    fn set_decision_fields(&mut self, _fields: Option<Map<String, Value>>) {}

    /// A copy of the learnable state.
    fn state(&self) -> PredictorState {
        PredictorState { signature: self.signature().clone(), demos: self.demos().to_vec() }
    }

    /// Restore a learnable state (signature checked as in `set_signature`).
    fn set_state(&mut self, state: PredictorState) -> Result<(), ModuleError> {
        self.set_signature(state.signature)?;
        self.set_demos(state.demos);
        Ok(())
    }
}

/// A learnable part of a program that is not a predictor — DSPy's other
/// `Parameter`s, such as `dspy.Retrieve` — whose state the program's saved
/// file holds under its path (`Retrieve`: `{"k": 3}`).
pub trait Parameter: Send + Sync {
    /// The state as DSPy's `dump_state()` writes it.
    fn parameter_state(&self) -> Value;
    /// Check a saved state without changing anything (errors are
    /// [`ModuleError::State`] located relative to the entry).
    fn check_parameter_state(&self, state: &Value) -> Result<(), ModuleError>;
    /// Apply a saved state (checked first: nothing changes on error).
    fn set_parameter_state(&mut self, state: &Value) -> Result<(), ModuleError>;
}

/// One entry of a program's saved state, as [`Predictors::visit_state`]
/// yields it.
#[derive(Clone, Copy)]
pub enum StateRef<'a> {
    /// A predictor.
    Predictor(&'a dyn Predictor),
    /// Another parameter (`Retrieve`).
    Parameter(&'a dyn Parameter),
}

/// One entry of a program's saved state, mutably.
pub enum StateMut<'a> {
    /// A predictor.
    Predictor(&'a mut dyn Predictor),
    /// Another parameter (`Retrieve`).
    Parameter(&'a mut dyn Parameter),
}

impl std::fmt::Debug for StateRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateRef::Predictor(p) => write!(f, "Predictor({})", p.signature()),
            StateRef::Parameter(p) => write!(f, "Parameter({})", p.parameter_state()),
        }
    }
}

impl std::fmt::Debug for StateMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateMut::Predictor(p) => write!(f, "Predictor({})", p.signature()),
            StateMut::Parameter(p) => write!(f, "Parameter({})", p.parameter_state()),
        }
    }
}

/// Walks the predictors of a program. `#[derive(Module)]` implements it by
/// visiting each field with the field's name appended to `path`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` holds no predictors Kestrel can walk",
    note = "derive `Module` on it, or mark the field `#[module(skip)]` if it is plain data"
)]
pub trait Predictors {
    /// Call `visit(path, predictor)` for every predictor, in field order.
    /// `path` is this value's own path (`""` at the root).
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor));
    /// The same, mutably.
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor));

    /// Every entry of the saved state — predictors and other parameters
    /// ([`Parameter`], e.g. `Retrieve`) — in field order, as DSPy's
    /// `named_parameters()`. The default visits the predictors only;
    /// `#[derive(Module)]`, `Vec`, `Option`, `Box` and `Retrieve` override it.
    fn visit_state(&self, path: &str, visit: &mut dyn FnMut(&str, StateRef<'_>)) {
        self.visit_predictors(path, &mut |p, predictor| visit(p, StateRef::Predictor(predictor)));
    }

    /// The same, mutably.
    fn visit_state_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, StateMut<'_>)) {
        self.visit_predictors_mut(path, &mut |p, predictor| visit(p, StateMut::Predictor(predictor)));
    }
}

/// Join a parent path and a field name (`""` + `x` = `x`, `a` + `x` = `a.x`).
pub fn join_path(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_string() } else { format!("{parent}.{name}") }
}

/// The path a leaf predictor reports for itself: its parent's, or `self` at
/// the root (as DSPy names a bare `Predict`).
pub fn leaf_path(path: &str) -> &str {
    if path.is_empty() { "self" } else { path }
}

/// Convenience methods over [`Predictors`].
pub trait PredictorsExt: Predictors {
    /// Paths of every predictor, in order.
    fn predictor_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.visit_predictors("", &mut |path, _| out.push(path.to_string()));
        out
    }

    /// (path, state) of every predictor, in order.
    fn predictor_states(&self) -> Vec<(String, PredictorState)> {
        let mut out = Vec::new();
        self.visit_predictors("", &mut |path, p| out.push((path.to_string(), p.state())));
        out
    }

    /// The path of the predictor with this id, if it is in the program.
    fn path_of(&self, id: PredictorId) -> Option<String> {
        let mut found = None;
        self.visit_predictors("", &mut |path, p| {
            if found.is_none() && p.id() == id {
                found = Some(path.to_string());
            }
        });
        found
    }

    /// Run `f` on the predictor at `path`.
    fn with_predictor_mut<R>(&mut self, path: &str, f: impl FnOnce(&mut dyn Predictor) -> R) -> Result<R, ModuleError> {
        let mut f = Some(f);
        let mut result = None;
        self.visit_predictors_mut("", &mut |p, predictor| {
            if p == path
                && let Some(f) = f.take()
            {
                result = Some(f(predictor));
            }
        });
        result
            .ok_or_else(|| ModuleError::UnknownPredictor { path: path.to_string(), available: self.predictor_paths() })
    }

    /// Set the LM of every predictor.
    fn set_lm_everywhere(&mut self, lm: Option<SharedLm>) {
        self.visit_predictors_mut("", &mut |_, p| p.set_lm(lm.clone()));
    }
}

impl<T: Predictors + ?Sized> PredictorsExt for T {}

impl<T: Predictors> Predictors for Vec<T> {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        for (i, item) in self.iter().enumerate() {
            item.visit_predictors(&format!("{path}[{i}]"), visit);
        }
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        for (i, item) in self.iter_mut().enumerate() {
            item.visit_predictors_mut(&format!("{path}[{i}]"), visit);
        }
    }
    fn visit_state(&self, path: &str, visit: &mut dyn FnMut(&str, StateRef<'_>)) {
        for (i, item) in self.iter().enumerate() {
            item.visit_state(&format!("{path}[{i}]"), visit);
        }
    }
    fn visit_state_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, StateMut<'_>)) {
        for (i, item) in self.iter_mut().enumerate() {
            item.visit_state_mut(&format!("{path}[{i}]"), visit);
        }
    }
}

impl<T: Predictors> Predictors for Option<T> {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        if let Some(inner) = self {
            inner.visit_predictors(path, visit);
        }
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        if let Some(inner) = self {
            inner.visit_predictors_mut(path, visit);
        }
    }
    fn visit_state(&self, path: &str, visit: &mut dyn FnMut(&str, StateRef<'_>)) {
        if let Some(inner) = self {
            inner.visit_state(path, visit);
        }
    }
    fn visit_state_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, StateMut<'_>)) {
        if let Some(inner) = self {
            inner.visit_state_mut(path, visit);
        }
    }
}

impl<T: Predictors + ?Sized> Predictors for Box<T> {
    fn visit_predictors(&self, path: &str, visit: &mut dyn FnMut(&str, &dyn Predictor)) {
        (**self).visit_predictors(path, visit);
    }
    fn visit_predictors_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, &mut dyn Predictor)) {
        (**self).visit_predictors_mut(path, visit);
    }
    fn visit_state(&self, path: &str, visit: &mut dyn FnMut(&str, StateRef<'_>)) {
        (**self).visit_state(path, visit);
    }
    fn visit_state_mut(&mut self, path: &str, visit: &mut dyn FnMut(&str, StateMut<'_>)) {
        (**self).visit_state_mut(path, visit);
    }
}

/// Plain data fields hold no predictors; `#[derive(Module)]` can walk them.
macro_rules! no_predictors {
    ($($t:ty),* $(,)?) => {$(
        impl Predictors for $t {
            fn visit_predictors(&self, _: &str, _: &mut dyn FnMut(&str, &dyn Predictor)) {}
            fn visit_predictors_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut dyn Predictor)) {}
        }
    )*};
}

no_predictors!(String, bool, u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64, serde_json::Value);
