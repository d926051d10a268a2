//! Text helpers of the simulated LM (and of the compile benchmark's
//! metrics): word sets and their Jaccard similarity, the last number in a
//! text, and the first capitalized phrase.

/// Short function words that say nothing about a label.
const STOP_WORDS: &[&str] =
    &["the", "and", "for", "you", "can", "how", "what", "why", "are", "was", "with", "this", "that", "have", "has"];

/// The distinct lower-cased words of 3+ characters, stop words removed, sorted.
pub fn word_set(text: &str) -> Vec<String> {
    let mut words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// Shared words over all words of two sorted word sets (0 when either is empty).
pub fn jaccard(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.iter().filter(|w| b.binary_search(w).is_ok()).count();
    shared as f64 / (a.len() + b.len() - shared) as f64
}

/// The last number in `text` (digits with `,` separators and one `.`).
pub fn last_number(text: &str) -> Option<String> {
    let mut last = None;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let negative = i > 0 && chars[i - 1] == '-' && (i == 1 || !chars[i - 2].is_alphanumeric());
            let mut number = String::from(if negative { "-" } else { "" });
            while i < chars.len() {
                let c = chars[i];
                let next_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
                if c.is_ascii_digit() || (c == '.' && next_digit && !number.contains('.')) {
                    number.push(c);
                } else if c != ',' || !next_digit {
                    break;
                }
                i += 1;
            }
            last = Some(number);
        }
        i += 1;
    }
    last
}

/// The first run of capitalized words that does not start the text.
pub fn capitalized_phrase(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let clean = |w: &str| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string();
    let is_cap = |w: &str| clean(w).chars().next().is_some_and(char::is_uppercase);
    let start = (1..words.len()).find(|&i| is_cap(words[i]))?;
    let phrase: Vec<String> = words[start..].iter().take_while(|w| is_cap(w)).map(|w| clean(w)).collect();
    Some(phrase.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_from_text() {
        assert_eq!(last_number("a 1,234.5 b -7 c"), Some("-7".into()));
        assert_eq!(last_number("costs $1,250."), Some("1250".into()));
        assert_eq!(last_number("pages 10-12"), Some("12".into()));
        assert_eq!(last_number("none"), None);
    }

    #[test]
    fn words_and_similarity() {
        let a = word_set("The card has NOT arrived, card!");
        assert_eq!(a, ["arrived", "card", "not"]);
        let b = word_set("card_arrival");
        assert_eq!(b, ["arrival", "card"]);
        assert!((jaccard(&a, &b) - 0.25).abs() < 1e-12);
        assert_eq!(jaccard(&a, &[]), 0.0);
        assert_eq!(capitalized_phrase("Where is the Eiffel Tower, exactly?"), Some("Eiffel Tower".into()));
        assert_eq!(capitalized_phrase("Paris only"), None);
    }
}
