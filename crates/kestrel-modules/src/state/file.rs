//! State files on disk: atomic writes (temporary file in the same
//! directory, synced, renamed) and reads whose errors name the file.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::ModuleError;

/// Write `text` to `path` so that readers see the old file or the new one,
/// never a part of it.
pub(super) fn write_atomic(path: &Path, text: &str) -> Result<(), ModuleError> {
    let fail = |e: io::Error| io_error(path, "write", &e);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".kestrel-state-").suffix(".tmp");
    // A plain `File::create` would get 0o666 less the umask; a temporary file
    // is private by default.
    #[cfg(unix)]
    let permissions = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(0o666)
    };
    #[cfg(unix)]
    builder.permissions(permissions);
    let mut file = builder.tempfile_in(dir).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.as_file().sync_all().map_err(fail)?;
    file.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Read and parse a JSON file.
pub(super) fn read_json(path: &Path) -> Result<Value, ModuleError> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, "read", &e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let position = format!(" at line {} column {}", e.line(), e.column());
        let text = e.to_string();
        let message = text.strip_suffix(&position).unwrap_or(&text).to_string();
        ModuleError::StateJson { file: PathBuf::from(path), line: e.line(), column: e.column(), message }
    })
}

fn io_error(path: &Path, action: &'static str, e: &io::Error) -> ModuleError {
    ModuleError::StateIo { file: PathBuf::from(path), action, kind: e.kind(), message: e.to_string() }
}
