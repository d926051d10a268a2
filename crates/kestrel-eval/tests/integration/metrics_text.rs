//! DSPy's string metrics on hand-made cases; every expected value is what
//! DSPy 3.4.1 returns for the same input.

use kestrel_eval::metrics::{
    dpr_tokens, exact_match, exact_match_any, f1_any, f1_score, hotpot_f1_any, hotpot_f1_score, normalize_text,
    passage_match, precision_score,
};

#[test]
fn normalize_text_matches_dspy() {
    let cases = [
        ("The,  Eiffel  Tower!", "eiffel tower"),
        ("An apple a day", "apple day"),
        // NFD splits é into e + U+0301; Python's \b sits before the accent,
        // so "the" is removed and the lone accent stays.
        ("thé cat", "\u{301} cat"),
        ("Ünïcödé — “quotes” …", "u\u{308}ni\u{308}co\u{308}de\u{301} — “quotes” …"),
        ("the_the the1 THE", "thethe the1"),
        // \x1c is whitespace to Python's str.split; \xa0 too.
        ("a\u{1c}b\u{a0}c\td", "b c d"),
        ("Straße İstanbul ΟΔΟΣ", "straße i\u{307}stanbul οδος"),
        ("½ and ² and Ⅻ", "½ and ² and ⅻ"),
        ("", ""),
        ("   ", ""),
        ("A-B_C", "abc"),
        ("l'été", "le\u{301}te\u{301}"),
    ];
    for (input, expected) in cases {
        assert_eq!(normalize_text(input), expected, "normalize_text({input:?})");
    }
}

#[test]
fn exact_match_f1_hotpot_and_precision_match_dspy() {
    // (prediction, gold, em, f1, hotpot f1, precision)
    let cases: [(&str, &str, bool, f64, f64, f64); 12] = [
        ("the Eiffel Tower", "Eiffel Tower", true, 1.0, 1.0, 1.0),
        ("Eiffel Tower is in Paris", "Paris", false, 0.33333333333333337, 0.33333333333333337, 0.2),
        ("a b c d", "b c e", false, 0.6666666666666666, 0.6666666666666666, 0.6666666666666666),
        ("cat cat dog", "cat dog dog", false, 0.6666666666666666, 0.6666666666666666, 0.6666666666666666),
        // Both empty: equal, but F1 is 0 (DSPy's choice).
        ("", "", true, 0.0, 0.0, 0.0),
        ("the", "a", true, 0.0, 0.0, 0.0),
        ("yes", "no", false, 0.0, 0.0, 0.0),
        ("yes", "yes", true, 1.0, 1.0, 1.0),
        ("no answer", "noanswer", false, 0.0, 0.0, 0.0),
        ("Yes!", "yes", true, 1.0, 1.0, 1.0),
        ("New York City", "new york", false, 0.8, 0.8, 0.6666666666666666),
        ("1 2 3", "1 2 3 4 5 6", false, 0.6666666666666666, 0.6666666666666666, 1.0),
    ];
    for (p, g, em, f1, hotpot, precision) in cases {
        assert_eq!(exact_match(p, g), em, "em({p:?}, {g:?})");
        assert_eq!(f1_score(p, g), f1, "f1({p:?}, {g:?})");
        assert_eq!(hotpot_f1_score(p, g), hotpot, "hotpot_f1({p:?}, {g:?})");
        assert_eq!(precision_score(p, g), precision, "precision({p:?}, {g:?})");
    }
}

#[test]
fn hotpot_f1_zeroes_yes_no_mismatches_that_plain_f1_scores() {
    assert_eq!(f1_score("yes it is", "yes"), 0.5);
    assert_eq!(hotpot_f1_score("yes it is", "yes"), 0.0);
    assert_eq!(hotpot_f1_score("no", "no."), 1.0);
}

#[test]
fn list_versions_take_the_best_reference() {
    assert!(exact_match_any("The Eiffel Tower", &["Eiffel Tower", "Louvre"]));
    assert!(!exact_match_any("paris", &["Paris, France"]));
    assert_eq!(f1_any("Eiffel Tower is in Paris", &["Paris", "Eiffel Tower"]), 0.5714285714285715);
    assert_eq!(hotpot_f1_any("yes", &["no", "yes"]), 1.0);
    assert!(!exact_match_any::<&str>("x", &[]));
    assert_eq!(f1_any::<&str>("x", &[]), 0.0);
}

#[test]
fn dpr_tokens_and_passage_match_match_dspy() {
    assert_eq!(
        dpr_tokens(&normalize_text("Hello, World—it's 3.5 km² café")),
        ["hello", "world", "—", "its", "35", "km²", "cafe\u{301}"]
    );
    assert_eq!(dpr_tokens("naïve—x"), ["nai\u{308}ve", "—", "x"]);
    assert!(passage_match(&["The Eiffel Tower is in Paris."], &["eiffel tower"]));
    // Whole tokens only.
    assert!(!passage_match(&["Eiffel Towers"], &["Eiffel Tower"]));
    // An answer that normalizes to nothing matches any passage, as in DSPy.
    assert!(passage_match(&["no"], &["The"]));
    assert!(passage_match(&[""], &["the"]));
    assert!(passage_match(&["Gesellschaft mit beschränkter Haftung (GmbH)"], &["beschränkter haftung"]));
    assert!(!passage_match::<&str, &str>(&[], &["x"]));
}
