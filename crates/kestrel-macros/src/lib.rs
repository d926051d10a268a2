//! Kestrel derive macros: `#[derive(Signature)]` and `#[derive(Module)]`.
//!
//! Both are re-exported by the `kestrel` facade; generated code finds the
//! Kestrel crates whether the user depends on `kestrel` or on
//! `kestrel-core` / `kestrel-modules` directly (see [`paths`]).

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod attrs;
mod docs;
mod module;
mod paths;
mod signature;

/// Derive a typed signature from a struct with named fields.
///
/// ```
/// use kestrel_core::Signature as _;
/// use kestrel_macros::Signature;
///
/// /// Answer questions with short factoid answers.
/// #[derive(Signature)]
/// struct Qa {
///     #[input]
///     question: String,
///     #[input(desc = "facts")]
///     context: Vec<String>,
///     #[output(desc = "often between 1 and 5 words", prefix = "Answer:")]
///     answer: String,
/// }
///
/// let spec = Qa::spec();
/// assert_eq!(spec.to_string(), "question, context -> answer");
/// assert_eq!(spec.instructions(), "Answer questions with short factoid answers.");
/// let input = QaInput { question: "Where is the Eiffel Tower?".into(), context: vec![] };
/// # let _ = input;
/// ```
///
/// generates `QaInput { question, context }` and `QaOutput { answer }`
/// (same visibility as `Qa`, public fields, `Debug`, `Clone`, serde), and
/// implements `SignatureTypes` and `Signature` for `Qa`.
///
/// - Instructions: the doc comment, cleaned like Python's `inspect.cleandoc`,
///   or `#[signature(instructions = "...")]`; without either, DSPy's default.
/// - Fields: `#[input]` / `#[output]`, optionally with `desc = "..."` and
///   `prefix = "..."`. Inputs and outputs keep their declaration order.
/// - Output defaults: `#[output(default = <JSON>)]` (`serde_json::json!`
///   syntax: `"main"`, `0`, `[1, 2]`, `{"k": null}`) fills the output when
///   the LM's reply omits it, as DSPy's `OutputField(default=...)`. DSPy's
///   string form has no defaults (it parses and drops `= value`).
/// - Types: every field type implements `schemars::JsonSchema` (plus serde,
///   `Debug` and `Clone`); its JSON schema gives the field's `FieldType`.
#[proc_macro_derive(Signature, attributes(input, output, signature))]
pub fn derive_signature(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    signature::expand(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Derive predictor access (`Predictors`) for a module struct.
///
/// Every field is visited in order under its name (tuple fields under their
/// index), so a `ChainOfThought` in field `generate` is `generate.predict`
/// and a `Vec<Predict>` in `hops` gives `hops[0]`, `hops[1]`... as DSPy's
/// `named_predictors()`. Fields that hold no predictors must implement
/// `Predictors` (plain data such as `String` and numbers already do) or be
/// marked `#[module(skip)]`. Generic parameters get the bounds they need.
///
/// ```
/// use kestrel_macros::Module;
/// use kestrel_modules::{ChainOfThought, Predict, PredictorsExt};
///
/// #[derive(Module)]
/// struct MultiHop {
///     generate: ChainOfThought,
///     hops: Vec<Predict>,
///     #[module(skip)]
///     label: std::cell::Cell<u8>,
/// }
///
/// let program = MultiHop {
///     generate: ChainOfThought::from_signature("context, question -> answer").unwrap(),
///     hops: vec![Predict::from_signature("question -> query").unwrap()],
///     label: Default::default(),
/// };
/// assert_eq!(program.predictor_paths(), ["generate.predict", "hops[0]"]);
/// ```
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    module::expand(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}
