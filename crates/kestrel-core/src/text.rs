//! DSPy's answer normalization on plain text, with Python's character
//! classes: [`normalize_text`] (used by the evaluation metrics and by
//! `majority`), and Python's `\w` and `str.isspace` as predicates.

use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::UnicodeNormalization;

/// DSPy's `normalize_text`, step by step: Unicode NFD, lowercase, drop ASCII
/// punctuation (Python's `string.punctuation`), replace the words `a`, `an`,
/// `the` with a space, then collapse whitespace.
///
/// ```
/// use kestrel_core::normalize_text;
/// assert_eq!(normalize_text("The,  Eiffel  Tower!"), "eiffel tower");
/// ```
pub fn normalize_text(text: &str) -> String {
    let lowered: String = text.nfd().collect::<String>().to_lowercase();
    let no_punct: String = lowered.chars().filter(|c| !c.is_ascii_punctuation()).collect();
    let no_articles = remove_articles(&no_punct);
    no_articles.split(is_python_space).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Python's `re.sub(r"\b(a|an|the)\b", " ", text)`: a maximal run of word
/// characters equal to one of the articles becomes one space.
fn remove_articles(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run_start: Option<usize> = None;
    let flush = |out: &mut String, run: &str| match run {
        "a" | "an" | "the" => out.push(' '),
        _ => out.push_str(run),
    };
    for (i, c) in text.char_indices() {
        match (is_python_word(c), run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                flush(&mut out, &text[start..i]);
                run_start = None;
                out.push(c);
            }
            (false, None) => out.push(c),
            (true, Some(_)) => {}
        }
    }
    if let Some(start) = run_start {
        flush(&mut out, &text[start..]);
    }
    out
}

/// A character of Python's Unicode `\w`: letters, numbers and `_`.
pub fn is_python_word(c: char) -> bool {
    c == '_' || is_letter(c) || is_number(c)
}

/// A Unicode letter (`L*` categories).
pub fn is_letter(c: char) -> bool {
    use GeneralCategory::*;
    matches!(
        get_general_category(c),
        UppercaseLetter | LowercaseLetter | TitlecaseLetter | ModifierLetter | OtherLetter
    )
}

/// A Unicode number (`N*` categories).
pub fn is_number(c: char) -> bool {
    use GeneralCategory::*;
    matches!(get_general_category(c), DecimalNumber | LetterNumber | OtherNumber)
}

/// Python's `str.isspace` (what `str.split()` splits on): Rust's whitespace
/// plus the four ASCII information separators.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_are_whole_words_only() {
        assert_eq!(remove_articles("an apple then a theme"), "  apple then   theme");
        assert_eq!(remove_articles("the_the the1 the"), "the_the the1  ");
        assert_eq!(normalize_text("The,  Eiffel  Tower!"), "eiffel tower");
        assert_eq!(normalize_text("Café"), "cafe\u{301}");
    }
}
