//! The progress bar of a run (indicatif on stderr): DSPy's
//! `Average Metric: x / n (p%)` over the examples scored so far. Hidden when
//! disabled or when stderr is not a terminal, so tests and logs never see it.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::evaluate::result::{python_float, round_to};

const TEMPLATE: &str = "{msg} {wide_bar} {pos}/{len} [{elapsed_precise}<{eta_precise}, {rate}]";

/// Running totals and the (possibly absent) bar.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    sum: f64,
    scored: usize,
}

impl Progress {
    pub(crate) fn new(enabled: bool, total: usize) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
                bar.set_style(style.with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.1} it/s", state.per_sec());
                }));
            }
            bar.set_message("Average Metric: 0.00 / 0 (0%)");
            bar
        });
        Self { bar, sum: 0.0, scored: 0 }
    }

    /// One example finished; `score` is `None` when it failed (DSPy leaves
    /// failed examples out of the running average).
    pub(crate) fn record(&mut self, score: Option<f64>) {
        if let Some(s) = score {
            self.sum += s;
            self.scored += 1;
        }
        if let Some(bar) = &self.bar {
            let pct = if self.scored == 0 { 0.0 } else { round_to(100.0 * self.sum / self.scored as f64, 1) };
            bar.set_message(format!("Average Metric: {:.2} / {} ({}%)", self.sum, self.scored, python_float(pct)));
            bar.inc(1);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}
