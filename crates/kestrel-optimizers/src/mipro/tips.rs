//! DSPy 3.4.1's prompting tips (`grounded_proposer.TIPS`): one is drawn at
//! random for every proposed instruction, with `rng.choice` over the keys
//! in this order. The texts are DSPy's wire format.

use kestrel_core::PyRandom;

/// The tips as (key, text), in DSPy's dictionary order. The `none` tip is
/// empty: the proposal then has no `tip` input at all.
pub const TIPS: [(&str, &str); 6] = [
    ("none", ""),
    ("creative", "Don't be afraid to be creative when creating the new instruction!"),
    ("simple", "Keep the instruction clear and concise."),
    ("description", "Make sure your instruction is very informative and descriptive."),
    ("high_stakes", "The instruction should include a high stakes scenario in which the LM must solve the task!"),
    ("persona", "Include a persona that is relevant to the task in the instruction (ie. \"You are a ...\")"),
];

/// `rng.choice(list(TIPS.keys()))`: the key and text of a random tip.
pub(crate) fn draw_tip(rng: &mut PyRandom) -> (&'static str, &'static str) {
    let index = rng.randbelow(TIPS.len());
    TIPS[index]
}

/// The text of the tip named `key`, if there is one.
pub fn tip_text(key: &str) -> Option<&'static str> {
    TIPS.iter().find(|(k, _)| *k == key).map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tips_are_drawn_as_cpython_choice_draws_them() {
        // random.Random(9): [rng.choice(keys) for _ in range(3)] interleaved
        // with randint(0, 10**9), as the proposer draws them (CPython 3.11).
        let mut rng = PyRandom::new(9);
        assert_eq!(draw_tip(&mut rng).0, "description");
        assert_eq!(rng.randint(0, 1_000_000_000), 658_434_843);
        assert_eq!(draw_tip(&mut rng).0, "simple");
        assert_eq!(rng.randint(0, 1_000_000_000), 286_833_407);
        assert_eq!(draw_tip(&mut rng).0, "creative");
        assert_eq!(rng.randint(0, 1_000_000_000), 199_871_617);
    }

    #[test]
    fn every_key_has_its_text() {
        assert_eq!(tip_text("none"), Some(""));
        assert_eq!(tip_text("simple"), Some("Keep the instruction clear and concise."));
        assert_eq!(tip_text("nope"), None);
    }
}
