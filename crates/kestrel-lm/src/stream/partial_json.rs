//! The keys of a JSON object that may be cut short — what DSPy's JSON
//! stream listener learns from `jiter`'s partial mode (`trailing-strings`):
//! a member counts once its value has started to be readable (a string or
//! container opened, a complete number or literal), an unfinished key does
//! not.

/// The distinct keys (first occurrence order) of the object `text` starts,
/// or `None` when it is not the start of one.
pub(crate) fn partial_object_keys(text: &str) -> Option<Vec<String>> {
    let mut s = Scanner { chars: text.chars().collect(), pos: 0 };
    let mut keys: Vec<String> = Vec::new();
    let add = |keys: &mut Vec<String>, key: String| {
        if !keys.contains(&key) {
            keys.push(key);
        }
    };
    s.ws();
    if s.next()? != '{' {
        return None;
    }
    loop {
        s.ws();
        let Some(c) = s.next() else { return Some(keys) };
        match c {
            '}' => return Some(keys),
            '"' => {}
            _ => return None,
        }
        let Some(key) = s.string() else { return Some(keys) };
        s.ws();
        match s.next() {
            None => return Some(keys),
            Some(':') => {}
            Some(_) => return None,
        }
        s.ws();
        let Some(c) = s.peek() else { return Some(keys) };
        match c {
            '"' => {
                s.pos += 1;
                let done = s.string().is_some();
                add(&mut keys, key);
                if !done {
                    return Some(keys);
                }
            }
            '{' | '[' => {
                add(&mut keys, key);
                if !s.container() {
                    return Some(keys);
                }
            }
            '-' | '0'..='9' => {
                let number = s.take_while(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
                if s.peek().is_none() && !complete_number(&number) {
                    return Some(keys);
                }
                add(&mut keys, key);
            }
            'a'..='z' => {
                let word = s.take_while(|c| c.is_ascii_alphabetic());
                if !matches!(word.as_str(), "true" | "false" | "null") {
                    return if s.peek().is_none() && ["true", "false", "null"].iter().any(|w| w.starts_with(&word)) {
                        Some(keys)
                    } else {
                        None
                    };
                }
                add(&mut keys, key);
            }
            _ => return None,
        }
        s.ws();
        match s.next() {
            Some(',') => {}
            _ => return Some(keys),
        }
    }
}

/// A whole JSON number (`4`, `-1.5e3`), not a prefix of one (`-`, `1.`, `1e`).
fn complete_number(text: &str) -> bool {
    text.ends_with(|c: char| c.is_ascii_digit()) && serde_json::from_str::<serde_json::Number>(text).is_ok()
}

struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// The rest of a string whose opening quote was read; `None` at the end
    /// of the text.
    fn string(&mut self) -> Option<String> {
        let mut out = String::new();
        loop {
            match self.next()? {
                '"' => return Some(out),
                '\\' => {
                    let escaped = self.next()?;
                    out.push(escaped);
                }
                c => out.push(c),
            }
        }
    }

    /// Skip an object or array; false when the text ends inside it.
    fn container(&mut self) -> bool {
        let mut depth = 0usize;
        while let Some(c) = self.next() {
            match c {
                '{' | '[' => depth += 1,
                '}' | ']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return true;
                    }
                }
                '"' if self.string().is_none() => return false,
                _ => {}
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::partial_object_keys;

    fn keys(text: &str) -> Option<Vec<&'static str>> {
        partial_object_keys(text).map(|k| k.into_iter().map(|s| &*s.leak()).collect())
    }

    #[test]
    fn members_count_once_their_value_is_readable() {
        // Each expectation was checked against jiter's `trailing-strings` mode.
        assert_eq!(keys(r#"{"answer": "x"#), Some(vec!["answer"]));
        assert_eq!(keys(r#"{"answer": "x", "rea"#), Some(vec!["answer"]));
        assert_eq!(keys(r#"{"answer": "x", "reasoning":"#), Some(vec!["answer"]));
        assert_eq!(keys(r#"{"answer": "x", "reasoning": ""#), Some(vec!["answer", "reasoning"]));
        assert_eq!(keys(r#"{"answer": "x", "b": 4"#), Some(vec!["answer", "b"]));
        assert_eq!(keys(r#"{"answer": "x", "b": -"#), Some(vec!["answer"]));
        assert_eq!(keys(r#"{"answer": "x", "b": 1."#), Some(vec!["answer"]));
        assert_eq!(keys(r#"{"answer": "x", "b": ["#), Some(vec!["answer", "b"]));
        assert_eq!(keys(r#"{"answer": "x", "b": {"k"#), Some(vec!["answer", "b"]));
        assert_eq!(keys(r#"{"answer": "x", "b": t"#), Some(vec!["answer"]));
        assert_eq!(keys(r#"{"answer": "x", "b": null"#), Some(vec!["answer", "b"]));
        assert_eq!(keys(r#"{"answer": "x", "answer": "y"#), Some(vec!["answer"]));
        assert_eq!(keys(r#"{"answer": "x", "b": tr "#), None);
        assert_eq!(keys("{"), Some(vec![]));
    }
}
