//! Resumable compiles: a compile checkpointed to a journal beside the LM
//! cache, resumed by running the same command again.
//!
//! [`Resumable`] wraps any [`Optimizer`] (and [`compile_resumable`] any
//! [`DynOptimizer`]) with [`JournalOptions`]:
//!
//! - The run's identity ([`RunIdentity`]: the optimizer's name and settings,
//!   the student's full state, the trainset and valset with their input
//!   keys, the LM in scope, plus the caller's own parts such as the seed and
//!   the command line) names its journal, `<dir>/<run id>.jsonl`. A changed
//!   identity is a new journal: never a wrong resume.
//! - The compile runs inside [`with_journal`], so every `Evaluate` in it
//!   records each scored row (program state × example) as it finishes, and
//!   a rerun takes those rows back instead of running them. LM calls that
//!   finished are served by the cache, on disk before use when the LM's
//!   cache writes through (`CacheConfig::write_through`; `durable_writes`
//!   to survive a power cut too), so a rerun pays for none twice.
//!   Everything else (bootstraps, proposals, trials, seeded draws) is
//!   recomputed from those, deterministically: optimizers make the same
//!   choices from the same answers at any timing, so the resumed compile
//!   ends with the same program as an uninterrupted one.
//! - The compiled program's state is recorded last (`compiled`); a rerun of
//!   a finished compile checks that it compiles to the same state.
//! - Cancellation ([`JournalOptions::cancel_token`], e.g. wired to Ctrl-C):
//!   in-flight work is dropped (journal lines and cache entries are each
//!   written whole, so the journal stays consistent) and the
//!   compile returns [`OptimizerError::Interrupted`], which names the
//!   journal and says to run the same command again.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;

use futures::future::{Either, select};
use kestrel_core::Example;
use kestrel_lm::{DurableHook, Journal, RunIdentity, current_lm, with_journal};
use kestrel_modules::{DynModule, Module, ProgramState};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::cost_estimate::ProgramRuns;
use crate::dyn_optimizer::DynOptimizer;
use crate::error::OptimizerError;
use crate::optimizer::{Compiled, Optimizer};

/// The journal key of the compiled program's state.
const COMPILED: &str = "compiled";

/// Where a resumable compile keeps its journal, what else identifies it, and
/// what cancels it.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    dir: PathBuf,
    identity: Vec<(String, Value)>,
    cancel: Option<CancellationToken>,
    hook: Option<DurableHook>,
    sync: bool,
}

impl JournalOptions {
    /// Journals in `dir` (created when needed).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), identity: Vec::new(), cancel: None, hook: None, sync: true }
    }

    /// Journals beside an LM cache: `<cache dir>/journal`.
    pub fn beside_cache(cache_dir: &Path) -> Self {
        Self::new(cache_dir.join("journal"))
    }

    /// Builder: one more identity part — anything the result depends on
    /// that the optimizer's settings and the data do not show (the metric,
    /// a seed given elsewhere, the model, the command line).
    pub fn identity(mut self, name: &str, value: impl serde::Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or_else(|e| Value::String(format!("<unserializable: {e}>")));
        self.identity.push((name.to_string(), value));
        self
    }

    /// Builder: stop the compile when `token` is cancelled.
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Builder: sync each journal line to the device (default true; about
    /// 5 ms a line). Off, lines are still written before the work goes on —
    /// a killed process loses none — but a power cut may.
    pub fn sync_each_line(mut self, on: bool) -> Self {
        self.sync = on;
        self
    }

    /// Builder: a hook called after each journal line is written (tests kill
    /// the process there).
    pub fn on_durable_write(mut self, hook: DurableHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The identity of compiling `student` on `trainset` / `valset` with
    /// the optimizer named `name` whose settings read `settings`.
    fn run_identity<M: ProgramState + ?Sized>(
        &self,
        name: &str,
        settings: &str,
        student: &M,
        trainset: &[Example],
        valset: Option<&[Example]>,
    ) -> RunIdentity {
        let examples = |set: &[Example]| -> Vec<Value> {
            set.iter().map(|e| json!({ "fields": e, "inputs": e.input_keys() })).collect()
        };
        let mut identity = RunIdentity::new("compile")
            .part("optimizer", name)
            .part("settings", settings)
            .part("student", &student.dump_state())
            .part("trainset", &examples(trainset))
            .part("valset", &valset.map(examples))
            .part("lm", &current_lm().map(|lm| lm.model().to_string()));
        for (name, value) in &self.identity {
            identity = identity.part(&format!("user.{name}"), value);
        }
        identity
    }
}

/// An optimizer whose compiles resume from a journal (see the module
/// documentation). Itself an [`Optimizer`], so it fits wherever the wrapped
/// one does.
///
/// ```no_run
/// use kestrel_core::{Example, Prediction};
/// use kestrel_lm::cache::CacheConfig;
/// use kestrel_lm::{LmBuilder, with_lm};
/// use kestrel_modules::{ChainOfThought, ProgramState, Trace};
/// use kestrel_optimizers::{BootstrapFewShotWithRandomSearch, JournalOptions, Optimizer, OptimizerError, Resumable};
/// use tokio_util::sync::CancellationToken;
///
/// # async fn run(trainset: Vec<Example>) -> Result<(), Box<dyn std::error::Error>> {
/// let cache_dir = std::path::PathBuf::from(".kestrel-cache");
/// // Write-through and synced: no answered call is lost to a kill or a power cut.
/// let cache = CacheConfig::default().with_dir(cache_dir.clone()).durable(true);
/// let lm = LmBuilder::from_model("openai/gpt-4o-mini")?.cache(cache).build()?;
/// let metric = |ex: &Example, pred: &Prediction, _: Option<&Trace>| ex.get("answer") == pred.get("answer");
/// let cancel = CancellationToken::new(); // cancel it from a Ctrl-C handler
/// let options = JournalOptions::beside_cache(&cache_dir).identity("run", "qa-v1").cancel_token(cancel.clone());
/// let optimizer = Resumable::new(BootstrapFewShotWithRandomSearch::new(metric), options);
/// let program = ChainOfThought::from_signature("question -> answer")?;
/// match with_lm(lm, optimizer.compile(&program, &trainset)).await {
///     Ok(compiled) => compiled.program.save("qa.json")?,
///     // "interrupted; finished work is kept in the journal ...: run the same command again to resume"
///     Err(e @ OptimizerError::Interrupted { .. }) => eprintln!("{e}"),
///     Err(e) => return Err(e.into()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Resumable<O> {
    optimizer: O,
    options: JournalOptions,
}

