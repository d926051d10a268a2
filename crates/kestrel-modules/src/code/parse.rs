//! DSPy's `_parse_code`: the code inside a model's `generated_code` field
//! (the ```` ```python ```` block if there is one), with DSPy's two format
//! checks, and a last line `x = ...` followed by `x` so that its value is
//! the snippet's value.

/// The snippet to run, or DSPy's error text for an unusable one (the
/// text is shown to the model).
pub(crate) fn parse_code(generated: &str) -> Result<String, String> {
    let code = generated.split_once("---").map_or(generated, |(head, _)| head);
    let code = code.split_once("\n\n\n").map_or(code, |(head, _)| head);
    let block = fenced_python(code).unwrap_or(code);
    if block.is_empty() {
        return Err("Error: Empty code after parsing.".into());
    }
    if !block.contains('\n') && block.matches('=').count() > 1 {
        return Err("Error: Code format is not correct.".into());
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

    #[test]
    fn takes_the_fenced_block_and_echoes_a_final_assignment() {
        assert_eq!(parse_code("```python\nx = 1 + 1\n```").unwrap(), "x = 1 + 1\nx");
        assert_eq!(parse_code("Here:\n```python\nprint(2)\n```\nthanks").unwrap(), "print(2)");
        assert_eq!(parse_code("y = 3\nprint(y)").unwrap(), "y = 3\nprint(y)");
        assert_eq!(parse_code("a = 1\n---\nignored").unwrap(), "a = 1\na");
        assert_eq!(parse_code("a == 1").unwrap(), "a == 1\na");
    }

    #[test]
    fn rejects_what_dspy_rejects() {
        assert_eq!(parse_code("").unwrap_err(), "Error: Empty code after parsing.");
        assert_eq!(parse_code("a = b = 1").unwrap_err(), "Error: Code format is not correct.");
        assert_eq!(parse_code("```python\n\n```").unwrap_err(), "Error: Empty code after parsing.");
    }
}
