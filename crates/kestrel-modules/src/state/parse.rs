//! Reading a state document against a program: every check happens here,
//! before anything is changed, and yields each predictor's new state and
//! each other parameter's (`Retrieve`) saved entry.

use std::collections::HashSet;

use kestrel_core::{Example, SignatureSpec};
use serde_json::{Map, Value};

use super::{SavedLm, kind_of};
use crate::error::ModuleError;
use crate::predictor::{Predictors, StateRef};

/// One predictor's state, checked and ready to set.
#[derive(Debug)]
pub(super) struct Loaded {
    /// The predictor's path in the program.
    pub(super) path: String,
    /// Its signature with the saved instructions, prefixes and descriptions.
    pub(super) signature: SignatureSpec,
    /// The saved demos.
    pub(super) demos: Vec<Example>,
    /// The saved `lm` entry, if not `null`.
    pub(super) lm: Option<SavedLm>,
    /// The saved `fields` entry (decision configuration), if not empty.
    pub(super) fields: Option<Map<String, Value>>,
}

/// Everything a state document sets, checked.
#[derive(Debug)]
pub(super) struct Parsed {
    /// Each predictor's new state.
    pub(super) predictors: Vec<Loaded>,
    /// Each other parameter's saved state (checked by the parameter), by path.
    pub(super) parameters: Vec<(String, Value)>,
}

