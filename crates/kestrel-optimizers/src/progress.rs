//! Progress bars for long compiles (indicatif), drawn on stderr only when it
//! is a terminal and the optimizer's `display_progress` is on — never in
//! tests or piped output.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar, or nothing.
#[derive(Debug)]
pub(crate) struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar of `len` steps labelled `label`, when `enabled` and stderr is a
    /// terminal.
    pub fn new(len: usize, enabled: bool, label: &str) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::new(len as u64);
        if let Ok(style) = ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} {msg} [{elapsed_precise}]") {
            bar.set_style(style);
        }
        bar.set_prefix(label.to_string());
        Progress(Some(bar))
    }

    /// One more step done.
    pub fn inc(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    /// Show a short status message.
    pub fn message(&self, msg: String) {
        if let Some(bar) = &self.0 {
            bar.set_message(msg);
        }
    }

    /// Finish and leave the bar on screen.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish();
        }
    }
}
