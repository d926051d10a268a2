//! [`GuidedConstraint`]: the [`TokenConstraint`] of one sequence, backed by
//! an llguidance [`Matcher`].

use llguidance::Matcher;

use crate::LocalError;
use crate::constraint::TokenConstraint;

/// One sequence's grammar state: masks the logits with the tokens the
/// grammar allows next, advances on each committed token, and reports
/// completion when the grammar stops (its end reached, or EOS accepted).
pub struct GuidedConstraint {
    matcher: Matcher,
    vocab_size: usize,
}

impl std::fmt::Debug for GuidedConstraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuidedConstraint")
            .field("vocab_size", &self.vocab_size)
            .field("stopped", &self.matcher.is_stopped())
            .finish_non_exhaustive()
    }
}

impl GuidedConstraint {
    pub(crate) fn new(matcher: Matcher, vocab_size: usize) -> Self {
        Self { matcher, vocab_size }
    }

    /// Whether the text so far is a complete reply (EOS would be allowed).
    pub fn is_accepting(&mut self) -> bool {
        self.matcher.is_accepting().unwrap_or(false)
    }

    fn error(&self, what: &str, e: impl std::fmt::Display) -> LocalError {
        LocalError::Constraint { message: format!("{what}: {e}") }
    }
}

impl TokenConstraint for GuidedConstraint {
    fn mask_logits(&mut self, logits: &mut [f32]) -> Result<(), LocalError> {
        let mask = self.matcher.compute_mask_or_eos().map_err(|e| self.error("computing the token mask", e))?;
        if mask.is_zero() {
            return Err(self.error("computing the token mask", "no token can continue the reply"));
        }
        // One bit per token, 32 to a word; full and empty words are the
        // common case under a grammar (nearly all or nearly no tokens).
        let words = mask.as_slice();
        for (w, chunk) in logits.chunks_mut(32).enumerate() {
            let bits = words.get(w).copied().unwrap_or(0);
            if bits == u32::MAX {
                continue;
            }
            if bits == 0 {
                chunk.fill(f32::NEG_INFINITY);
                continue;
            }
            for (b, logit) in chunk.iter_mut().enumerate() {
                if bits & (1 << b) == 0 {
                    *logit = f32::NEG_INFINITY;
                }
            }
        }
        Ok(())
    }

    fn commit(&mut self, token: u32) -> Result<bool, LocalError> {
        if self.matcher.is_stopped() {
            return Ok(true);
        }
        self.matcher.consume_token(token).map_err(|e| self.error(&format!("token {token} breaks the grammar"), e))?;
        Ok(self.matcher.is_stopped())
    }
}
