//! The run journal: what a resumable compile or evaluation has finished,
//! appended line by line beside the LM cache, so a rerun of the same command
//! skips it.
//!
//! - [`RunIdentity`]: the parts that decide a run's result (program state,
//!   optimizer settings, trainset, seed, model...), hashed into its run id.
//!   A different identity is a different file: a changed run never resumes
//!   from another's journal.
//! - [`Journal`]: `<dir>/<run id>.jsonl`, a header line holding the identity,
//!   then one line per finished unit (`{"k": key, "v": value}`). Each line is
//!   written whole (one `write` call; a killed process loses nothing
//!   written) and, by default, synced (`sync_data`: a power cut loses
//!   nothing either) before [`Journal::record`] returns; on open a torn last
//!   line is cut off, never an error.
//! - [`with_journal`] / [`current_journal`]: the task-local scope through
//!   which `Evaluate` (kestrel-eval) and the optimizers find the journal of
//!   the run they belong to. No process-wide state.
//! - [`DurableHook`]: called after every durable write (a cache entry or a
//!   journal line); tests use it to kill a process at exact points.

mod file;
mod identity;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::error::LmError;

pub(crate) use file::sync_dir;
pub use identity::RunIdentity;

/// What a durable write was, as [`DurableHook`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurableWrite {
    /// An LM response reached the disk cache (before any caller used it).
    CacheEntry,
    /// A journal line was written and synced.
    JournalLine,
}

/// Called after each durable write, on the writing thread. Cheap to clone.
/// Equal hooks are the same closure (`Arc::ptr_eq`).
#[derive(Clone)]
pub struct DurableHook(Arc<dyn Fn(DurableWrite) + Send + Sync>);

impl DurableHook {
    /// A hook running `f`.
    pub fn new(f: impl Fn(DurableWrite) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Run the hook.
    pub fn call(&self, write: DurableWrite) {
        (self.0)(write);
    }
}

impl fmt::Debug for DurableHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DurableHook")
    }
}

impl PartialEq for DurableHook {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for DurableHook {}

/// An open run journal. Cheap to clone (an `Arc`); clones append to the
/// same file.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    run_id: String,
    units: Mutex<HashMap<String, Value>>,
    writer: Mutex<file::Writer>,
    replayed: usize,
    hook: Option<DurableHook>,
}

impl Journal {
    /// Open (creating) the journal of `identity` in `dir`:
    /// `<dir>/<run id>.jsonl`. Units already in it are loaded (a torn last
    /// line is dropped); a file whose header names another identity (a hash
    /// collision, or a damaged header) is moved aside to `<run id>.jsonl.bad`
    /// and a new journal started.
    ///
    /// With `sync`, each line is synced to the device before
    /// [`Journal::record`] returns (about 5 ms); without, it is only
    /// written, which a killed process never loses but a power cut may.
    /// `hook` runs after each line.
    pub fn open(dir: &Path, identity: &RunIdentity, sync: bool, hook: Option<DurableHook>) -> Result<Journal, LmError> {
        let run_id = identity.run_id();
        let path = dir.join(format!("{run_id}.jsonl"));
        let (units, writer) = file::open(&path, identity, sync)?;
        let replayed = units.len();
        if replayed > 0 {
            tracing::info!(path = %path.display(), units = replayed, "journal: resuming");
        }
        let inner = Inner { path, run_id, units: Mutex::new(units), writer: Mutex::new(writer), replayed, hook };
        Ok(Journal { inner: Arc::new(inner) })
    }

    /// The run id (hex of the identity's hash).
    pub fn run_id(&self) -> &str {
        &self.inner.run_id
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Units found in the file when it was opened (0: a fresh run).
    pub fn replayed(&self) -> usize {
        self.inner.replayed
    }

    /// Units recorded so far (replayed ones included).
    pub fn len(&self) -> usize {
        self.units().len()
    }

    /// True when no unit is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value recorded under `key`, if that unit is finished.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.units().get(key).cloned()
    }

    /// Record a finished unit: the line is appended (and synced, if the
    /// journal syncs) before this returns — blocking file I/O. Recording a key
    /// again with the same value is a no-op; with another value the later
    /// one wins on replay.
    pub fn record(&self, key: &str, value: Value) -> Result<(), LmError> {
        if self.units().get(key) == Some(&value) {
            return Ok(());
        }
        {
            let mut writer = self.inner.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            writer.append(key, &value).map_err(|e| {
                LmError::Config(format!("cannot append to the journal {}: {e}", self.inner.path.display()))
            })?;
        }
        self.units().insert(key.to_string(), value);
        if let Some(hook) = &self.inner.hook {
            hook.call(DurableWrite::JournalLine);
        }
        Ok(())
    }

    fn units(&self) -> std::sync::MutexGuard<'_, HashMap<String, Value>> {
        self.inner.units.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.inner.path)
            .field("replayed", &self.inner.replayed)
            .field("units", &self.len())
            .finish()
    }
}

tokio::task_local! {
    static JOURNAL: Journal;
}

/// Run `future` with `journal` as the current task's journal: `Evaluate`
/// and the optimizers inside it record finished units there and skip the
/// ones already recorded.
pub async fn with_journal<F: Future>(journal: Journal, future: F) -> F::Output {
    JOURNAL.scope(journal, future).await
}

/// The journal of the current task's scope, if any.
pub fn current_journal() -> Option<Journal> {
    JOURNAL.try_with(Clone::clone).ok()
}
