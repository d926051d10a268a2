//! [`TokenConstraint`]: the seam between the chat engine's sampling loop and
//! constrained decoding.
//!
//! The engine asks the constraint which tokens may come next (by masking the
//! logits) and tells it which token was chosen. The llguidance-backed
//! implementation (feature `constrained`) builds these from a request's
//! ChatAdapter field structure or JSON schema; the engine knows nothing of
//! grammars.

use crate::LocalError;

/// A per-sequence restriction on the tokens a model may produce.
///
/// Called from the engine's decode loop, one sequence at a time: first
/// [`mask_logits`](Self::mask_logits), then (after sampling)
/// [`commit`](Self::commit) with the chosen token.
pub trait TokenConstraint: Send + std::fmt::Debug {
    /// Sets every disallowed token's logit to `f32::NEG_INFINITY` in place.
    /// `logits.len()` is the model's vocabulary size.
    fn mask_logits(&mut self, logits: &mut [f32]) -> Result<(), LocalError>;

    /// Records the sampled token. Returns `true` when the constraint is
    /// complete and generation must stop (finish reason `stop`).
    fn commit(&mut self, token: u32) -> Result<bool, LocalError>;
}
