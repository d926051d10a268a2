//! Fine-tuning for `--optimizer finetune,better-together`: the
//! OpenAI-compatible backend on the simulated LM's own mock server (whose
//! fine-tuning routes train nothing: a succeeded job's model is answered by
//! the simulated LM's rule 8, see docs/BENCH_COMPILE.md) or on a real
//! OpenAI-compatible endpoint (`--api-base`, else `OPENAI_BASE_URL` /
//! `OPENAI_API_KEY`); for `--lm local/<model>` (feature `local`),
//! kestrel-local's LoRA trainer on the CPU (`LocalFinetune`, adapters under
//! DSPy's fine-tune directory).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::finetune::{OpenAiFinetune, SharedFinetuneBackend};
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{LmBuilder, SharedLm};
use kestrel_testkit::mock::{FinetunedHook, MockFile, MockJob, MockServer};
use kestrel_testkit::simulated::SimulatedLm;

/// Where simulated runs write training files, under the system's temporary
/// directory (real runs: DSPy's place, `kestrel_lm::finetune::finetune_dir`).
pub const SIMULATED_DATA_DIR: &str = "kestrel-bench-finetune";

/// How often the simulated server's jobs are polled (real ones: DSPy's 20 s).
pub const SIMULATED_POLL: Duration = Duration::from_millis(5);

/// How often a local LoRA job is polled (a poll reads a lock, no request).
pub const LOCAL_POLL: Duration = Duration::from_millis(200);

/// The simulated server's hook: a succeeded job's model is the simulated
/// LM fine-tuned on the job's training records (rule 8).
pub fn simulated_hook() -> FinetunedHook {
    Arc::new(|_job: &MockJob, file: &MockFile| {
        let records = file.bytes.split(|b| *b == b'\n').filter(|line| !line.is_empty()).count();
        Some(SimulatedLm::finetuned(records).into())
    })
}

/// The backend for one model's rows: the simulated server's routes, the
/// local LoRA trainer for `local/<model>`, or the real endpoint.
/// `constrained`: the fine-tuned local model decodes under llguidance, as
/// `--constrained on` loads the base one.
pub fn backend(
    server: Option<&MockServer>,
    api_base: Option<&str>,
    model: &str,
    constrained: bool,
) -> Result<SharedFinetuneBackend> {
    if model.starts_with("local/") {
        return local_backend(model, constrained);
    }
    if let Some(server) = server {
        let base = server.base_url();
        let lm_base = base.clone();
        // The fine-tuned model on the same server, uncached (its replies
        // must come from its own responder, never from the base model's cache).
        let factory = Arc::new(move |name: &str| {
            let provider = OpenAiProvider::new(name).base_url(&lm_base).api_key("sk-simulated");
            Ok(SharedLm::from(LmBuilder::new(provider).cache(CacheConfig::disabled()).build()?))
        });
        return Ok(Arc::new(OpenAiFinetune::new(base).api_key("sk-simulated").lm_factory(factory)));
    }
    let backend = match api_base {
        Some(base) => {
            let mut backend = OpenAiFinetune::new(base);
            if let Some(key) = std::env::var("OPENAI_API_KEY").ok().filter(|k| !k.is_empty()) {
                backend = backend.api_key(key);
            }
            backend
        }
        None => OpenAiFinetune::from_env().context("configuring the OpenAI fine-tuning backend")?,
    };
    Ok(Arc::new(backend))
}

/// `local/<model>`: LoRA on the CPU, the fine-tuned model in process.
#[cfg(feature = "local")]
fn local_backend(_model: &str, constrained: bool) -> Result<SharedFinetuneBackend> {
    use kestrel_local::LocalLmOptions;
    use kestrel_local::finetune::LocalFinetune;
    let options = LocalLmOptions::default().constrained(constrained);
    Ok(Arc::new(LocalFinetune::default().lm_options(options)))
}

/// `local/<model>`: not in this build.
#[cfg(not(feature = "local"))]
fn local_backend(model: &str, _constrained: bool) -> Result<SharedFinetuneBackend> {
    anyhow::bail!(
        "fine-tuning --lm {model} trains it in process, which this xtask was built without: \
         `cargo run -p xtask --features local -- bench-compile --lm {model} --optimizer finetune ...`"
    )
}
