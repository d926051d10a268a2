//! [`CompileReport::to_html`] and [`CompileReport::write_html`]: a compile
//! report as one self-contained HTML page — inline CSS and SVG, no script,
//! nothing fetched — with the score per trial or candidate as a plot, each
//! predictor's compiled prompt beside the original with word changes
//! marked, demo counts, the scored candidates and the cost by phase.
//!
//! The report alone does not hold the prompts, so both methods take the
//! student and the compiled program (any [`Predictors`], `Box<dyn
//! DynModule>` included) and read them through the predictor visitor.

mod plot;
mod score_plots;
mod sections;
mod word_diff;

use std::fmt::Write;
use std::path::Path;

use kestrel_modules::Predictors;

use crate::{CompileReport, OptimizerError};

/// `text` with `&`, `<`, `>`, `"` and `'` escaped: safe in element content
/// and in quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1.5rem;color:#1d1d1f;background:#fff;line-height:1.45}
h1{font-size:1.5rem;margin:0 0 .75rem}h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #ddd;padding-bottom:.25rem}h3{font-size:1rem;margin:1.25rem 0 .4rem;font-family:ui-monospace,Menlo,Consolas,monospace}
dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}dl.summary dt{color:#555}dl.summary dd{margin:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}thead th{background:#f4f4f6}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}table.prompts td{width:45%}table.prompts tbody th{width:10%;color:#555;font-weight:normal}
tr.won td{background:#eef7ee}tr.won td:first-child{box-shadow:inset 3px 0 #2e7d32}tr.total th,tr.total td{font-weight:600;background:#fafafa}
.prompt{white-space:pre-wrap;word-break:break-word;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
del{background:#fde2e2;color:#8b1a1a}ins{background:#dcf5dc;color:#135e13;text-decoration:none}
.changed{color:#135e13;font-weight:normal;font-size:.8rem}.unchanged{color:#777;font-weight:normal;font-size:.8rem}
.note{color:#555;font-size:.9rem}code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;word-break:break-word}
svg.plot{width:100%;max-width:900px;height:auto;font-size:11px}svg .frame{fill:#fcfcfd;stroke:#bbb}svg .grid{stroke:#e6e6e6}svg .tickmark{stroke:#888}svg .tick{fill:#555}svg .axis{fill:#333;font-size:12px}
svg .point{stroke:#fff;stroke-width:1;fill-opacity:.9}svg .best{fill:none;stroke:#2e7d32;stroke-width:2.5}
.legend{font-size:.85rem;color:#333}.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:50%;margin:0 .3rem 0 .8rem;vertical-align:-1px}.ring{display:inline-block;width:.7rem;height:.7rem;border:2.5px solid #2e7d32;border-radius:50%;margin:0 .3rem 0 .8rem;vertical-align:-2px}
"#;

impl CompileReport {
    /// The report as one self-contained HTML page. `original` is the
    /// program before the compile (the student) and `compiled` the program
    /// it returned; their prompts are compared per predictor path.
    ///
    /// ```no_run
    /// # use kestrel_modules::Predict;
    /// # use kestrel_optimizers::Compiled;
    /// # fn show(student: &Predict, compiled: &Compiled<Predict>) -> Result<(), kestrel_optimizers::OptimizerError> {
    /// compiled.report.write_html("target/compile-report.html", student, &compiled.program)?;
    /// # Ok(()) }
    /// ```
    pub fn to_html(&self, original: &dyn Predictors, compiled: &dyn Predictors) -> String {
        let title = format!("{} compile report", self.optimizer);
        let mut page = String::with_capacity(16 * 1024);
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>\n",
            escape(&title)
        );
        page.push_str(&self.html_section(&title, original, compiled));
        page.push_str("</body></html>\n");
        page
    }

    /// The body of [`CompileReport::to_html`] as one `<section>` titled
    /// `title` (the page's CSS applies to it).
    fn html_section(&self, title: &str, original: &dyn Predictors, compiled: &dyn Predictors) -> String {
        let mut out = String::from(r#"<section class="report">"#);
        let _ = write!(out, "<h1>{}</h1>", escape(title));
        out.push_str(&sections::summary(self));
        match score_plots::score_plot(self) {
            Some(plot) => {
                let _ = write!(out, "<h2>Score per {}</h2>", escape(&plot.x_label));
                out.push_str(&plot.to_svg());
                out.push_str(&plot.legend());
            }
            None => out.push_str(r#"<h2>Scores</h2><p class="note">This optimizer scored no candidates.</p>"#),
        }
        out.push_str("<h2>Prompts: original and compiled</h2>");
        out.push_str(&sections::prompts(original, compiled));
        let candidates = sections::candidates(self);
        if !candidates.is_empty() {
            out.push_str("<h2>Candidates</h2>");
            out.push_str(&candidates);
        }
        out.push_str("<h2>Cost by phase</h2>");
        out.push_str(&sections::cost(self));
        out.push_str("</section>\n");
        out
    }

    /// Write [`CompileReport::to_html`] to `path` (its folder is created if
    /// missing).
    pub fn write_html(
        &self,
        path: impl AsRef<Path>,
        original: &dyn Predictors,
        compiled: &dyn Predictors,
    ) -> Result<(), OptimizerError> {
        let path = path.as_ref();
        let failed = |e: std::io::Error| OptimizerError::Write { path: path.to_path_buf(), message: e.to_string() };
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(failed)?;
        }
        std::fs::write(path, self.to_html(original, compiled)).map_err(failed)
    }
}
