//! The journal file: a header line, then one `{"k": key, "v": value}` line
//! per finished unit, each appended whole and synced.
//!
//! Replay reads every complete line. A kill can tear only the last line
//! (lines are appended by one `write_all` each, synced when asked); a
//! line that does not parse ends the replay there, the file is cut back to
//! the last good line and appending continues after it.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::identity::RunIdentity;
use crate::error::LmError;

/// The header's `journal` format number.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    journal: u32,
    run_id: String,
    identity: Value,
}

#[derive(Serialize)]
struct LineOut<'a> {
    k: &'a str,
    v: &'a Value,
}

#[derive(Deserialize)]
struct LineIn {
    k: String,
    v: Value,
}

/// Appends lines to an open journal file.
pub(super) struct Writer {
    file: File,
    sync: bool,
}

impl Writer {
    /// Append one unit line and sync it.
    pub(super) fn append(&mut self, key: &str, value: &Value) -> io::Result<()> {
        let mut line = serde_json::to_vec(&LineOut { k: key, v: value })?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        if self.sync { self.file.sync_data() } else { Ok(()) }
    }
}

/// Open `path` for `identity`: its units and a writer appending after them.
pub(super) fn open(
    path: &Path,
    identity: &RunIdentity,
    sync: bool,
) -> Result<(HashMap<String, Value>, Writer), LmError> {
    let fail = |e: io::Error| LmError::Config(format!("journal {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(fail)?;
    }
    let header = Header { journal: FORMAT, run_id: identity.run_id(), identity: identity.to_value() };
    match replay(path, &header).map_err(fail)? {
        Replay::Resume { units, good_len } => {
            let mut file = OpenOptions::new().write(true).open(path).map_err(fail)?;
            file.set_len(good_len).map_err(fail)?;
            file.seek(SeekFrom::End(0)).map_err(fail)?;
            Ok((units, Writer { file, sync }))
        }
        Replay::Fresh => Ok((HashMap::new(), create(path, &header, sync).map_err(fail)?)),
    }
}

enum Replay {
    /// The file's units, and the length of its good prefix.
    Resume { units: HashMap<String, Value>, good_len: u64 },
    /// No usable file: start one.
    Fresh,
}

fn replay(path: &Path, expected: &Header) -> io::Result<Replay> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Replay::Fresh),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut good_len = 0u64;
    let n = reader.read_until(b'\n', &mut line)?;
    let header: Option<Header> = line.ends_with(b"\n").then(|| serde_json::from_slice(&line).ok()).flatten();
    let matches = header
        .as_ref()
        .is_some_and(|h| h.journal == FORMAT && h.run_id == expected.run_id && h.identity == expected.identity);
    if !matches {
        if n > 0 {
            let aside = PathBuf::from(format!("{}.bad", path.display()));
            tracing::warn!(path = %path.display(), aside = %aside.display(),
                "journal: header does not match this run; moving it aside and starting a new journal");
            fs::rename(path, &aside)?;
        }
        return Ok(Replay::Fresh);
    }
    good_len += n as u64;
    let mut units = HashMap::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let parsed = line.ends_with(b"\n").then(|| serde_json::from_slice::<LineIn>(&line).ok()).flatten();
        let Some(unit) = parsed else {
            tracing::warn!(path = %path.display(), offset = good_len,
                "journal: torn or damaged line; replaying up to it and cutting the rest");
            break;
        };
        units.insert(unit.k, unit.v);
        good_len += n as u64;
    }
    Ok(Replay::Resume { units, good_len })
}

/// Write a new journal holding only `header`, atomically (a temp file,
/// synced, renamed; the directory synced), and open it for appending.
fn create(path: &Path, header: &Header, sync: bool) -> io::Result<Writer> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new().prefix(".tmp-").suffix(".partial").tempfile_in(dir)?;
    let mut line = serde_json::to_vec(header)?;
    line.push(b'\n');
    temp.write_all(&line)?;
    temp.as_file().sync_data()?;
    temp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir);
    let file = OpenOptions::new().append(true).open(path)?;
    Ok(Writer { file, sync })
}

/// Sync a directory so a rename in it survives a power cut (best effort:
/// not every platform can open a directory).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}
