//! [`Callbacks`] (the callbacks of a scope and what to do when one fails) and
//! the task-local scope [`with_callbacks`] that puts them in force.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{CallEnd, CallId, CallStart, Callback, CallbackError, dispatch_end, dispatch_start};

/// What a callback's error does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackErrorPolicy {
    /// Log it (a `tracing` warning, target `kestrel`) and go on: the call is
    /// not affected. DSPy's behaviour.
    #[default]
    Warn,
    /// The call fails with it: an error from a start handler stops the call
    /// before it runs (the end handlers still see the error), an error from
    /// an end handler replaces the call's success. A call that already
    /// failed keeps its own error.
    Fail,
}

/// The callbacks of a [`with_callbacks`] scope, in the order they are told.
///
/// ```
/// use kestrel_lm::callback::{CallStart, Callback, CallbackError, Callbacks};
///
/// struct Printer;
/// impl Callback for Printer {
///     fn on_lm_start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
///         println!("LM call {} to {}", call.call_id, call.name);
///         Ok(())
///     }
/// }
/// let callbacks = Callbacks::new().with(Printer);
/// assert_eq!(callbacks.len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct Callbacks {
    list: Vec<Arc<dyn Callback>>,
    policy: CallbackErrorPolicy,
}

impl Callbacks {
    /// No callbacks, errors logged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: add a callback.
    pub fn with(self, callback: impl Callback + 'static) -> Self {
        self.with_shared(Arc::new(callback))
    }

    /// Builder: add a callback the caller keeps a handle to (e.g. to read
    /// what it recorded afterwards).
    pub fn with_shared(mut self, callback: Arc<dyn Callback>) -> Self {
        self.list.push(callback);
        self
    }

    /// Builder: what a callback's error does (default
    /// [`CallbackErrorPolicy::Warn`]).
    pub fn on_error(mut self, policy: CallbackErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many callbacks there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks").field("len", &self.list.len()).field("policy", &self.policy).finish()
    }
}

/// The callbacks in force in a scope, and the scope's call id counter
/// (shared with the outer scopes, so ids stay unique when scopes nest).
pub(super) struct Registry {
    list: Vec<Arc<dyn Callback>>,
    policy: CallbackErrorPolicy,
    ids: Arc<AtomicU64>,
}

impl Registry {
    pub(super) fn next_id(&self) -> CallId {
        CallId(self.ids.fetch_add(1, Ordering::Relaxed))
    }

    /// Tell every callback that a call starts; under
    /// [`CallbackErrorPolicy::Fail`] the first error is returned (after all
    /// callbacks were told).
    pub(super) fn start(&self, call: &CallStart<'_>) -> Result<(), CallbackError> {
        self.each(|callback| dispatch_start(callback, call), call.kind.as_str(), "start")
    }

    /// Tell every callback that a call ended.
    pub(super) fn end(&self, call: &CallEnd<'_>) -> Result<(), CallbackError> {
        self.each(|callback| dispatch_end(callback, call), call.kind.as_str(), "end")
    }

    fn each(
        &self,
        mut tell: impl FnMut(&dyn Callback) -> Result<(), CallbackError>,
        kind: &str,
        phase: &str,
    ) -> Result<(), CallbackError> {
        let mut first = None;
        for callback in &self.list {
            if let Err(error) = tell(callback.as_ref()) {
                match self.policy {
                    CallbackErrorPolicy::Warn => {
                        tracing::warn!(target: "kestrel", %error, "a callback's on_{kind}_{phase} failed; ignored");
                    }
                    CallbackErrorPolicy::Fail => {
                        first.get_or_insert(error);
                    }
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// What the task-local scope holds: the registry and the call the code
/// running now is inside.
#[derive(Clone)]
pub(super) struct Active {
    pub(super) registry: Arc<Registry>,
    pub(super) parent: Option<CallId>,
}

tokio::task_local! {
    pub(super) static ACTIVE: Active;
}

/// The scope's state, if a [`with_callbacks`] scope is around this task.
pub(super) fn active() -> Option<Active> {
    ACTIVE.try_with(Active::clone).ok()
}

/// Run `future` with `callbacks` told about every module, LM, adapter, tool
/// and evaluation call inside it. Scopes nest: an inner scope's callbacks
/// are told after the outer ones', its error policy applies, and call ids
/// stay unique across both. The scope follows the future, not the thread
/// (a task spawned inside does not inherit it: wrap the spawned future too).
pub async fn with_callbacks<F: Future>(callbacks: Callbacks, future: F) -> F::Output {
    let outer = active();
    let (list, ids, parent) = match outer {
        Some(outer) => {
            let mut list = outer.registry.list.clone();
            list.extend(callbacks.list);
            (list, outer.registry.ids.clone(), outer.parent)
        }
        None => (callbacks.list, Arc::new(AtomicU64::new(1)), None),
    };
    let registry = Arc::new(Registry { list, policy: callbacks.policy, ids });
    ACTIVE.scope(Active { registry, parent }, future).await
}
