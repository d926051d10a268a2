//! The datasets `bench-compile` runs on: the generated arithmetic problems,
//! the reference datasets (GSM8K, HotPotQA, HoVer, banking77, and
//! banking77-6, six of its intents: `banking77_6.rs`) read from a data folder in the layout of the project's shared datasets, and a user's
//! `PATH.jsonl` of `{"question", "answer"}` records — each with its
//! signature, metric and default programs, split into train / val / dev by a
//! seeded shuffle.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kestrel_core::{Example, SignatureSpec};
use kestrel_eval::Dataset;

use super::banking77_6;
use super::cli::ProgramKind;
use super::metrics::BaseMetric;
use kestrel_testkit::simulated::{Problem, generate};

/// Which dataset to run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetChoice {
    /// Seeded arithmetic word problems (offline, the default).
    Generated,
    /// GSM8K math word problems.
    Gsm8k,
    /// HotPotQA multi-hop questions (closed book: question → answer).
    HotpotQa,
    /// HoVer claim verification (claim → SUPPORTED / NOT_SUPPORTED).
    Hover,
    /// banking77 intent classification (text → one of 77 labels).
    Banking77,
    /// Six banking77 intents, the real-model benchmark (`banking77_6.rs`).
    Banking77Six,
    /// A JSONL file of `{"question", "answer"}` records.
    Jsonl(PathBuf),
}

/// The names `--dataset` accepts besides a `.jsonl` path.
pub const DATASET_NAMES: &[&str] = &["generated", "gsm8k", "hotpotqa", "hover", "banking77", "banking77-6"];

impl DatasetChoice {
    /// Parse a `--dataset` value.
    pub fn parse(text: &str) -> Result<DatasetChoice, String> {
        Ok(match text {
            "generated" => DatasetChoice::Generated,
            "gsm8k" => DatasetChoice::Gsm8k,
            "hotpotqa" => DatasetChoice::HotpotQa,
            "hover" => DatasetChoice::Hover,
            "banking77" => DatasetChoice::Banking77,
            "banking77-6" => DatasetChoice::Banking77Six,
            path if path.ends_with(".jsonl") => DatasetChoice::Jsonl(PathBuf::from(path)),
            other => {
                return Err(format!(
                    "unknown dataset `{other}`; expected one of {} or a path ending in .jsonl",
                    DATASET_NAMES.join(", ")
                ));
            }
        })
    }

    /// The reference dataset's folder name, `None` for generated / JSONL.
    pub fn folder(&self) -> Option<&'static str> {
        match self {
            DatasetChoice::Gsm8k => Some("gsm8k"),
            DatasetChoice::HotpotQa => Some("hotpotqa"),
            DatasetChoice::Hover => Some("hover"),
            DatasetChoice::Banking77 | DatasetChoice::Banking77Six => Some("banking77"),
            DatasetChoice::Generated | DatasetChoice::Jsonl(_) => None,
        }
    }

    /// The files a reference dataset reads, relative to the data folder.
    pub fn required_files(&self) -> &'static [&'static str] {
        match self {
            DatasetChoice::Gsm8k => &["gsm8k/train.jsonl", "gsm8k/test.jsonl"],
            DatasetChoice::HotpotQa => &["hotpotqa/dev_qa.jsonl"],
            DatasetChoice::Hover => &["hover/dev.jsonl"],
            DatasetChoice::Banking77 => &["banking77/train.jsonl", "banking77/test.jsonl", "banking77/labels.json"],
            DatasetChoice::Banking77Six => &["banking77/train.jsonl", "banking77/test.jsonl"],
            DatasetChoice::Generated | DatasetChoice::Jsonl(_) => &[],
        }
    }
}

impl fmt::Display for DatasetChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetChoice::Jsonl(path) => write!(f, "{}", path.display()),
            DatasetChoice::Banking77Six => f.write_str("banking77-6"),
            other => f.write_str(other.folder().unwrap_or("generated")),
        }
    }
}

/// How many examples each split gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Training examples (demos, teacher runs).
    pub train: usize,
    /// Validation examples for RandomSearch; 0 = score candidates on the
    /// trainset (DSPy's default).
    pub val: usize,
    /// Evaluation examples (score before / after).
    pub dev: usize,
}

