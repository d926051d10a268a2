//! The disk level: one content-addressed file per entry, written atomically.
//!
//! # Layout (format 1)
//!
//! ```text
//! <dir>/v1/<first 2 hex digits of the key>/<64 hex digits of the key>.json
//! ```
//!
//! Each file is one JSON envelope, written in this order (readers accept
//! any order):
//!
//! ```json
//! {"format":1,"key":"<64 hex>","payload":{ ...LmResponse... },"sha256":"<64 hex>"}
//! ```
//!
//! `sha256` is the SHA-256 of the payload's exact bytes as they appear in the
//! file. The payload is the response as the provider returned it (real usage
//! and cost); hits serve it with zero usage. A file that does not parse, or
//! whose format, key or checksum is wrong, is a miss: counted, logged and
//! removed, never an error.
//!
//! # Writes
//!
//! A write streams the envelope (serializing and hashing the payload on the
//! way) into a temporary file in the entry's own directory (named
//! `.tmp-*.partial`, so never mistaken for an entry), is flushed — and, with
//! `CacheConfig::durable_writes`, synced to the device (`sync_data`, about a
//! millisecond) — then renamed over the final name. Rename is atomic, so a
//! reader — in this process or another — sees the old entry, the new one or
//! none, never part of one, even if the writer is killed mid-write (its temp
//! file is left behind and ignored; [`DiskLevel::clear`] removes it). Two
//! processes writing the same key both write complete files; the last
//! rename wins. Without the sync a power cut (not a killed process) may
//! leave a short file behind the new name; its checksum fails on read, so it
//! is a miss like any corrupt entry.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::disk_limit::{DiskLimit, DiskUsage, sweep};
use super::key::{CacheKey, to_hex};
use crate::error::LmError;
use crate::request::LmResponse;

/// The envelope's `format`, and the `v1` of the layout.
const FORMAT: u32 = 1;
/// The layout's version directory under the cache directory.
const VERSION_DIR: &str = "v1";
/// Temp files: this prefix and suffix, never `<hex>.json`.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";
pub(crate) const TEMP_SUFFIX: &str = ".partial";

#[derive(Deserialize)]
struct EnvelopeIn<'a> {
    format: u32,
    key: &'a str,
    sha256: &'a str,
    #[serde(borrow)]
    payload: &'a RawValue,
}

/// What a read found.
#[derive(Debug)]
pub(crate) enum DiskRead {
    /// A valid entry.
    Hit(LmResponse),
    /// No entry.
    Absent,
    /// An entry that failed validation (already logged and removed).
    Corrupt,
}

/// The disk level rooted at `<dir>/v1`.
#[derive(Debug)]
pub(crate) struct DiskLevel {
    dir: PathBuf,
    root: PathBuf,
    durable: bool,
    limit: Option<DiskLimit>,
}

impl DiskLevel {
    /// Open (creating) the level under `dir`, checking that it is writable;
    /// with `limit`, entries past that many bytes are evicted
    /// (`disk_limit.rs`).
    pub(crate) fn open(dir: PathBuf, durable: bool, limit: Option<u64>) -> Result<Self, LmError> {
        let root = dir.join(VERSION_DIR);
        let unusable = |e: io::Error| LmError::Config(format!("cache directory {} is not usable: {e}", dir.display()));
        fs::create_dir_all(&root).map_err(unusable)?;
        temp_file_in(&root).map_err(unusable)?;
        Ok(Self { dir, root, durable, limit: limit.map(DiskLimit::new) })
    }

    /// The cache directory (as configured).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry of `key` lives.
    pub(crate) fn entry_path(&self, key: &CacheKey) -> PathBuf {
        let hex = key.to_hex();
        self.root.join(&hex[..2]).join(format!("{hex}.json"))
    }

