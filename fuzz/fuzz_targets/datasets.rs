//! Fuzz target: the dataset loaders (JSON Lines, a JSON array, CSV with a
//! header row; `Dataset::jsonl`, `json`, `csv`). The input is written to a
//! file (in /dev/shm when there is one: the loaders read files) and read by
//! all of them: a malformed file is an `EvalError` naming the line, never a
//! panic.

#![no_main]

use std::sync::OnceLock;

use kestrel_eval::{CsvOptions, Dataset};
use libfuzzer_sys::fuzz_target;

fn folder() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    // In memory where the system has one (/dev/shm): the loaders read files.
    DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
        dir.unwrap_or_else(|e| panic!("no temporary folder: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = folder().path().join("input");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = Dataset::jsonl(&path);
    let _ = Dataset::json(&path);
    let _ = Dataset::csv(&path);
    let _ = Dataset::csv_with(&path, CsvOptions::default().delimiter(b';').infer_numbers(true));
});
