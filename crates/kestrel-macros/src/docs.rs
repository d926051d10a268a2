//! Doc comments as DSPy instructions: the `#[doc]` lines joined with `\n`
//! and cleaned as Python's `inspect.cleandoc` cleans a docstring.

use syn::{Attribute, Expr, Lit, Meta};

/// The doc comment text of `attrs` (one `#[doc]` per line), or `None`.
pub(crate) fn doc_text(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(lit) => match &lit.lit {
                    Lit::Str(s) => Some(s.value()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect();
    if lines.is_empty() { None } else { Some(lines.join("\n")) }
}

/// Python's `inspect.cleandoc`: tabs expanded, the first line's leading
/// whitespace and the other lines' common indentation removed, leading and
/// trailing blank lines dropped.
pub(crate) fn cleandoc(doc: &str) -> String {
    let mut lines: Vec<String> = doc.split('\n').map(expand_tabs).collect();
    let margin = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim_start().is_empty())
        .map(|l| l.chars().count() - l.trim_start().chars().count())
        .min();
    if let Some(first) = lines.first_mut() {
        *first = first.trim_start().to_string();
    }
    if let Some(margin) = margin {
        for line in lines.iter_mut().skip(1) {
            *line = line.chars().skip(margin).collect();
        }
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    while lines.first().is_some_and(String::is_empty) {
        lines.remove(0);
    }
    lines.join("\n")
}

/// Python's `str.expandtabs()` (tab size 8).
fn expand_tabs(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut column = 0;
    for c in line.chars() {
        match c {
            '\t' => {
                let spaces = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', spaces));
                column += spaces;
            }
            '\n' | '\r' => {
                out.push(c);
                column = 0;
            }
            c => {
                out.push(c);
                column += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cleandoc;

    #[test]
    fn cleandoc_matches_python() {
        assert_eq!(cleandoc(" Answer questions."), "Answer questions.");
        assert_eq!(cleandoc(" First.\n\n Second line.\n   indented"), "First.\n\nSecond line.\n  indented");
        assert_eq!(cleandoc("\n\n Text.\n\n"), "Text.");
        // Like Python, only empty lines are dropped at the ends, not blank ones.
        assert_eq!(cleandoc("\n  \n Text.\n \n"), " \nText.");
        assert_eq!(cleandoc("a\n\tb"), "a\nb");
        assert_eq!(cleandoc(""), "");
    }
}