    /// Read and validate the entry of `key` (blocking: callers on an async
    /// runtime run it on the blocking pool). A hit refreshes the file's
    /// modification time, the disk level's LRU clock.
    pub(crate) fn read(&self, key: &CacheKey) -> DiskRead {
        let path = self.entry_path(key);
        let read = fs::File::open(&path).and_then(|mut file| {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok((file, bytes))
        });
        let (file, bytes) = match read {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return DiskRead::Absent,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "LM cache: cannot read entry; treating as a miss");
                return DiskRead::Absent;
            }
        };
        match decode(key, &bytes) {
            Ok(response) => {
                if self.limit.is_some() {
                    // Best effort (a read-only or foreign-owned file keeps its time).
                    let _ = file.set_modified(SystemTime::now());
                }
                DiskRead::Hit(response)
            }
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "LM cache: corrupt entry; treating as a miss and removing it");
                if let Err(e) = remove_if_present(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "LM cache: cannot remove corrupt entry");
                }
                DiskRead::Corrupt
            }
        }
    }

    /// Write the entry of `key` atomically (temp file, sync if durable,
    /// rename); with a limit, count its bytes towards the next sweep.
    pub(crate) fn write(&self, key: &CacheKey, response: &LmResponse) -> io::Result<()> {
        let path = self.entry_path(key);
        let shard = path.parent().unwrap_or(&self.root);
        let mut file = match temp_file_in(shard) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(shard)?;
                temp_file_in(shard)?
            }
            other => other?,
        };
        let mut out = io::BufWriter::with_capacity(64 * 1024, file.as_file_mut());
        encode(key, response, &mut out)?;
        out.flush()?;
        drop(out);
        if self.durable {
            file.as_file().sync_data()?;
        }
        let len = if self.limit.is_some() { file.as_file().metadata()?.len() } else { 0 };
        file.persist(&path).map_err(|e| e.error)?;
        if self.durable {
            crate::journal::sync_dir(shard);
        }
        if let Some(limit) = &self.limit {
            limit.note_written(&self.root, len);
        }
        Ok(())
    }

    /// Sweep now (blocking): delete least recently used entries past the
    /// limit. `None` when the level has no limit.
    pub(crate) fn enforce_limit(&self) -> io::Result<Option<DiskUsage>> {
        self.limit.as_ref().map(|limit| sweep(&self.root, limit.limit())).transpose()
    }

    /// Remove every entry and temp file (directories stay, so concurrent
    /// writers in other processes keep working).
    pub(crate) fn clear(&self) -> io::Result<()> {
        let shards = match fs::read_dir(&self.root) {
            Ok(shards) => shards,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for shard in shards {
            let shard = shard?.path();
            if !shard.is_dir() {
                continue;
            }
            for file in fs::read_dir(&shard)? {
                let path = file?.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                let ours = name.ends_with(".json") || (name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX));
                if ours {
                    remove_if_present(&path)?;
                }
            }
        }
        Ok(())
    }
}

/// Remove a file; one already gone is fine (another process removed it).
pub(crate) fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn temp_file_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new().prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX).tempfile_in(dir)
}

/// Stream the entry file: header, payload (hashed on the way out), then
/// its checksum.
pub(super) fn encode(key: &CacheKey, response: &LmResponse, out: &mut impl Write) -> io::Result<()> {
    write!(out, "{{\"format\":{FORMAT},\"key\":\"{key}\",\"payload\":")?;
    let mut payload = HashingWriter { inner: &mut *out, hasher: Sha256::new() };
    serde_json::to_writer(&mut payload, response)?;
    let sha256 = to_hex(&payload.hasher.finalize());
    write!(out, ",\"sha256\":\"{sha256}\"}}")
}

/// Writes through to `inner`, hashing what was written.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Validate and decode the file bytes of an entry; `Err` says why not.
pub(super) fn decode(key: &CacheKey, bytes: &[u8]) -> Result<LmResponse, String> {
    let envelope: EnvelopeIn<'_> = serde_json::from_slice(bytes).map_err(|e| format!("bad envelope: {e}"))?;
    if envelope.format != FORMAT {
        return Err(format!("format {} (expected {FORMAT})", envelope.format));
    }
    if !envelope.key.eq_ignore_ascii_case(&key.to_hex()) {
        return Err(format!("holds key {}", envelope.key));
    }
    let payload = envelope.payload.get();
    if !envelope.sha256.eq_ignore_ascii_case(&to_hex(&Sha256::digest(payload.as_bytes()))) {
        return Err("checksum mismatch".into());
    }
    serde_json::from_str(payload).map_err(|e| format!("bad payload: {e}"))
}
