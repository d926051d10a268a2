//! [`GrammarCompiler`]: a model's token trie and llguidance's parser
//! factory, built once per vocabulary, turning a request's grammar into a
//! per-sequence [`GuidedConstraint`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use kestrel_lm::LmRequest;
use llguidance::api::TopLevelGrammar;
use llguidance::{Matcher, ParserFactory};
use toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie};

use crate::LocalError;
use crate::chat::Vocab;
use crate::constrain::grammar::{chat_grammar, response_format_grammar};
use crate::constrain::guided::GuidedConstraint;
use crate::constraint::TokenConstraint;

/// toktrie's marker before a special token's text, so grammars over text
/// never match one.
const SPECIAL_MARKER: u8 = TokTrie::SPECIAL_TOKEN_MARKER;

/// A vocabulary's token trie and parser factory. Building it walks the
/// whole vocabulary (tens of milliseconds for 150k tokens); each
/// [`GrammarCompiler::constraint_for`] then only compiles the request's
/// grammar.
pub struct GrammarCompiler {
    factory: ParserFactory,
    vocab_size: usize,
}

impl std::fmt::Debug for GrammarCompiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrammarCompiler").field("vocab_size", &self.vocab_size).finish_non_exhaustive()
    }
}

impl GrammarCompiler {
    /// The trie of `vocab` (special tokens behind toktrie's marker byte,
    /// so no grammar text matches them; padding ids beyond the tokens
    /// never allowed) and its parser factory. A vocabulary without an EOS
    /// token is an error: a constrained reply must be able to end.
    pub fn new(vocab: &Vocab) -> Result<Self, LocalError> {
        let bad = |message: String| LocalError::Constraint { message };
        let vocab_size = vocab.vocab_size();
        let size = u32::try_from(vocab_size).map_err(|_| bad(format!("vocabulary of {vocab_size} tokens")))?;
        let eos = vocab.eos_token_ids();
        let Some(&first_eos) = eos.first() else {
            return Err(bad("the vocabulary has no EOS token; constrained replies could not end".into()));
        };
        let words: Vec<Vec<u8>> = (0..size)
            .map(|id| match vocab.token_bytes(id) {
                Some(bytes) if vocab.is_special(id) => [&[SPECIAL_MARKER][..], bytes].concat(),
                Some(bytes) => bytes.to_vec(),
                None => Vec::new(),
            })
            .collect();
        // toktrie asserts on inconsistent input: a vocabulary read from a
        // file must never crash the process, so a panic is an error here.
        let built = catch_unwind(AssertUnwindSafe(|| -> anyhow::Result<ParserFactory> {
            let trie = TokTrie::from(&TokRxInfo::new(size, first_eos), &words).with_eos_tokens(eos);
            let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
            let mut factory = ParserFactory::new_simple(&env)?;
            factory.quiet();
            Ok(factory)
        }));
        match built {
            Ok(Ok(factory)) => Ok(Self { factory, vocab_size }),
            Ok(Err(e)) => Err(bad(format!("building the token trie: {e}"))),
            Err(_) => Err(bad("building the token trie: the vocabulary is inconsistent".into())),
        }
    }

    /// The logits width this compiler was built for.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The constraint `request` asks for: its `response_format` JSON schema
    /// when it has one (`json_schema` or `json_object`), else its
    /// ChatAdapter output structure; `None` when it asks for neither.
    pub fn constraint_for(&self, request: &LmRequest) -> Result<Option<Box<dyn TokenConstraint>>, LocalError> {
        let grammar = match (&request.response_format, &request.output_structure) {
            (Some(format), _) => response_format_grammar(format)?,
            (None, Some(structure)) => Some(chat_grammar(structure)?),
            (None, None) => None,
        };
        match grammar {
            Some(grammar) => Ok(Some(Box::new(self.constraint(grammar)?))),
            None => Ok(None),
        }
    }

    /// A fresh constraint for one sequence under `grammar`.
    pub fn constraint(&self, grammar: TopLevelGrammar) -> Result<GuidedConstraint, LocalError> {
        let parser = catch_unwind(AssertUnwindSafe(|| self.factory.create_parser(grammar)))
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the grammar compiler failed")));
        let matcher = Matcher::new(parser);
        if let Some(error) = matcher.get_error() {
            return Err(LocalError::Constraint { message: format!("compiling the grammar: {error}") });
        }
        Ok(GuidedConstraint::new(matcher, self.vocab_size))
    }
}
