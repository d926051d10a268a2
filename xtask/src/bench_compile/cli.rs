//! `cargo xtask bench-compile` flags ([`BenchArgs`]) and the value sets
//! scripts can rely on: programs, optimizers and metrics. Unknown values are
//! clap errors that list the accepted ones.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use super::banking77_6;
use super::datasets::DatasetChoice;
use super::shard::Shard;
use kestrel_optimizers::AutoMode;
use kestrel_testkit::simulated;

/// The value of `--lm` that selects the simulated LM (the default).
pub const SIMULATED: &str = "simulated";
/// MIPROv2 minibatch trials in flight when `--trial-concurrency` is not
/// given (measured in docs/BENCH_COMPILE.md: the offline default stays fast).
pub const DEFAULT_TRIAL_CONCURRENCY: usize = 4;
/// Simulated latency when `--latency-ms` is not given.
pub const DEFAULT_LATENCY_MS: u64 = 50;
/// Validation examples on the generated dataset when `--val` is not given:
/// scoring RandomSearch's candidates on the trainset would reward the
/// candidates whose demos the simulated LM memorizes there.
pub const DEFAULT_GENERATED_VAL: usize = 100;
/// Training examples when `--train` is not given (banking77-6 aside).
pub const DEFAULT_TRAIN: usize = 50;
/// Dev examples when `--dev` is not given (banking77-6 aside).
pub const DEFAULT_DEV: usize = 100;
/// banking77-6's completion limit (the setting).
pub const BANKING77_6_MAX_TOKENS: u32 = 256;

/// True for the model strings that select the simulated LM.
pub fn is_simulated(model: &str) -> bool {
    model == SIMULATED || model == format!("openai/{}", simulated::MODEL)
}

/// A program to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum ProgramKind {
    /// `Predict` on the dataset's signature.
    Predict,
    /// `ChainOfThought` on the dataset's signature.
    Cot,
}

impl ProgramKind {
    /// The name reports show.
    pub fn name(self) -> &'static str {
        match self {
            ProgramKind::Predict => "predict",
            ProgramKind::Cot => "cot",
        }
    }
}

/// An optimizer to compile with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum OptimizerKind {
    /// No compile: the program as it is (the baseline).
    None,
    /// `LabeledFewShot` (k = `--max-labeled-demos`).
    Labeled,
    /// `BootstrapFewShot`.
    Bootstrap,
    /// `BootstrapFewShotWithRandomSearch` (`--candidates` programs).
    RandomSearch,
    /// `COPRO` (`--breadth`, `--depth`; the prompt model is the task LM).
    /// Not in the default matrix.
    Copro,
    /// `MIPROv2` with `auto = light` (prompt model = the task LM).
    MiproLight,
    /// `MIPROv2` with `auto = medium`.
    MiproMedium,
    /// `MIPROv2` with `auto = heavy`.
    MiproHeavy,
    /// `GEPA` with `auto = light` (reflection LM = the task LM; the metric
    /// gives feedback, see docs/BENCH_COMPILE.md).
    GepaLight,
    /// `GEPA` with `auto = medium`.
    GepaMedium,
    /// `GEPA` with `auto = heavy`.
    GepaHeavy,
    /// `SIMBA` with DSPy's defaults (`bsize` capped at `--train`; the
    /// prompt model is the task LM; `--seed`).
    Simba,
    /// `KNNFewShot` (k = `--max-bootstrapped-demos`) over an offline
    /// hashed-words embedder; each dev call bootstraps on its neighbours.
    Knn,
    /// `Ensemble` of three BootstrapFewShot programs (one per third of the
    /// trainset), reduced by majority.
    Ensemble,
    /// `BootstrapFinetune` on the OpenAI-compatible fine-tuning API (the
    /// simulated LM's mock server, or `--api-base`); see
    /// docs/BENCH_COMPILE.md for what the simulated fine-tuning is.
    Finetune,
    /// `BetterTogether`, strategy `p -> w -> p` (p = BootstrapFewShotWithRandomSearch
    /// with `--candidates`, w = BootstrapFinetune), seeded by `--seed`,
    /// scored on the validation split.
    BetterTogether,
}

