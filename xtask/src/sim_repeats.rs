//! [`Repeats`]: how `serve-sim` samples *repeated* proposal requests.
//!
//! The simulated LM answers choice `i` of a proposal prompt with its own
//! proposal (rule 5 in `docs/BENCH_COMPILE.md`). Kestrel asks for `n`
//! proposals in one request (`n = 9`, choices 0..8); Python DSPy 3.4.1's LM
//! engine sends `n` identical requests with `n = 1` instead, which a pure
//! function of the request would answer identically — unlike a real model
//! sampling at temperature 1.4. So `serve-sim` numbers repeats: the `k`-th
//! request since the last `/reset` with the same proposal bytes
//! ([`propose::request_digest`]) and `n = 1` is answered as choice `k`.
//! DSPy's nine requests then get exactly the nine choices of Kestrel's one
//! request. Task prompts and requests with `n > 1` are never renumbered.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use kestrel_lm::LmRequest;
use kestrel_testkit::simulated::{PromptView, propose};

/// Repeat counts of `n = 1` proposal requests since the last reset.
#[derive(Debug, Default)]
pub struct Repeats {
    seen: Mutex<HashMap<[u8; 32], u32>>,
}

impl Repeats {
    /// The choice index to answer choice `index` of `request` with.
    pub fn choice(&self, request: &LmRequest, index: u32) -> u32 {
        if request.n > 1 || !PromptView::parse(request).is_ok_and(|view| propose::is_proposal(&view)) {
            return index;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let count = seen.entry(propose::request_digest(request)).or_insert(0);
        let choice = *count;
        *count = count.saturating_add(1);
        choice
    }

    /// Forget every count (`/reset`).
    pub fn reset(&self) {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

#[cfg(test)]
mod tests {
    use kestrel_core::{Adapter, ChatAdapter, Example, SignatureSpec};

    use super::*;

    fn request(signature: &str, input: (&str, &str), n: u32) -> LmRequest {
        let sig = SignatureSpec::parse(signature).unwrap();
        let mut request = LmRequest::new(ChatAdapter.format(&sig, &[], &Example::from_pairs([input])).unwrap());
        request.n = n;
        request.temperature = Some(1.4);
        request
    }

    #[test]
    fn repeats_of_a_proposal_request_are_numbered_until_reset() {
        let repeats = Repeats::default();
        let propose = request(
            "basic_instruction -> proposed_instruction, proposed_prefix_for_output_field",
            ("basic_instruction", "Answer."),
            1,
        );
        assert_eq!([0, 1, 2].map(|_| repeats.choice(&propose, 0)), [0, 1, 2]);
        let other = request(
            "basic_instruction -> proposed_instruction, proposed_prefix_for_output_field",
            ("basic_instruction", "Other."),
            1,
        );
        assert_eq!(repeats.choice(&other, 0), 0);
        repeats.reset();
        assert_eq!(repeats.choice(&propose, 0), 0);
        // n > 1: the server's own choice index; task prompts: never renumbered.
        let many = request(
            "basic_instruction -> proposed_instruction, proposed_prefix_for_output_field",
            ("basic_instruction", "Answer."),
            3,
        );
        assert_eq!([0, 1, 2].map(|i| repeats.choice(&many, i)), [0, 1, 2]);
        let task =
            request("question -> answer", ("question", "Ava has 3 apples. How many apples does Ava have now?"), 1);
        assert_eq!([0, 0, 0].map(|i| repeats.choice(&task, i)), [0, 0, 0]);
        // The nine repeats DSPy sends get the nine choices Kestrel's one request gets.
        repeats.reset();
        let texts: Vec<String> = (0..9)
            .map(|_| {
                let choice = repeats.choice(&propose, 0);
                kestrel_testkit::simulated::respond_choice(&propose, choice).unwrap()
            })
            .collect();
        let nine = request(
            "basic_instruction -> proposed_instruction, proposed_prefix_for_output_field",
            ("basic_instruction", "Answer."),
            9,
        );
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(kestrel_testkit::simulated::respond_choice(&nine, i as u32).as_ref(), Ok(text));
        }
    }
}
