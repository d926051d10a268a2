//! DSPy's text metrics on plain strings: [`normalize_text`], exact match,
//! token F1 (plain and HotPotQA-style), token precision, and DPR's passage
//! match, with Python's character classes so results match DSPy's.

use std::collections::HashMap;

use unicode_general_category::{GeneralCategory, get_general_category};

pub use kestrel_core::text::normalize_text;
use kestrel_core::text::{is_letter, is_number};
use unicode_normalization::UnicodeNormalization;

fn is_mark(c: char) -> bool {
    use GeneralCategory::*;
    matches!(get_general_category(c), NonspacingMark | SpacingMark | EnclosingMark)
}

/// `\p{Z}` or `\p{C}`: separators and control / format / unassigned.
fn is_separator_or_other(c: char) -> bool {
    use GeneralCategory::*;
    matches!(
        get_general_category(c),
        SpaceSeparator | LineSeparator | ParagraphSeparator | Control | Format | Surrogate | PrivateUse | Unassigned
    )
}

/// DSPy's `em_score`: the normalized strings are equal.
pub fn exact_match(prediction: &str, gold: &str) -> bool {
    normalize_text(prediction) == normalize_text(gold)
}

/// DSPy's `EM`: [`exact_match`] against any of several references. An empty
/// list matches nothing (DSPy raises on it).
pub fn exact_match_any<S: AsRef<str>>(prediction: &str, answers: &[S]) -> bool {
    answers.iter().any(|a| exact_match(prediction, a.as_ref()))
}

/// Token counts shared by the two sides (multiset intersection size).
fn common_tokens(prediction: &[&str], gold: &[&str]) -> usize {
    let mut counts: HashMap<&str, usize> = HashMap::with_capacity(gold.len());
    for t in gold {
        *counts.entry(t).or_default() += 1;
    }
    prediction
        .iter()
        .filter(|t| match counts.get_mut(*t) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
        .count()
}

fn token_f1(prediction: &[&str], gold: &[&str]) -> f64 {
    let same = common_tokens(prediction, gold);
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / prediction.len() as f64;
    let recall = same as f64 / gold.len() as f64;
    (2.0 * precision * recall) / (precision + recall)
}

/// DSPy's `f1_score`: token F1 of the normalized, whitespace-split strings.
/// No shared token gives `0.0` — also when both sides are empty (DSPy's
/// choice, unlike SQuAD 2.0).
pub fn f1_score(prediction: &str, gold: &str) -> f64 {
    let (p, g) = (normalize_text(prediction), normalize_text(gold));
    token_f1(&tokens(&p), &tokens(&g))
}

/// DSPy's `F1`: the best [`f1_score`] over several references (`0.0` for an
/// empty list, where DSPy raises).
pub fn f1_any<S: AsRef<str>>(prediction: &str, answers: &[S]) -> f64 {
    answers.iter().map(|a| f1_score(prediction, a.as_ref())).fold(0.0, f64::max)
}

/// DSPy's `hotpot_f1_score`: as [`f1_score`], but if either normalized side
/// is `yes`, `no` or `noanswer` and the sides differ, the score is `0.0`.
pub fn hotpot_f1_score(prediction: &str, gold: &str) -> f64 {
    let (p, g) = (normalize_text(prediction), normalize_text(gold));
    let special = |s: &str| matches!(s, "yes" | "no" | "noanswer");
    if (special(&p) || special(&g)) && p != g {
        return 0.0;
    }
    token_f1(&tokens(&p), &tokens(&g))
}

/// DSPy's `HotPotF1`: the best [`hotpot_f1_score`] over several references.
pub fn hotpot_f1_any<S: AsRef<str>>(prediction: &str, answers: &[S]) -> f64 {
    answers.iter().map(|a| hotpot_f1_score(prediction, a.as_ref())).fold(0.0, f64::max)
}

/// DSPy's `precision_score`: shared tokens over prediction tokens, after
/// normalization (`0.0` when nothing is shared).
pub fn precision_score(prediction: &str, gold: &str) -> f64 {
    let (p, g) = (normalize_text(prediction), normalize_text(gold));
    let (p, g) = (tokens(&p), tokens(&g));
    match common_tokens(&p, &g) {
        0 => 0.0,
        same => same as f64 / p.len() as f64,
    }
}

/// Tokens of an already normalized string (single spaces between words).
fn tokens(normalized: &str) -> Vec<&str> {
    normalized.split(' ').filter(|t| !t.is_empty()).collect()
}

/// DPR's tokenizer (`DPR_normalize`): NFD, then each run of letters,
/// numbers and marks is a token and every other character that is not a
/// separator or control character is a token of its own; tokens lowercased.
pub fn dpr_tokens(text: &str) -> Vec<String> {
    let text: String = text.nfd().collect();
    let mut out = Vec::new();
    let mut run = String::new();
    for c in text.chars() {
        if is_letter(c) || is_number(c) || is_mark(c) {
            run.push(c);
            continue;
        }
        if !run.is_empty() {
            out.push(std::mem::take(&mut run).to_lowercase());
        }
        if !is_separator_or_other(c) {
            out.push(c.to_lowercase().collect());
        }
    }
    if !run.is_empty() {
        out.push(run.to_lowercase());
    }
    out
}

/// DSPy's `passage_match`: true when some passage, normalized and DPR
/// tokenized, contains the tokens of some normalized answer as a contiguous
/// run. An answer that normalizes to nothing (`"the"`) matches any passage,
/// as in DSPy.
pub fn passage_match<P: AsRef<str>, A: AsRef<str>>(passages: &[P], answers: &[A]) -> bool {
    let answers: Vec<Vec<String>> = answers.iter().map(|a| dpr_tokens(&normalize_text(a.as_ref()))).collect();
    passages.iter().any(|passage| {
        let text = dpr_tokens(&normalize_text(passage.as_ref()));
        answers.iter().any(|answer| contains_run(&text, answer))
    })
}

fn contains_run(text: &[String], needle: &[String]) -> bool {
    needle.is_empty() || text.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_tokens_is_a_multiset_intersection() {
        assert_eq!(common_tokens(&["a", "a", "b"], &["a", "b", "b"]), 2);
        assert_eq!(common_tokens(&[], &["a"]), 0);
    }
}
