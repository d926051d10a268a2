//! Constrained decoding with llguidance (feature `constrained`): the
//! grammar a request asks for, compiled against the model's vocabulary,
//! masks the logits at every step, so a reply always parses.
//!
//! - [`grammar`] — the ChatAdapter's field structure as a Lark grammar, and
//!   `response_format` JSON schemas.
//! - [`GrammarCompiler`] — the vocabulary's token trie and llguidance's
//!   parser factory, built once per model; `constraint_for(request)` gives
//!   each sequence its [`GuidedConstraint`].
//! - [`constraint_factory`] — the chat engine's constraint hook, which
//!   [`crate::LocalLm`] installs by default when this feature is on.

mod compiler;
pub mod grammar;
mod guided;

use std::sync::{Arc, OnceLock};

use kestrel_lm::LmRequest;

pub use compiler::GrammarCompiler;
pub use guided::GuidedConstraint;

use crate::LocalError;
use crate::chat::{ConstraintFactory, Vocab};

/// The llguidance-backed [`ConstraintFactory`], the one [`crate::LocalLm`]
/// uses when the feature is on: builds the [`GrammarCompiler`] of the first
/// vocabulary it is given (once, on the first constrained request; a model
/// has one vocabulary) and compiles each request's grammar with it.
/// Requests asking for no structure cost nothing.
pub fn constraint_factory() -> ConstraintFactory {
    let compiler: OnceLock<Result<GrammarCompiler, String>> = OnceLock::new();
    Arc::new(move |request: &LmRequest, vocab: &Vocab| {
        if request.response_format.is_none() && request.output_structure.is_none() {
            return Ok(None);
        }
        let compiler = compiler.get_or_init(|| GrammarCompiler::new(vocab).map_err(|e| e.to_string()));
        let compiler = compiler.as_ref().map_err(|message| LocalError::Constraint { message: message.clone() })?;
        if compiler.vocab_size() != vocab.vocab_size() {
            return Err(LocalError::Constraint {
                message: format!(
                    "the constraint factory was built for {} tokens, not {}: use one factory per model",
                    compiler.vocab_size(),
                    vocab.vocab_size()
                ),
            });
        }
        compiler.constraint_for(request)
    })
}
