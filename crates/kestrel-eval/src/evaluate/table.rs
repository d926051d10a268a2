//! [`EvaluationResult::table`]: a plain-text table of the first rows —
//! example fields (inputs and gold labels), predicted fields, the score and
//! any error — with long cells shortened as DSPy does (25 words) and to a
//! fixed display width.

use serde_json::Value;
use unicode_width::UnicodeWidthChar;

use crate::evaluate::export::{Record, cell_text, columns, predicted_keys, record};
use crate::evaluate::result::EvaluationResult;

/// Widest a column gets, in terminal cells.
const MAX_CELL_WIDTH: usize = 40;
/// DSPy's `truncate_cell` keeps this many words.
const MAX_WORDS: usize = 25;

impl EvaluationResult {
    /// A readable table of the first `rows` results (DSPy's `display_table`):
    /// one column per example field and predicted field (a field on both
    /// sides shows as `example_<f>` and `pred_<f>`), then the score under the
    /// metric's name, then `error` if any row failed.
    pub fn table(&self, rows: usize) -> String {
        let shown = &self.results[..rows.min(self.results.len())];
        let predicted = predicted_keys(&self.results);
        let records: Vec<Record> = shown.iter().map(|row| record(row, &self.metric_name, &predicted)).collect();
        let columns = columns(&records);
        let cells: Vec<Vec<String>> = records
            .iter()
            .map(|r| {
                columns
                    .iter()
                    .map(|c| match r.get(c) {
                        Some(Value::Number(n)) if *c == self.metric_name => {
                            format!("{:.3}", n.as_f64().unwrap_or_default())
                        }
                        Some(v) => shorten(&cell_text(v)),
                        None => String::new(),
                    })
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| cells.iter().map(|row| width(&row[i])).chain([width(c)]).max().unwrap_or(0))
            .collect();

        let mut out = String::new();
        push_line(&mut out, columns.iter().map(|c| shorten(c)), &widths);
        out.push_str(&widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
        out.push('\n');
        for row in cells {
            push_line(&mut out, row.into_iter(), &widths);
        }
        let hidden = self.results.len() - shown.len();
        if hidden > 0 {
            out.push_str(&format!("... {hidden} more rows not displayed ...\n"));
        }
        let not_run = self.total - self.results.len();
        if not_run > 0 {
            out.push_str(&format!("... {not_run} examples not evaluated ...\n"));
        }
        out
    }
}

fn push_line(out: &mut String, cells: impl Iterator<Item = String>, widths: &[usize]) {
    let line: Vec<String> = cells.zip(widths).map(|(c, &w)| format!(" {c}{} ", " ".repeat(w - width(&c)))).collect();
    out.push_str(line.join("|").trim_end());
    out.push('\n');
}

fn width(text: &str) -> usize {
    text.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// One line, at most [`MAX_WORDS`] words and [`MAX_CELL_WIDTH`] cells, with
/// `...` where anything was cut.
fn shorten(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut line = words[..words.len().min(MAX_WORDS)].join(" ");
    let mut cut = words.len() > MAX_WORDS;
    if width(&line) > MAX_CELL_WIDTH {
        let mut kept = String::new();
        let mut used = 0;
        for c in line.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > MAX_CELL_WIDTH - 3 {
                break;
            }
            used += w;
            kept.push(c);
        }
        line = kept;
        cut = true;
    }
    if cut {
        line.push_str("...");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn long_cells_are_cut_to_one_short_line() {
        assert_eq!(shorten("a\nb   c"), "a b c");
        let long = "word ".repeat(30);
        let cut = shorten(&long);
        assert!(cut.ends_with("...") && cut.chars().count() <= 40, "{cut}");
    }
}