/// Check `state` against `program` and build every predictor's new state.
pub(super) fn parse<P: Predictors + ?Sized>(program: &P, state: &Value) -> Result<Parsed, ModuleError> {
    let Value::Object(root) = state else {
        return Err(malformed("", format!("expected an object of predictor states, got {}", kind_of(state))));
    };
    if let Some(metadata) = root.get("metadata")
        && !metadata.is_object()
    {
        return Err(malformed("metadata", format!("expected an object, got {}", kind_of(metadata))));
    }

    // Every entry in program order: a predictor's signature, or `None` for
    // another parameter (`Retrieve`).
    let mut items: Vec<(String, Option<SignatureSpec>)> = Vec::new();
    program.visit_state("", &mut |path, item| {
        let signature = match item {
            StateRef::Predictor(p) => Some(p.signature().clone()),
            StateRef::Parameter(_) => None,
        };
        items.push((path.to_string(), signature));
    });
    let paths: Vec<String> = items.iter().map(|(path, _)| path.clone()).collect();

    // A bare predictor's (or parameter's) state is the document itself.
    let bare = paths == ["self"];
    let saved_keys: Vec<&String> = root.keys().filter(|k| *k != "metadata").collect();
    if bare {
        let predictor = items.first().is_some_and(|(_, signature)| signature.is_some());
        if predictor && !root.contains_key("signature") {
            return Err(ModuleError::StatePredictors {
                missing: paths.clone(),
                unexpected: saved_keys.into_iter().cloned().collect(),
                program: paths,
            });
        }
    } else {
        let in_program: HashSet<&str> = paths.iter().map(String::as_str).collect();
        let missing: Vec<String> = paths.iter().filter(|p| !root.contains_key(p.as_str())).cloned().collect();
        let unexpected: Vec<String> =
            saved_keys.into_iter().filter(|k| !in_program.contains(k.as_str())).cloned().collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            return Err(ModuleError::StatePredictors { missing, unexpected, program: paths });
        }
    }
    let entry_of = |path: &str| if bare { Some(state) } else { root.get(path) };
    let at_of = |path: &str| if bare { String::new() } else { path.to_string() };

    let mut predictors = Vec::with_capacity(items.len());
    let mut parameters = Vec::new();
    for (path, signature) in items {
        let at = at_of(&path);
        let entry = entry_of(&path).ok_or_else(|| malformed(&at, "missing predictor state".into()))?;
        match signature {
            Some(signature) => predictors.push(predictor_state(path, signature, entry, &at)?),
            None => parameters.push((path, entry.clone())),
        }
    }
    // Parameters check their own entries.
    let mut failure = None;
    program.visit_state("", &mut |path, item| {
        if let (None, StateRef::Parameter(p)) = (&failure, item)
            && let Some(entry) = entry_of(path)
            && let Err(e) = p.check_parameter_state(entry)
        {
            failure = Some(match e {
                ModuleError::State { at, message } => ModuleError::State { at: join(&at_of(path), &at), message },
                other => other,
            });
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(Parsed { predictors, parameters }),
    }
}

/// One predictor's entry (DSPy's `Predict.dump_state()` shape).
fn predictor_state(path: String, current: SignatureSpec, entry: &Value, at: &str) -> Result<Loaded, ModuleError> {
    let Value::Object(entry) = entry else {
        return Err(malformed(at, format!("expected a predictor state object, got {}", kind_of(entry))));
    };
    if entry.contains_key("extended_signature") {
        return Err(malformed(
            &join(at, "extended_signature"),
            "saved by DSPy 2.5 or earlier; this format is not supported (re-save with DSPy 2.6 or later)".into(),
        ));
    }
    for key in ["traces", "train"] {
        if let Some(value) = entry.get(key)
            && !value.is_array()
        {
            return Err(malformed(&join(at, key), format!("expected a list, got {}", kind_of(value))));
        }
    }
    let signature = signature(&path, current, required(entry, at, "signature")?, &join(at, "signature"))?;
    let demos = demos(required(entry, at, "demos")?, &join(at, "demos"))?;
    let lm = match entry.get("lm") {
        None | Some(Value::Null) => None,
        Some(Value::Object(settings)) => {
            Some(SavedLm::from_settings(settings.clone()).map_err(|message| malformed(&join(at, "lm"), message))?)
        }
        Some(other) => {
            return Err(malformed(&join(at, "lm"), format!("expected null or an object, got {}", kind_of(other))));
        }
    };
    let fields = match entry.get("fields") {
        None => None,
        Some(fields) => decision_fields(fields, &signature, &join(at, "fields"))?,
    };
    Ok(Loaded { path, signature, demos, lm, fields })
}

/// The predictor's signature with the saved instructions and, field by field
/// in signature order, prefix and description (`${name}` means none).
fn signature(path: &str, mut spec: SignatureSpec, saved: &Value, at: &str) -> Result<SignatureSpec, ModuleError> {
    let Value::Object(saved) = saved else {
        return Err(malformed(at, format!("expected an object, got {}", kind_of(saved))));
    };
    let instructions = string(required(saved, at, "instructions")?, &join(at, "instructions"))?;
    let fields_at = join(at, "fields");
    let fields = match required(saved, at, "fields")? {
        Value::Array(fields) => fields,
        other => return Err(malformed(&fields_at, format!("expected a list, got {}", kind_of(other)))),
    };
    let names: Vec<String> = spec.fields().map(|f| f.name.clone()).collect();
    if fields.len() != names.len() {
        return Err(ModuleError::StateFieldCount {
            path: path.to_string(),
            saved: fields.len(),
            expected: names.len(),
            fields: names,
        });
    }
    let mut updates = Vec::with_capacity(fields.len());
    for (i, (name, field)) in names.iter().zip(fields).enumerate() {
        let field_at = format!("{fields_at}[{i}]");
        let Value::Object(field) = field else {
            return Err(malformed(&field_at, format!("expected an object, got {}", kind_of(field))));
        };
        let prefix = string(required(field, &field_at, "prefix")?, &join(&field_at, "prefix"))?;
        let description = string(required(field, &field_at, "description")?, &join(&field_at, "description"))?;
        let desc = (description != format!("${{{name}}}")).then(|| description.to_string());
        updates.push((name, prefix.to_string(), desc));
    }
    spec.set_instructions(instructions);
    for (name, prefix, desc) in updates {
        if let Some(field) = spec.field_mut(name) {
            field.prefix = prefix;
            field.desc = desc;
        }
    }
    Ok(spec)
}

/// DSPy's `Predict.fields`: an object mapping output names to objects of
/// settings. DSPy checks it against its decision types (`Noul`, `Score`,
/// `Choice`); Kestrel has none, so it checks the shape and that every name
/// is an output of the predictor, and keeps the settings as they are.
fn decision_fields(
    saved: &Value,
    signature: &SignatureSpec,
    at: &str,
) -> Result<Option<Map<String, Value>>, ModuleError> {
    let Value::Object(fields) = saved else {
        return Err(malformed(
            at,
            format!("Decision fields must be a mapping of output names to configuration, got {}", kind_of(saved)),
        ));
    };
    let mut unknown: Vec<&str> =
        fields.keys().map(String::as_str).filter(|k| !signature.field(k).is_some_and(|f| f.is_output())).collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(malformed(
            at,
            format!("Decision configuration refers to outputs the signature lacks: {unknown:?}"),
        ));
    }
    if let Some((name, _)) = fields.iter().find(|(_, v)| !v.is_object()) {
        return Err(malformed(&join(at, name), format!("Decision configuration for {name:?} must be a mapping")));
    }
    Ok((!fields.is_empty()).then(|| fields.clone()))
}

/// The demos: a list of objects, each kept in its key order.
fn demos(saved: &Value, at: &str) -> Result<Vec<Example>, ModuleError> {
    let Value::Array(items) = saved else {
        return Err(malformed(at, format!("expected a list of demo objects, got {}", kind_of(saved))));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(fields) => {
                Ok(Example::from_fields(fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
            }
            other => Err(malformed(&format!("{at}[{i}]"), format!("expected a demo object, got {}", kind_of(other)))),
        })
        .collect()
}

fn required<'a>(object: &'a Map<String, Value>, at: &str, key: &str) -> Result<&'a Value, ModuleError> {
    object.get(key).ok_or_else(|| malformed(at, format!("missing `{key}`")))
}

fn string<'a>(value: &'a Value, at: &str) -> Result<&'a str, ModuleError> {
    value.as_str().ok_or_else(|| malformed(at, format!("expected a string, got {}", kind_of(value))))
}

fn join(at: &str, key: &str) -> String {
    match (at.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (false, true) => at.to_string(),
        (false, false) => format!("{at}.{key}"),
    }
}

fn malformed(at: &str, message: String) -> ModuleError {
    ModuleError::State { at: at.to_string(), message }
}