impl<O> Resumable<O> {
    /// `optimizer`, journaled as `options` say.
    pub fn new(optimizer: O, options: JournalOptions) -> Self {
        Self { optimizer, options }
    }

    /// The wrapped optimizer.
    pub fn inner(&self) -> &O {
        &self.optimizer
    }
}

impl<O: Optimizer + fmt::Debug> Optimizer for Resumable<O> {
    fn name(&self) -> &'static str {
        self.optimizer.name()
    }

    fn program_runs_bound(&self, trainset: usize, valset: usize, predictors: usize) -> Option<ProgramRuns> {
        self.optimizer.program_runs_bound(trainset, valset, predictors)
    }

    async fn compile_with_valset<'a, M>(
        &'a self,
        student: &'a M,
        trainset: &'a [Example],
        valset: Option<&'a [Example]>,
    ) -> Result<Compiled<M>, OptimizerError>
    where
        M: Module + Clone + 'static,
    {
        let settings = format!("{:?}", self.optimizer);
        let identity = self.options.run_identity(self.name(), &settings, student, trainset, valset);
        journaled(&self.options, &identity, self.optimizer.compile_with_valset(student, trainset, valset)).await
    }
}

/// Compile `student` with any optimizer, resumably (see the module
/// documentation). The optimizer's settings are not visible through
/// `dyn DynOptimizer`: put whatever distinguishes them (and the seed) into
/// the identity with [`JournalOptions::identity`].
pub async fn compile_resumable(
    optimizer: &dyn DynOptimizer,
    student: &dyn DynModule,
    trainset: &[Example],
    valset: Option<&[Example]>,
    options: &JournalOptions,
) -> Result<Compiled<Box<dyn DynModule>>, OptimizerError> {
    let identity = options.run_identity(optimizer.optimizer_name(), "", student, trainset, valset);
    journaled(options, &identity, optimizer.compile_boxed(student, trainset, valset)).await
}

/// Run `compile` with the journal of `identity` in scope; record (or check)
/// the compiled state; stop on cancellation.
async fn journaled<M: Module>(
    options: &JournalOptions,
    identity: &RunIdentity,
    compile: impl Future<Output = Result<Compiled<M>, OptimizerError>>,
) -> Result<Compiled<M>, OptimizerError> {
    let journal = Journal::open(&options.dir, identity, options.sync, options.hook.clone()).map_err(journal_error)?;
    if journal.replayed() > 0 {
        tracing::info!(target: "kestrel_optimizers", journal = %journal.path().display(), units = journal.replayed(),
            "resuming the compile from its journal");
    }
    let run = pin!(with_journal(journal.clone(), compile));
    let compiled = match &options.cancel {
        None => run.await?,
        Some(token) => match select(run, pin!(token.cancelled())).await {
            Either::Left((compiled, _)) => compiled?,
            Either::Right(((), _)) => {
                return Err(OptimizerError::Interrupted { journal: journal.path().to_path_buf() });
            }
        },
    };
    let state = compiled.program.dump_state();
    if let Some(recorded) = journal.get(COMPILED).filter(|recorded| *recorded != state) {
        tracing::warn!(target: "kestrel_optimizers", journal = %journal.path().display(),
            "the compile ended with another program than the journal recorded ({} vs {} bytes of state); keeping the new one",
            state.to_string().len(), recorded.to_string().len());
    }
    journal.record(COMPILED, state).map_err(journal_error)?;
    Ok(compiled)
}

fn journal_error(error: kestrel_lm::LmError) -> OptimizerError {
    OptimizerError::Config(error.to_string())
}