impl OptimizerKind {
    /// The name reports show (the flag value).
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::None => "none",
            OptimizerKind::Labeled => "labeled",
            OptimizerKind::Bootstrap => "bootstrap",
            OptimizerKind::RandomSearch => "random-search",
            OptimizerKind::Copro => "copro",
            OptimizerKind::MiproLight => "mipro-light",
            OptimizerKind::MiproMedium => "mipro-medium",
            OptimizerKind::MiproHeavy => "mipro-heavy",
            OptimizerKind::GepaLight => "gepa-light",
            OptimizerKind::GepaMedium => "gepa-medium",
            OptimizerKind::GepaHeavy => "gepa-heavy",
            OptimizerKind::Simba => "simba",
            OptimizerKind::Knn => "knn",
            OptimizerKind::Ensemble => "ensemble",
            OptimizerKind::Finetune => "finetune",
            OptimizerKind::BetterTogether => "better-together",
        }
    }

    /// GEPA's `auto` mode of a GEPA kind, `None` for the others.
    pub fn gepa_auto(self) -> Option<AutoMode> {
        match self {
            OptimizerKind::GepaLight => Some(AutoMode::Light),
            OptimizerKind::GepaMedium => Some(AutoMode::Medium),
            OptimizerKind::GepaHeavy => Some(AutoMode::Heavy),
            _ => None,
        }
    }

    /// MIPROv2's `auto` mode of a MIPROv2 kind, `None` for the others.
    pub fn mipro_auto(self) -> Option<AutoMode> {
        match self {
            OptimizerKind::MiproLight => Some(AutoMode::Light),
            OptimizerKind::MiproMedium => Some(AutoMode::Medium),
            OptimizerKind::MiproHeavy => Some(AutoMode::Heavy),
            _ => None,
        }
    }

    /// The optimizers run when `--optimizer` is not given, in matrix order:
    /// every one but COPRO, MIPROv2 medium and heavy and GEPA (minutes at
    /// 50 ms latency).
    pub const DEFAULT: [OptimizerKind; 5] = [
        OptimizerKind::None,
        OptimizerKind::Labeled,
        OptimizerKind::Bootstrap,
        OptimizerKind::RandomSearch,
        OptimizerKind::MiproLight,
    ];

    /// True when the optimizer stops cleanly on `--budget-calls` /
    /// `--budget-usd` (MIPROv2's `max_lm_calls` / `max_cost_usd`). The
    /// others have no LM-call budget (COPRO has none in DSPy either; GEPA's
    /// is in metric calls, set by its `auto` mode), so the flags are
    /// rejected for them rather than silently ignored.
    pub fn supports_budget(self) -> bool {
        match self {
            OptimizerKind::None
            | OptimizerKind::Labeled
            | OptimizerKind::Bootstrap
            | OptimizerKind::RandomSearch
            | OptimizerKind::Copro
            | OptimizerKind::GepaLight
            | OptimizerKind::GepaMedium
            | OptimizerKind::GepaHeavy
            | OptimizerKind::Simba
            | OptimizerKind::Knn
            | OptimizerKind::Ensemble
            | OptimizerKind::Finetune
            | OptimizerKind::BetterTogether => false,
            OptimizerKind::MiproLight | OptimizerKind::MiproMedium | OptimizerKind::MiproHeavy => true,
        }
    }
}

/// Which metric scores predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricKind {
    /// The dataset's own metric.
    Default,
    /// The dataset's metric, but a bootstrapping run is accepted for only one
    /// correct prediction in 16 (by a hash): bootstrapping then needs many
    /// teacher runs. Evaluation scores are the default metric's.
    Strict,
}

/// `--constrained`: whether a real LM must follow the ChatAdapter's field
/// structure (constrained decoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Constrained {
    /// Free decoding, as DSPy does.
    Off,
    /// Ask the provider to constrain the reply to the adapter's structure.
    On,
}

