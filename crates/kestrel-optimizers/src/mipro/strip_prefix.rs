//! DSPy's `strip_prefix` (dspy/propose/utils.py): drops a leading label of
//! up to five words and a colon from an LM's text (`Proposed Instruction: X`
//! becomes `X`), then the double quotes around it.
//!
//! DSPy does it with the regular expression
//! `^[\*\s]*(([\w'\-]+\s+){0,4}[\w'\-]+):\s*`, which removes the leading
//! run of `*` and white space too — but not the `**` after the colon, so
//! `**New instruction:** X` becomes `** X`. This is the same match written
//! out: after the leading run, one to five words of `[\w'-]` separated by
//! white space, the last one directly followed by `:`.

use kestrel_core::text::{is_python_space, is_python_word};

fn is_label_char(c: char) -> bool {
    is_python_word(c) || c == '\'' || c == '-'
}

/// Python's `re.sub(PATTERN, "", text).strip('"')`.
pub fn strip_prefix(text: &str) -> String {
    let stripped = match label_end(text) {
        Some(end) => &text[end..],
        None => text,
    };
    stripped.trim_matches('"').to_string()
}

/// The byte offset just past the label (and the white space after its
/// colon), when the text starts with one.
fn label_end(text: &str) -> Option<usize> {
    let mut chars = text.char_indices().peekable();
    while chars.next_if(|&(_, c)| c == '*' || is_python_space(c)).is_some() {}
    for _word in 0..5 {
        let mut len = 0;
        while chars.next_if(|&(_, c)| is_label_char(c)).is_some() {
            len += 1;
        }
        if len == 0 {
            return None;
        }
        match chars.peek() {
            Some(&(_, ':')) => {
                chars.next();
                while chars.next_if(|&(_, c)| is_python_space(c)).is_some() {}
                return Some(chars.peek().map_or(text.len(), |&(i, _)| i));
            }
            Some(&(_, c)) if is_python_space(c) => while chars.next_if(|&(_, c)| is_python_space(c)).is_some() {},
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::strip_prefix;

    #[test]
    fn labels_of_up_to_five_words_are_dropped() {
        assert_eq!(strip_prefix("Proposed Instruction: State the capital."), "State the capital.");
        assert_eq!(strip_prefix("Summary: Short questions."), "Short questions.");
        assert_eq!(strip_prefix("  **Instruction:**"), "**");
        assert_eq!(strip_prefix("one two three four five: x"), "x");
        assert_eq!(strip_prefix("one two three four five six: x"), "one two three four five six: x");
        assert_eq!(strip_prefix("it's a well-known label:\n\n  text"), "text");
    }

    #[test]
    fn dspy_quirks_are_kept() {
        // The `**` after the colon stays (the fixture's case).
        assert_eq!(
            strip_prefix("**New instruction:** Reply with the capital city and nothing else."),
            "** Reply with the capital city and nothing else."
        );
        // No label: only the quotes go.
        assert_eq!(strip_prefix("\"Answer briefly.\""), "Answer briefly.");
        assert_eq!(strip_prefix("Answer: \"Paris\""), "Paris");
        // A colon not right after a word, or punctuation in the label.
        assert_eq!(strip_prefix("Note : x"), "Note : x");
        assert_eq!(strip_prefix("e.g.: x"), "e.g.: x");
        assert_eq!(strip_prefix("Time: 10:30"), "10:30");
        assert_eq!(strip_prefix(""), "");
        assert_eq!(strip_prefix("Label:"), "");
        // Unicode words, as Python's `\w`.
        assert_eq!(strip_prefix("Réponse proposée: Lima"), "Lima");
    }
}
