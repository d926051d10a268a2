//! What the proposer sends as `program_code`, and the `module` line.
//!
//! DSPy sends `get_dspy_source_code(program)`: the Python source of each
//! predictor's signature class and of the program's class
//! (`inspect.getsource`). Rust has no source to read at run time, so the
//! caller may give the exact text ([`super::GroundedProposer::program_code`]);
//! by default it is generated from the program's structure, in the same
//! layout DSPy produces for a one-class program:
//!
//! ```text
//! class RespondSignature(dspy.Signature):
//!     """Answer questions about the capital cities of countries."""
//!
//!     question: str = dspy.InputField(desc="A question about a country")
//!     answer: str = dspy.OutputField(desc="The name of the capital city")
//!
//!
//!
//!
//! class CapitalProgram(dspy.Module):
//!     def __init__(self):
//!         super().__init__()
//!         self.respond = dspy.Predict(RespondSignature)
//! ```
//!
//! - one signature class per predictor, in predictor order, named after its
//!   path in CamelCase plus `Signature` (`generate.predict` →
//!   `GeneratePredictSignature`, a bare predictor → `ProgramSignature`);
//!   fields with their Python type, `desc` when set and `prefix` when it is
//!   not the one DSPy infers from the name;
//! - then the program's class, named after the Rust type (without its module
//!   path and generic arguments), assigning each predictor by path. There is
//!   no `forward`: it is compiled code. As in DSPy, a bare `ChainOfThought`
//!   gets no class; a bare `Predict` gets exactly DSPy's `"\n\n"` (no
//!   signature either: DSPy only lists signatures of sub-predictors).
//!
//! The blank lines follow DSPy's joins (`"\n\n".join(header) + "\n\n" +
//! class`, where the first `Predict` adds an empty entry to the header).

use kestrel_core::field::infer_prefix;
use kestrel_core::{FieldSpec, SignatureSpec};
use kestrel_modules::Predictors;

/// DSPy's `module` input: `Predict(inputs) -> outputs` (DSPy names the class
/// of `program.predictors()[i]`, which is always a `Predict`).
pub(crate) fn module_line(signature: &SignatureSpec) -> String {
    format!("Predict({}) -> {}", signature.input_names().join(", "), signature.output_names().join(", "))
}

/// The default `program_code` of `program` (see the module docs).
pub fn default_program_code<M: Predictors>(program: &M) -> String {
    let mut predictors: Vec<(String, SignatureSpec)> = Vec::new();
    program.visit_predictors("", &mut |path, p| predictors.push((path.to_string(), p.signature().clone())));
    let type_name = rust_type_name::<M>();
    if type_name == "Predict" {
        // DSPy lists no signature for a bare Predict (its `signature`
        // attribute is not a parameter) and no class: the join of nothing.
        return "\n\n".to_string();
    }
    let bare = type_name == "ChainOfThought";

    let mut header = Vec::with_capacity(predictors.len() + 1);
    let mut assignments = Vec::with_capacity(predictors.len());
    for (i, (path, signature)) in predictors.iter().enumerate() {
        let class = signature_class_name(path);
        header.push(signature_source(&class, signature));
        if i == 0 {
            header.push(String::new());
        }
        let target = if path == "self" { "self".to_string() } else { format!("self.{path}") };
        assignments.push(format!("        {target} = dspy.Predict({class})\n"));
    }
    let class = if bare || predictors.is_empty() {
        String::new()
    } else {
        format!(
            "class {type_name}(dspy.Module):\n    def __init__(self):\n        super().__init__()\n{}",
            assignments.concat()
        )
    };
    format!("{}\n\n{class}", header.join("\n\n"))
}

/// The Rust type's own name: `my_crate::CapitalProgram` → `CapitalProgram`,
/// `Predict<Dynamic>` → `Predict`.
fn rust_type_name<M>() -> String {
    let full = std::any::type_name::<M>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_string()
}

/// `generate.predict` → `GeneratePredictSignature`, `hops[1]` →
/// `Hops1Signature`, `self` → `ProgramSignature`.
fn signature_class_name(path: &str) -> String {
    if path == "self" || path.is_empty() {
        return "ProgramSignature".to_string();
    }
    let mut name = String::with_capacity(path.len() + 9);
    for word in path.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    name.push_str("Signature");
    name
}

/// A `dspy.Signature` class as Python source (ends with a newline).
fn signature_source(class: &str, signature: &SignatureSpec) -> String {
    let doc = signature.instructions().replace('\n', "\n    ");
    let mut out = format!("class {class}(dspy.Signature):\n    \"\"\"{doc}\"\"\"\n\n");
    for field in signature.fields() {
        out.push_str(&field_line(field));
    }
    out
}

fn field_line(field: &FieldSpec) -> String {
    let kind = if field.is_input() { "InputField" } else { "OutputField" };
    let mut args = Vec::new();
    if let Some(desc) = &field.desc {
        args.push(format!("desc={}", python_double_quoted(desc)));
    }
    if field.prefix != format!("{}:", infer_prefix(&field.name)) {
        args.push(format!("prefix={}", python_double_quoted(&field.prefix)));
    }
    format!("    {}: {} = dspy.{kind}({})\n", field.name, field.ty.python_name(), args.join(", "))
}

/// A Python string literal in double quotes.
fn python_double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_and_module_lines() {
        assert_eq!(signature_class_name("respond"), "RespondSignature");
        assert_eq!(signature_class_name("generate.predict"), "GeneratePredictSignature");
        assert_eq!(signature_class_name("hops[1].predict"), "Hops1PredictSignature");
        assert_eq!(signature_class_name("self"), "ProgramSignature");
        let signature = SignatureSpec::parse("context: list[str], question -> reasoning, answer: int").unwrap();
        assert_eq!(module_line(&signature), "Predict(context, question) -> reasoning, answer");
        assert_eq!(rust_type_name::<kestrel_modules::Predict>(), "Predict");
    }

    #[test]
    fn a_signature_is_written_as_a_class() {
        let fields = vec![
            FieldSpec::input("question", kestrel_core::FieldType::Str).with_desc("A \"question\""),
            FieldSpec::output("answer", kestrel_core::FieldType::Int).with_prefix("Final:"),
        ];
        let signature = SignatureSpec::new(fields, Some("Answer it.".into())).unwrap();
        assert_eq!(
            signature_source("QA", &signature),
            "class QA(dspy.Signature):\n    \"\"\"Answer it.\"\"\"\n\n    question: str = dspy.InputField(desc=\"A \\\"question\\\"\")\n    answer: int = dspy.OutputField(prefix=\"Final:\")\n"
        );
    }
}
