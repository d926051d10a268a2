//! Python's `str` methods that DSPy's prompt building and parsing rely on:
//! `str.strip`, `str.splitlines` and `textwrap.dedent` (`str.isspace` is
//! [`crate::text::is_python_space`]).

/// Python's `str.strip()` with no arguments.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(crate::text::is_python_space)
}

/// Python's `str.splitlines()` (no line ends kept, no trailing empty line).
pub(crate) fn py_splitlines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let is_break =
            matches!(c, '\n' | '\r' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}' | '\u{2029}');
        if is_break {
            lines.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(j, '\n')) = chars.peek() {
                    chars.next();
                    end = j + 1;
                }
            }
            start = end;
        }
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// Python's `textwrap.dedent`: blank (space/tab only) lines are emptied and the
/// longest common leading run of spaces and tabs is removed from every line.
pub(crate) fn py_dedent(text: &str) -> String {
    let is_blank = |line: &str| !line.is_empty() && line.chars().all(|c| c == ' ' || c == '\t');
    let mut margin: Option<&str> = None;
    for line in text.split('\n') {
        if line.is_empty() || is_blank(line) {
            continue;
        }
        let indent_len = line.len() - line.trim_start_matches([' ', '\t']).len();
        let indent = &line[..indent_len];
        margin = Some(match margin {
            None => indent,
            Some(m) => {
                let common = m.bytes().zip(indent.bytes()).take_while(|(a, b)| a == b).count();
                &m[..common]
            }
        });
    }
    let margin = margin.unwrap_or("");
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if is_blank(line) {
            continue;
        }
        out.push_str(line.strip_prefix(margin).unwrap_or(line));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_text_helpers() {
        assert_eq!(py_splitlines("a\r\nb\n\nc\n"), vec!["a", "b", "", "c"]);
        assert!(py_splitlines("").is_empty());
        assert_eq!(py_dedent("  a\n    b\n  \n  c"), "a\n  b\n\nc");
        assert_eq!(py_dedent("a\n  b"), "a\n  b");
        assert_eq!(py_strip(" \x1c x \n"), "x");
    }
}