/// Flags of `cargo xtask bench-compile`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Dataset: generated (offline), gsm8k, hotpotqa, hover, banking77, banking77-6 (six intents; read from
    /// $KESTREL_DATA_DIR), or a PATH.jsonl of {"question", "answer"} records.
    #[arg(long, default_value = "generated", value_parser = DatasetChoice::parse)]
    pub dataset: DatasetChoice,
    /// Programs (repeatable or comma-separated) [default: predict,cot; cot for reference datasets].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub program: Vec<ProgramKind>,
    /// Optimizers (repeatable or comma-separated) [default: none, labeled, bootstrap, random-search, mipro-light].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub optimizer: Vec<OptimizerKind>,
    /// Candidate programs of RandomSearch (DSPy's num_candidate_programs; DSPy defaults to 16).
    #[arg(long, default_value_t = 4)]
    pub candidates: usize,
    /// COPRO's breadth: candidates proposed per predictor and round (DSPy's default is 10; 4 keeps the
    /// offline run short).
    #[arg(long, default_value_t = 4)]
    pub breadth: usize,
    /// COPRO's depth: rounds of scoring and proposing (DSPy's default is 3).
    #[arg(long, default_value_t = 2)]
    pub depth: usize,
    /// Stop an optimizer's search after this many LM calls (optimizers with budgets only).
    #[arg(long)]
    pub budget_calls: Option<u64>,
    /// Stop an optimizer's search once it has cost this many US dollars (optimizers with budgets only).
    #[arg(long)]
    pub budget_usd: Option<f64>,
    /// A hard budget for every compile (any optimizer): at most this many LM calls answered (cache hits
    /// count). The compile stops at the budget with the best program so far; the row says why.
    #[arg(long)]
    pub max_lm_calls: Option<u64>,
    /// A hard budget for every compile: at most this many prompt + completion tokens paid for
    /// (`--max-tokens` is the LM's per-call completion limit).
    #[arg(long)]
    pub max_compile_tokens: Option<u64>,
    /// A hard budget for every compile: at most this many US dollars (known prices only).
    #[arg(long)]
    pub max_cost_usd: Option<f64>,
    /// The LM: `simulated` (deterministic, served on 127.0.0.1) or a model string such as openai/gpt-4o-mini
    /// (configured from the provider's environment: OPENAI_API_KEY, OPENAI_BASE_URL...), or `local/<name>`
    /// (xtask built with `--features local`). `A,B`: compile on A, then again on B, and report the
    /// per-example delta (model migration).
    #[arg(long, default_value = SIMULATED, value_delimiter = ',')]
    pub lm: Vec<String>,
    /// Base URL of an OpenAI-compatible server for `--lm openai/<model>` (e.g. llama.cpp's server at
    /// http://127.0.0.1:8080/v1); overrides OPENAI_BASE_URL, and the API key defaults to a placeholder. With
    /// `--lm A,B`: one URL for every model, or one per model (comma-separated, in the same order).
    #[arg(long, value_name = "URL", value_delimiter = ',')]
    pub api_base: Vec<String>,
    /// Constrained decoding of a real LM's replies to the ChatAdapter's field structure.
    #[arg(long, value_enum, default_value_t = Constrained::Off)]
    pub constrained: Constrained,
    /// Temperature of every LM call (a real LM's default call option) [default: 0 on banking77-6, else the
    /// provider's].
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Maximum completion tokens of every LM call [default: 256 on banking77-6, else the provider's].
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Save each compiled program (DSPy's JSON state) as DIR/<model>/<program>-<optimizer>.json
    /// [default: target/bench-compile/programs with two or more --lm models, else not saved].
    #[arg(long, value_name = "DIR")]
    pub save_programs: Option<PathBuf>,
    /// Save each compiled program (DSPy's JSON state, as `Module.save`) as
    /// DIR/<dataset>-<program>-<optimizer>.json (in DIR/<model>/ with two or more --lm models).
    #[arg(long, value_name = "DIR")]
    pub save_dir: Option<PathBuf>,
    /// Write each evaluation's dev predictions (with the ChatAdapter request and reply) as
    /// DIR/<model>/<program>-<optimizer>.jsonl.
    #[arg(long, value_name = "DIR")]
    pub predictions: Option<PathBuf>,
    /// Training examples [default: 50; 30 (5 per intent) on banking77-6].
    #[arg(long)]
    pub train: Option<usize>,
    /// Validation examples for RandomSearch's candidate scores; 0 scores them on the trainset (DSPy's default)
    /// [default: 100 on the generated dataset, else 0].
    #[arg(long)]
    pub val: Option<usize>,
    /// Evaluation (dev) examples, scored before and after compiling [default: 100; 60 (10 per intent) on
    /// banking77-6].
    #[arg(long)]
    pub dev: Option<usize>,
    /// Seed of the generated problems and of the dataset shuffles.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Program calls in flight (Evaluate, bootstrap teacher runs, RandomSearch).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// MIPROv2's minibatch trials in flight (its `trial_concurrency`; 1 is DSPy's sequential loop). The
    /// compiled program depends on it, never on `--concurrency`.
    #[arg(long, default_value_t = DEFAULT_TRIAL_CONCURRENCY)]
    pub trial_concurrency: usize,
    /// Latency of every simulated LM response, in milliseconds [default: 50]. Simulated LM only.
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// Response cache folder [default: a fresh temporary folder for the simulated LM, the user cache for a
    /// real LM]. A cache folder that outlives the run (this one, or the user cache) also holds the compiles'
    /// journals (DIR/journal): a run killed or interrupted (Ctrl-C) resumes when the same command runs
    /// again, paying for no LM call twice (docs/BENCH_COMPILE.md, "Resuming").
    #[arg(long, conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// A shared Redis cache level between memory and disk (`redis://host:port[/db]`, no TLS): shards or
    /// runs on several machines share LM responses and fetch each once. Redis going away never fails a
    /// call (the local levels go on).
    #[arg(long, conflicts_with = "no_cache")]
    pub redis_url: Option<String>,
    /// No response cache at all (memory or disk).
    #[arg(long)]
    pub no_cache: bool,
    /// Evaluate only shard i of n (1-based) of the dev set: a contiguous, deterministic slice. Compiles run
    /// whole on every shard (share a cache so they are paid once); `cargo xtask merge-reports` joins the
    /// shards' `--json` reports into the whole run's (see docs/BENCH_COMPILE.md, "Sharded runs").
    #[arg(long, value_name = "I/N", value_parser = |s: &str| Shard::parse(s).map_err(|e| e.to_string()))]
    pub shard: Option<Shard>,
    /// Also write the results as JSON (schema in docs/BENCH_COMPILE.md).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also write each compile's report as a self-contained HTML page into this folder
    /// (`<program>-<optimizer>.html`; see docs/OPTIMIZERS.md, "Reading a compile report").
    #[arg(long, value_name = "DIR")]
    pub report_html: Option<PathBuf>,
    /// Metric: the dataset's own, or `strict` (see docs/BENCH_COMPILE.md).
    #[arg(long, value_enum, default_value_t = MetricKind::Default)]
    pub metric: MetricKind,
    /// Bootstrapped demos per predictor (DSPy's max_bootstrapped_demos).
    #[arg(long, default_value_t = 4)]
    pub max_bootstrapped_demos: usize,
    /// Labeled demos per predictor (DSPy's max_labeled_demos; LabeledFewShot's k).
    #[arg(long, default_value_t = 16)]
    pub max_labeled_demos: usize,
    /// Fetch a missing reference dataset at a pinned commit (sha256-checked) into target/kestrel-data.
    /// Needs an xtask built with `--features download` and a network.
    #[arg(long)]
    pub download: bool,
}

impl BenchArgs {
    /// The hard per-compile budget of `--max-lm-calls`, `--max-tokens` and
    /// `--max-cost-usd`, if any is set.
    pub fn compile_budget(&self) -> Option<kestrel_lm::BudgetLimits> {
        let limits = kestrel_lm::BudgetLimits {
            max_lm_calls: self.max_lm_calls,
            max_tokens: self.max_compile_tokens,
            max_cost_usd: self.max_cost_usd,
        };
        (!limits.is_unlimited()).then_some(limits)
    }

    /// True when the simulated LM answers.
    pub fn simulated(&self) -> bool {
        self.lm.len() == 1 && is_simulated(&self.lm[0])
    }

    /// The models, in the order they compile.
    pub fn models(&self) -> &[String] {
        &self.lm
    }

    /// Training examples: `--train`, else the dataset's default.
    pub fn train(&self) -> usize {
        self.train.unwrap_or(if self.dataset == DatasetChoice::Banking77Six {
            banking77_6::INTENTS.len() * banking77_6::TRAIN_PER_INTENT
        } else {
            DEFAULT_TRAIN
        })
    }

    /// Dev examples: `--dev`, else the dataset's default.
    pub fn dev(&self) -> usize {
        self.dev.unwrap_or(if self.dataset == DatasetChoice::Banking77Six {
            banking77_6::INTENTS.len() * banking77_6::DEV_PER_INTENT
        } else {
            DEFAULT_DEV
        })
    }

    /// The temperature a real LM is called with: `--temperature`, else 0 on
    /// banking77-6, else the provider's default (`None`).
    pub fn temperature(&self) -> Option<f32> {
        self.temperature.or((self.dataset == DatasetChoice::Banking77Six).then_some(0.0))
    }

    /// The completion limit: `--max-tokens`, else 256 on banking77-6.
    pub fn max_tokens(&self) -> Option<u32> {
        self.max_tokens.or((self.dataset == DatasetChoice::Banking77Six).then_some(BANKING77_6_MAX_TOKENS))
    }

    /// The dev indices this run evaluates: all of them, or `--shard`'s slice.
    pub fn dev_range(&self, len: usize) -> std::ops::Range<usize> {
        self.shard.map_or(0..len, |shard| shard.range(len))
    }

    /// The `--api-base` of the `index`-th model, if any.
    pub fn api_base_of(&self, index: usize) -> Option<&str> {
        match self.api_base.as_slice() {
            [] => None,
            [one] => Some(one),
            many => many.get(index).map(String::as_str),
        }
    }

    /// Where compiled programs are saved, if anywhere.
    pub fn save_programs(&self, root: &std::path::Path) -> Option<PathBuf> {
        self.save_programs
            .clone()
            .or_else(|| (self.lm.len() > 1).then(|| root.join("target").join("bench-compile").join("programs")))
    }

    /// The simulated latency in milliseconds, `None` for a real LM.
    pub fn latency(&self) -> Option<u64> {
        self.simulated().then(|| self.latency_ms.unwrap_or(DEFAULT_LATENCY_MS))
    }

    /// The validation size: `--val`, else [`DEFAULT_GENERATED_VAL`] on the
    /// generated dataset and 0 (the trainset) on others.
    pub fn val(&self) -> usize {
        self.val.unwrap_or(if self.dataset == DatasetChoice::Generated { DEFAULT_GENERATED_VAL } else { 0 })
    }

    /// The optimizers to run, deduplicated, in matrix order.
    pub fn optimizers(&self) -> Vec<OptimizerKind> {
        let mut chosen =
            if self.optimizer.is_empty() { OptimizerKind::DEFAULT.to_vec() } else { self.optimizer.clone() };
        chosen.sort();
        chosen.dedup();
        chosen
    }

    /// The programs to run, deduplicated, in matrix order.
    pub fn programs(&self, dataset_default: &[ProgramKind]) -> Vec<ProgramKind> {
        let mut chosen = if self.program.is_empty() { dataset_default.to_vec() } else { self.program.clone() };
        chosen.sort();
        chosen.dedup();
        chosen
    }

    /// Flag combinations that make no sense.
    pub fn check(&self) -> Result<()> {
        if self.lm.is_empty() || self.lm.iter().any(|m| m.trim().is_empty()) {
            bail!("--lm needs a model string (or `A,B` for a model migration)");
        }
        if self.lm.len() > 1 && self.lm.iter().any(|m| is_simulated(m)) {
            bail!("--lm A,B compares real models; the simulated LM cannot be one of them");
        }
        if !self.simulated() && self.latency_ms.is_some() {
            bail!("--latency-ms applies only to the simulated LM (got --lm {})", self.lm.join(","));
        }
        if self.simulated() && self.constrained == Constrained::On {
            bail!("--constrained on needs a real LM (--lm); the simulated LM always follows the format");
        }
        if let Some(t) = self.temperature
            && !(t.is_finite() && t >= 0.0)
        {
            bail!("--temperature must be a number >= 0 (got {t})");
        }
        if self.max_tokens == Some(0) {
            bail!("--max-tokens must be at least 1");
        }
        if self.api_base.len() > 1 && self.api_base.len() != self.lm.len() {
            bail!(
                "--api-base takes one URL, or one per --lm model ({} models, {} URLs)",
                self.lm.len(),
                self.api_base.len()
            );
        }
        if !self.api_base.is_empty() && !self.lm.iter().all(|m| m.starts_with("openai/")) {
            bail!(
                "--api-base applies to OpenAI-compatible models (--lm openai/<model>), got --lm {}",
                self.lm.join(",")
            );
        }
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if self.trial_concurrency == 0 {
            bail!("--trial-concurrency must be at least 1");
        }
        if self.dev() == 0 {
            bail!("--dev must be at least 1 (the dev set is scored before and after compiling)");
        }
        let compiles = self.optimizers().iter().any(|o| *o != OptimizerKind::None);
        if compiles && self.train() == 0 {
            bail!("--train must be at least 1 to compile");
        }
        if self.optimizers().contains(&OptimizerKind::RandomSearch) && self.candidates == 0 {
            bail!("--candidates must be at least 1");
        }
        if self.optimizers().contains(&OptimizerKind::Copro) {
            if self.breadth <= 1 {
                bail!("--breadth must be greater than 1 (COPRO proposes breadth - 1 instructions plus the original)");
            }
            if self.depth == 0 {
                bail!("--depth must be at least 1");
            }
        }
        if self.max_lm_calls == Some(0) || self.max_compile_tokens == Some(0) {
            bail!("--max-lm-calls and --max-compile-tokens must be at least 1");
        }
        if let Some(usd) = self.max_cost_usd
            && !(usd.is_finite() && usd > 0.0)
        {
            bail!("--max-cost-usd must be a positive number of US dollars (got {usd})");
        }
        if self.budget_calls == Some(0) {
            bail!("--budget-calls must be at least 1");
        }
        if let Some(usd) = self.budget_usd
            && !(usd.is_finite() && usd > 0.0)
        {
            bail!("--budget-usd must be a positive number of US dollars (got {usd})");
        }
        if self.budget_calls.is_some() || self.budget_usd.is_some() {
            let flag = if self.budget_calls.is_some() { "--budget-calls" } else { "--budget-usd" };
            let unsupported: Vec<&str> = self
                .optimizers()
                .into_iter()
                .filter(|o| *o != OptimizerKind::None && !o.supports_budget())
                .map(OptimizerKind::name)
                .collect();
            if !unsupported.is_empty() {
                bail!(
                    "{flag} needs optimizers that stop on a budget; {} cannot (run them without a budget, or \
                     choose only optimizers with budgets)",
                    unsupported.join(", ")
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        Wrapper::try_parse_from(std::iter::once("bench-compile").chain(args.iter().copied())).map(|w| w.args)
    }

    #[test]
    fn defaults_run_the_offline_matrix() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.dataset, DatasetChoice::Generated);
        assert!(args.simulated());
        assert_eq!(args.latency(), Some(DEFAULT_LATENCY_MS));
        assert_eq!(args.optimizers(), OptimizerKind::DEFAULT);
        assert!(!args.optimizers().contains(&OptimizerKind::Copro));
        assert_eq!((args.breadth, args.depth, args.budget_calls, args.budget_usd), (4, 2, None, None));
        assert_eq!(args.trial_concurrency, DEFAULT_TRIAL_CONCURRENCY);
        assert_eq!(args.programs(&[ProgramKind::Predict, ProgramKind::Cot]), [ProgramKind::Predict, ProgramKind::Cot]);
        args.check().unwrap();
    }

    #[test]
    fn lists_are_repeatable_or_comma_separated() {
        let args =
            parse(&["--optimizer", "bootstrap,none", "--optimizer", "random-search", "--program", "cot"]).unwrap();
        assert_eq!(args.optimizers(), [OptimizerKind::None, OptimizerKind::Bootstrap, OptimizerKind::RandomSearch]);
        assert_eq!(args.programs(&[ProgramKind::Predict]), [ProgramKind::Cot]);
    }

    #[test]
    fn unknown_values_list_the_accepted_ones() {
        let error = parse(&["--optimizer", "mipro"]).unwrap_err().to_string();
        assert!(error.contains("mipro") && error.contains("random-search") && error.contains("labeled"), "{error}");
        let error = parse(&["--program", "react"]).unwrap_err().to_string();
        assert!(error.contains("predict") && error.contains("cot"), "{error}");
        let error = parse(&["--dataset", "mnist"]).unwrap_err().to_string();
        assert!(error.contains("gsm8k") && error.contains(".jsonl"), "{error}");
        let error = parse(&["--metric", "lenient"]).unwrap_err().to_string();
        assert!(error.contains("strict"), "{error}");
        assert!(parse(&["--cache-dir", "x", "--no-cache"]).is_err());
        assert!(parse(&["--train", "-1"]).is_err());
    }

    #[test]
    fn real_lm_flags_parse_and_bad_combinations_are_refused() {
        let args = parse(&["--lm", "openai/a,openai/b", "--api-base", "http://127.0.0.1:8080/v1"]).unwrap();
        assert_eq!(args.models(), ["openai/a", "openai/b"]);
        assert!(!args.simulated() && args.latency().is_none());
        args.check().unwrap();
        let root = std::path::Path::new("/repo");
        assert_eq!(args.save_programs(root), Some(root.join("target/bench-compile/programs")));
        assert_eq!(parse(&["--lm", "openai/a"]).unwrap().save_programs(root), None);
        assert_eq!(args.constrained, Constrained::Off);
        assert_eq!(parse(&["--constrained", "on", "--lm", "openai/a"]).unwrap().constrained, Constrained::On);
        assert!(parse(&["--constrained", "maybe"]).unwrap_err().to_string().contains("off"));

        let refused = |flags: &[&str], needle: &str| {
            let error = parse(flags).unwrap().check().unwrap_err().to_string();
            assert!(error.contains(needle), "{flags:?}: {error}");
        };
        refused(&["--lm", "simulated,openai/b"], "simulated LM cannot be one of them");
        refused(&["--constrained", "on"], "needs a real LM");
        refused(&["--lm", "anthropic/claude", "--api-base", "http://x/v1"], "--api-base applies");
        refused(&["--lm", "openai/a", "--latency-ms", "5"], "--latency-ms applies only");
        refused(&["--lm", "openai/a", "--temperature=-1"], "--temperature");
        refused(&["--lm", "openai/a", "--max-tokens", "0"], "--max-tokens");
        refused(&["--lm", "openai/a,"], "needs a model string");
        refused(
            &["--lm", "openai/a,openai/b", "--api-base", "http://x/v1,http://y/v1,http://z/v1"],
            "one per --lm model",
        );
        let two = parse(&["--lm", "openai/a,openai/b", "--api-base", "http://x/v1,http://y/v1"]).unwrap();
        assert_eq!((two.api_base_of(0), two.api_base_of(1)), (Some("http://x/v1"), Some("http://y/v1")));
        assert_eq!(args.api_base_of(1), Some("http://127.0.0.1:8080/v1"));
        assert_eq!(parse(&[]).unwrap().api_base_of(0), None);
    }

    #[test]
    fn banking77_6_defaults_to_its_sizes_and_greedy_256_tokens() {
        let args = parse(&["--dataset", "banking77-6", "--lm", "openai/a"]).unwrap();
        assert_eq!((args.train(), args.dev(), args.val()), (30, 60, 0));
        assert_eq!((args.temperature(), args.max_tokens()), (Some(0.0), Some(256)));
        let args = parse(&["--dataset", "banking77-6", "--train", "12", "--temperature", "0.7"]).unwrap();
        assert_eq!((args.train(), args.temperature()), (12, Some(0.7)));
        let generated = parse(&[]).unwrap();
        assert_eq!(
            (generated.train(), generated.dev(), generated.temperature(), generated.max_tokens()),
            (50, 100, None, None)
        );
    }

    #[test]
    fn copro_is_chosen_by_name_with_its_breadth_and_depth() {
        let args = parse(&["--optimizer", "copro,none", "--breadth", "10", "--depth", "3"]).unwrap();
        assert_eq!(args.optimizers(), [OptimizerKind::None, OptimizerKind::Copro]);
        assert_eq!((args.breadth, args.depth), (10, 3));
        args.check().unwrap();
        let error = parse(&["--optimizer", "copro", "--breadth", "1"]).unwrap().check().unwrap_err().to_string();
        assert!(error.contains("--breadth"), "{error}");
        let error = parse(&["--optimizer", "copro", "--depth", "0"]).unwrap().check().unwrap_err().to_string();
        assert!(error.contains("--depth"), "{error}");
        // Breadth and depth do not matter when COPRO does not run.
        parse(&["--breadth", "1"]).unwrap().check().unwrap();
        let error = parse(&["--optimizer", "mipro"]).unwrap_err().to_string();
        assert!(error.contains("copro"), "{error}");
    }

    #[test]
    fn a_redis_url_adds_the_shared_level_but_not_without_a_cache() {
        let args = parse(&["--redis-url", "redis://127.0.0.1:6379/0"]).unwrap();
        assert_eq!(args.redis_url.as_deref(), Some("redis://127.0.0.1:6379/0"));
        assert!(parse(&["--redis-url", "redis://h:1", "--no-cache"]).is_err());
    }

    #[test]
    fn hard_compile_budgets_apply_to_every_optimizer() {
        let args =
            parse(&["--optimizer", "copro,gepa-light", "--max-lm-calls", "500", "--max-cost-usd", "0.25"]).unwrap();
        args.check().unwrap();
        let limits = args.compile_budget().unwrap();
        assert_eq!((limits.max_lm_calls, limits.max_tokens, limits.max_cost_usd), (Some(500), None, Some(0.25)));
        let args = parse(&["--max-compile-tokens", "9000"]).unwrap();
        assert_eq!(args.compile_budget().unwrap().max_tokens, Some(9000));
        assert!(parse(&[]).unwrap().compile_budget().is_none());
        for bad in [&["--max-lm-calls", "0"][..], &["--max-compile-tokens", "0"], &["--max-cost-usd=-1"]] {
            assert!(parse(bad).unwrap().check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn budgets_are_rejected_for_optimizers_without_one() {
        let args = parse(&["--optimizer", "copro", "--budget-calls", "500"]).unwrap();
        assert_eq!(args.budget_calls, Some(500));
        let error = args.check().unwrap_err().to_string();
        assert!(error.contains("--budget-calls") && error.contains("copro"), "{error}");
        let error = parse(&["--budget-usd", "0.5"]).unwrap().check().unwrap_err().to_string();
        assert!(error.contains("--budget-usd") && error.contains("random-search"), "{error}");
        // `none` compiles nothing, so a budget is no contradiction there.
        parse(&["--optimizer", "none", "--budget-usd", "0.5"]).unwrap().check().unwrap();
        let error = parse(&["--optimizer", "none", "--budget-usd=-1"]).unwrap().check().unwrap_err().to_string();
        assert!(error.contains("positive"), "{error}");
        let error = parse(&["--optimizer", "none", "--budget-calls", "0"]).unwrap().check().unwrap_err().to_string();
        assert!(error.contains("at least 1"), "{error}");
        assert!(parse(&["--budget-usd", "x"]).is_err());
    }

    #[test]
    fn mipro_kinds_parse_with_their_auto_mode_and_trial_concurrency() {
        let args = parse(&[
            "--optimizer",
            "mipro-heavy,mipro-light",
            "--optimizer",
            "mipro-medium",
            "--trial-concurrency",
            "2",
        ])
        .unwrap();
        let chosen = args.optimizers();
        assert_eq!(chosen, [OptimizerKind::MiproLight, OptimizerKind::MiproMedium, OptimizerKind::MiproHeavy]);
        let names: Vec<_> = chosen.iter().map(|o| o.name()).collect();
        assert_eq!(names, ["mipro-light", "mipro-medium", "mipro-heavy"]);
        let modes: Vec<_> = chosen.iter().map(|o| o.mipro_auto()).collect();
        assert_eq!(modes, [Some(AutoMode::Light), Some(AutoMode::Medium), Some(AutoMode::Heavy)]);
        assert_eq!(OptimizerKind::RandomSearch.mipro_auto(), None);
        assert_eq!(args.trial_concurrency, 2);
        args.check().unwrap();
        // Every name a report shows is the value the flag accepts.
        for kind in OptimizerKind::value_variants() {
            assert_eq!(kind.to_possible_value().unwrap().get_name(), kind.name());
        }
        let error = parse(&["--trial-concurrency", "0"]).unwrap().check().unwrap_err().to_string();
        assert!(error.contains("--trial-concurrency"), "{error}");
        let error = parse(&["--optimizer", "mipro-extreme"]).unwrap_err().to_string();
        assert!(error.contains("mipro-light") && error.contains("mipro-heavy"), "{error}");
    }

    #[test]
    fn latency_is_for_the_simulated_lm_only() {
        let real = parse(&["--lm", "openai/gpt-4o-mini", "--latency-ms", "10"]).unwrap();
        assert!(real.check().unwrap_err().to_string().contains("--latency-ms"));
        let real = parse(&["--lm", "openai/gpt-4o-mini"]).unwrap();
        assert_eq!(real.latency(), None);
        real.check().unwrap();
        assert!(parse(&["--concurrency", "0"]).unwrap().check().is_err());
        assert!(parse(&["--train", "0"]).unwrap().check().is_err());
        parse(&["--train", "0", "--optimizer", "none"]).unwrap().check().unwrap();
    }
}
