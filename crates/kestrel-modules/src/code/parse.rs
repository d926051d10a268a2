//! DSPy's `_parse_code`: the code inside a model's `generated_code` field
//! (the ```` ```python ```` block if there is one), with DSPy's two format
//! checks, and a last line `x = ...` followed by `x` so that its value is
//! the snippet's value.

/// The snippet to run, or, for an unusable one, the code as DSPy keeps it
/// (cut at `---` and at two blank lines) and DSPy's error text (shown to
/// the model).
pub(crate) fn parse_code(generated: &str) -> Result<String, (String, String)> {
    let code = generated.split_once("---").map_or(generated, |(head, _)| head);
    let code = code.split_once("\n\n\n").map_or(code, |(head, _)| head);
    let block = fenced_python(code).unwrap_or(code);
    if block.is_empty() {
        return Err((code.to_string(), "Error: Empty code after parsing.".into()));
    }
    if !block.contains('\n') && block.matches('=').count() > 1 {
        return Err((code.to_string(), "Error: Code format is not correct.".into()));
    }
    let mut out = block.to_string();
    let last = block.rsplit('\n').next().unwrap_or_default().trim();
    if let Some(name) = assigned_name(last) {
        out.push('\n');
        out.push_str(name);
    }
    Ok(out)
}

/// Python's `re.search(r"```python[ \n](.*?)[ \n]```?", code, re.DOTALL)`
/// group 1: after the first fence opening (`` ```python `` and a space or
/// newline), the shortest text followed by a space or newline and two
/// backticks.
fn fenced_python(code: &str) -> Option<&str> {
    const OPEN: &str = "```python";
    let mut from = 0;
    while let Some(at) = code[from..].find(OPEN) {
        let start = from + at + OPEN.len();
        if matches!(code.as_bytes().get(start), Some(b' ' | b'\n')) {
            let body = start + 1;
            let bytes = code.as_bytes();
            for p in body..bytes.len() {
                if matches!(bytes[p], b' ' | b'\n') && code[p + 1..].starts_with("``") {
                    return Some(&code[body..p]);
                }
            }
        }
        from = start;
    }
    None
}

/// `re.match(r"^(\w+)\s*=", line)` group 1.
fn assigned_name(line: &str) -> Option<&str> {
    let end = line.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(line.len());
    if end == 0 {
        return None;
    }
    line[end..].trim_start().starts_with('=').then(|| &line[..end])
}

#[cfg(test)]
mod tests {
    use super::parse_code;

    /// Inputs and what DSPy 3.4.1's `ProgramOfThought._parse_code` returns
    /// for them (recorded with its Python).
    #[test]
    fn parses_as_dspy_does() {
        let ok = [
            ("```python\nx = 1 + 1\n```", "x = 1 + 1\nx"),
            ("Here:\n```python\nprint(2)\n```\nthanks", "print(2)"),
            ("y = 3\nprint(y)", "y = 3\nprint(y)"),
            ("a = 1\n---\nignored", "a = 1\n"),
            ("```python x = 2 ```", "x = 2\nx"),
            ("z=1\n\n\nmore", "z=1\nz"),
        ];
        for (input, code) in ok {
            assert_eq!(parse_code(input).as_deref(), Ok(code), "{input:?}");
        }
        let err = [
            ("a == 1", "a == 1", "Error: Code format is not correct."),
            ("", "", "Error: Empty code after parsing."),
            ("a = b = 1", "a = b = 1", "Error: Code format is not correct."),
            ("```python\n\n```", "```python\n\n```", "Error: Empty code after parsing."),
        ];
        for (input, code, message) in err {
            assert_eq!(parse_code(input), Err((code.to_string(), message.to_string())), "{input:?}");
        }
    }
}