/// A loaded dataset with its task.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The name reports show (`generated`, `gsm8k`, the file name).
    pub name: String,
    /// Where the examples came from.
    pub source: String,
    /// The signature every program uses, in DSPy's string syntax (what
    /// reports show).
    pub signature: String,
    /// The signature itself (with instructions and descriptions, when the
    /// dataset sets them).
    pub spec: SignatureSpec,
    /// The metric.
    pub metric: BaseMetric,
    /// Programs run when `--program` is not given.
    pub default_programs: Vec<ProgramKind>,
    /// Training examples.
    pub train: Vec<Example>,
    /// Validation examples (`None`: RandomSearch scores on the trainset).
    pub val: Option<Vec<Example>>,
    /// Evaluation examples.
    pub dev: Vec<Example>,
}

/// Load `choice`, reading reference datasets from `data_dir`.
pub fn load(choice: &DatasetChoice, sizes: Sizes, seed: u64, data_dir: Option<&Path>) -> Result<Loaded> {
    let both = vec![ProgramKind::Predict, ProgramKind::Cot];
    let cot = vec![ProgramKind::Cot];
    let dir = || data_dir.context("no data folder for a reference dataset");
    match choice {
        DatasetChoice::Generated => {
            let problems = generate(seed, sizes.train + sizes.val + sizes.dev);
            let all: Vec<Example> = problems.iter().map(Problem::to_example).collect();
            let (train, val, dev) = split_one(all, sizes, "generated")?;
            Ok(Loaded {
                name: "generated".into(),
                source: format!("{} arithmetic word problems (seed {seed})", sizes.train + sizes.val + sizes.dev),
                signature: "question -> answer".into(),
                spec: SignatureSpec::parse("question -> answer")?,
                metric: BaseMetric::Numeric,
                default_programs: both,
                train,
                val,
                dev,
            })
        }
        DatasetChoice::Gsm8k => {
            let dir = dir()?;
            let fields = &["question", "answer"];
            let pool = read(&dir.join("gsm8k/train.jsonl"), fields, "question", seed)?;
            let test = read(&dir.join("gsm8k/test.jsonl"), fields, "question", seed)?;
            let (train, val) = take_two(pool, sizes.train, sizes.val, "gsm8k/train.jsonl")?;
            let dev = take(test, sizes.dev, "gsm8k/test.jsonl")?;
            reference("gsm8k", dir, "question -> answer", BaseMetric::Numeric, cot, train, val, dev)
        }
        DatasetChoice::HotpotQa => {
            let dir = dir()?;
            let all = read(&dir.join("hotpotqa/dev_qa.jsonl"), &["question", "answer"], "question", seed)?;
            let (train, val, dev) = split_one(all, sizes, "hotpotqa/dev_qa.jsonl")?;
            reference("hotpotqa", dir, "question -> answer", BaseMetric::AnswerExact, cot, train, val, dev)
        }
        DatasetChoice::Hover => {
            let dir = dir()?;
            let all = read(&dir.join("hover/dev.jsonl"), &["claim", "label"], "claim", seed)?;
            let (train, val, dev) = split_one(all, sizes, "hover/dev.jsonl")?;
            let signature = "claim -> label: Literal['SUPPORTED', 'NOT_SUPPORTED']";
            reference("hover", dir, signature, BaseMetric::LabelExact, cot, train, val, dev)
        }
        DatasetChoice::Banking77 => {
            let dir = dir()?;
            let fields = &["text", "label"];
            let pool = read(&dir.join("banking77/train.jsonl"), fields, "text", seed)?;
            let test = read(&dir.join("banking77/test.jsonl"), fields, "text", seed)?;
            let labels = read_labels(&dir.join("banking77/labels.json"))?;
            let (train, val) = take_two(pool, sizes.train, sizes.val, "banking77/train.jsonl")?;
            let dev = take(test, sizes.dev, "banking77/test.jsonl")?;
            let quoted: Vec<String> = labels.iter().map(|l| format!("'{l}'")).collect();
            let signature = format!("text -> label: Literal[{}]", quoted.join(", "));
            reference("banking77", dir, &signature, BaseMetric::LabelExact, cot, train, val, dev)
        }
        DatasetChoice::Banking77Six => {
            let dir = dir()?;
            let (train, val, dev) = banking77_6::load(dir, sizes.train, sizes.val, sizes.dev, seed)?;
            let spec = banking77_6::signature()?;
            let mut loaded = reference(
                "banking77-6",
                dir,
                &banking77_6::signature_text(),
                BaseMetric::LabelExact,
                vec![ProgramKind::Predict],
                train,
                val,
                dev,
            )?;
            loaded.source = format!(
                "{} ({} intents; train {} and dev {} per intent, chosen by sha256(\"{seed}:<id>\"))",
                dir.join("banking77").display(),
                banking77_6::INTENTS.len(),
                sizes.train / banking77_6::INTENTS.len(),
                sizes.dev / banking77_6::INTENTS.len()
            );
            loaded.spec = spec;
            Ok(loaded)
        }
        DatasetChoice::Jsonl(path) => {
            let all = read(path, &["question", "answer"], "question", seed)?;
            let (train, val, dev) = split_one(all, sizes, &path.display().to_string())?;
            let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into());
            Ok(Loaded {
                name,
                source: path.display().to_string(),
                signature: "question -> answer".into(),
                spec: SignatureSpec::parse("question -> answer")?,
                metric: BaseMetric::Normalized,
                default_programs: both,
                train,
                val,
                dev,
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn reference(
    name: &str,
    dir: &Path,
    signature: &str,
    metric: BaseMetric,
    default_programs: Vec<ProgramKind>,
    train: Vec<Example>,
    val: Option<Vec<Example>>,
    dev: Vec<Example>,
) -> Result<Loaded> {
    Ok(Loaded {
        name: name.into(),
        source: dir.join(name).display().to_string(),
        signature: signature.into(),
        spec: SignatureSpec::parse(signature)?,
        metric,
        default_programs,
        train,
        val,
        dev,
    })
}

/// Read a JSONL file, keep `fields` (all required), mark `input` as the
/// input, and shuffle with `seed`.
fn read(path: &Path, fields: &[&str], input: &str, seed: u64) -> Result<Vec<Example>> {
    // The error names the file (and the line of a bad record).
    let data = Dataset::jsonl(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = Vec::with_capacity(data.len());
    for (i, example) in data.shuffle(seed).into_examples().into_iter().enumerate() {
        let mut kept = Example::new();
        for &field in fields {
            let value = example.get(field).filter(|v| !v.is_null()).with_context(|| {
                format!(
                    "{}: a record (shuffled position {i}) has no `{field}` field; every record needs {fields:?}",
                    path.display()
                )
            })?;
            kept.insert(field, value.clone());
        }
        out.push(kept.with_inputs([input]));
    }
    Ok(out)
}

fn read_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let labels: Vec<String> = serde_json::from_str(&text)
        .with_context(|| format!("{}: expected a JSON list of label strings", path.display()))?;
    if labels.is_empty() {
        bail!("{}: no labels", path.display());
    }
    Ok(labels)
}

fn take(mut all: Vec<Example>, n: usize, what: &str) -> Result<Vec<Example>> {
    if all.len() < n {
        bail!("{what} has {} examples, fewer than the {n} requested", all.len());
    }
    all.truncate(n);
    Ok(all)
}

fn take_two(
    all: Vec<Example>,
    first: usize,
    second: usize,
    what: &str,
) -> Result<(Vec<Example>, Option<Vec<Example>>)> {
    let mut all = take(all, first + second, what)?;
    let second_part = all.split_off(first);
    Ok((all, (second > 0).then_some(second_part)))
}

/// Train, val (`None`: RandomSearch scores on the trainset) and dev.
pub type Split = (Vec<Example>, Option<Vec<Example>>, Vec<Example>);

/// Dev, train and val from one list, in that order: dev comes first so it
/// stays the same when `--train` or `--val` change.
fn split_one(all: Vec<Example>, sizes: Sizes, what: &str) -> Result<Split> {
    let mut dev = take(all, sizes.dev + sizes.train + sizes.val, what)?;
    let mut train = dev.split_off(sizes.dev);
    let val = train.split_off(sizes.train);
    Ok((train, (sizes.val > 0).then_some(val), dev))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn sizes(train: usize, val: usize, dev: usize) -> Sizes {
        Sizes { train, val, dev }
    }

    #[test]
    fn dataset_names_parse_and_unknown_ones_list_the_choices() {
        assert_eq!(DatasetChoice::parse("gsm8k"), Ok(DatasetChoice::Gsm8k));
        assert_eq!(DatasetChoice::parse("data/qa.jsonl"), Ok(DatasetChoice::Jsonl("data/qa.jsonl".into())));
        let error = DatasetChoice::parse("mnist").unwrap_err();
        assert!(error.contains("mnist") && error.contains("banking77") && error.contains(".jsonl"), "{error}");
    }

    #[test]
    fn generated_splits_are_disjoint_and_seeded() {
        let a = load(&DatasetChoice::Generated, sizes(20, 5, 30), 1, None).unwrap();
        assert_eq!((a.train.len(), a.val.as_ref().map(Vec::len), a.dev.len()), (20, Some(5), 30));
        let question = |e: &Example| e.get_str("question").unwrap().to_string();
        let train: Vec<String> = a.train.iter().map(question).collect();
        assert!(a.dev.iter().all(|e| !train.contains(&question(e))));
        let b = load(&DatasetChoice::Generated, sizes(20, 5, 30), 1, None).unwrap();
        assert_eq!(a.dev, b.dev);
        let none = load(&DatasetChoice::Generated, sizes(20, 0, 30), 1, None).unwrap();
        assert!(none.val.is_none());
        assert_eq!(a.train[0].input_keys().unwrap().iter().collect::<Vec<_>>(), ["question"]);
    }

    #[test]
    fn jsonl_files_are_read_checked_and_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qa.jsonl");
        let mut file = std::fs::File::create(&path).unwrap();
        for i in 0..10 {
            writeln!(file, r#"{{"question": "q{i}", "answer": {i}, "extra": true}}"#).unwrap();
        }
        let choice = DatasetChoice::Jsonl(path.clone());
        let loaded = load(&choice, sizes(4, 0, 6), 0, None).unwrap();
        assert_eq!((loaded.train.len(), loaded.dev.len()), (4, 6));
        assert_eq!(loaded.name, "qa.jsonl");
        assert!(!loaded.train[0].contains_key("extra"));
        let too_many = load(&choice, sizes(8, 0, 6), 0, None).unwrap_err();
        assert!(format!("{too_many:#}").contains("fewer than the 14 requested"), "{too_many:#}");
        writeln!(file, r#"{{"question": "no answer"}}"#).unwrap();
        let missing = load(&choice, sizes(4, 0, 6), 0, None).unwrap_err();
        assert!(format!("{missing:#}").contains("no `answer` field"), "{missing:#}");
    }

    #[test]
    fn reference_layout_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("banking77")).unwrap();
        let mut lines = String::new();
        for i in 0..6 {
            lines.push_str(&format!("{{\"id\": \"x{i}\", \"text\": \"t{i}\", \"label\": \"card_arrival\"}}\n"));
        }
        std::fs::write(dir.path().join("banking77/train.jsonl"), &lines).unwrap();
        std::fs::write(dir.path().join("banking77/test.jsonl"), &lines).unwrap();
        std::fs::write(dir.path().join("banking77/labels.json"), r#"["card_arrival", "age_limit"]"#).unwrap();
        let loaded = load(&DatasetChoice::Banking77, sizes(3, 2, 4), 0, Some(dir.path())).unwrap();
        assert_eq!(loaded.signature, "text -> label: Literal['card_arrival', 'age_limit']");
        assert_eq!((loaded.train.len(), loaded.val.unwrap().len(), loaded.dev.len()), (3, 2, 4));
        assert!(load(&DatasetChoice::Gsm8k, sizes(3, 0, 4), 0, Some(dir.path())).is_err());
    }
}
