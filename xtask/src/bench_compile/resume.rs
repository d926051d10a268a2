//! Resumable runs: with a cache directory that outlives the run
//! (`--cache-dir`, or the user cache of a real LM) every compile is
//! journaled there (`<cache dir>/journal/<run id>.jsonl`, see
//! `kestrel_optimizers::Resumable`) and the cache writes through, so a run
//! killed or stopped with Ctrl-C resumes when the same command runs again:
//! the same compiled programs, no LM call paid twice.

use std::future::Future;
use std::path::Path;

use anyhow::{Result, bail};
use kestrel_optimizers::JournalOptions;
use serde_json::json;

use super::cli::BenchArgs;

/// True when this run's compiles are journaled (a lasting cache directory).
pub fn resumable(args: &BenchArgs) -> bool {
    !args.no_cache && (args.cache_dir.is_some() || !args.simulated())
}

/// Run `run`, or stop at Ctrl-C: whatever is in flight is dropped (journal
/// lines and cache entries are whole and synced one by one) and the error
/// says how to resume.
pub async fn until_ctrl_c<T>(run: impl Future<Output = Result<T>>, resumable: bool) -> Result<T> {
    tokio::select! {
        result = run => result,
        signal = tokio::signal::ctrl_c() => {
            if let Err(e) = signal {
                bail!("cannot listen for Ctrl-C: {e}");
            }
            if resumable {
                bail!(
                    "interrupted (Ctrl-C). Finished LM calls and compile steps are kept in the cache directory \
                     (its journal/ folder): run the same command again to resume."
                )
            }
            bail!(
                "interrupted (Ctrl-C). The cache was temporary or off, so nothing is kept: pass --cache-dir DIR to \
                 make runs resumable."
            )
        }
    }
}

/// The journal options of one model's compiles: beside the cache, with
/// every flag a compiled program depends on in the run's identity (the
/// program, optimizer, trainset and valset are added per compile).
pub fn journal_options(args: &BenchArgs, dataset: &str, model: &str, cache_dir: &Path) -> JournalOptions {
    let flags = json!({
        "dataset": dataset,
        "model": model,
        "seed": args.seed,
        "candidates": args.candidates,
        "breadth": args.breadth,
        "depth": args.depth,
        "budget_calls": args.budget_calls,
        "budget_usd": args.budget_usd,
        "compile_budget": format!("{:?}", args.compile_budget()),
        "temperature": args.temperature(),
        "max_tokens": args.max_tokens(),
        "constrained": format!("{:?}", args.constrained),
        "trial_concurrency": args.trial_concurrency,
        "metric": format!("{:?}", args.metric),
        "max_bootstrapped_demos": args.max_bootstrapped_demos,
        "max_labeled_demos": args.max_labeled_demos,
    });
    // Journal lines are synced for a real LM (like its cache entries).
    JournalOptions::beside_cache(cache_dir).identity("bench-compile", flags).sync_each_line(!args.simulated())
}
