//! `--dataset banking77-6`: six banking77 intents, the real-model benchmark
//! of issue 12 — its intents, its signature (instructions and the `text`
//! description) and its seeded, per-intent choice of examples.
//!
//! The choice is reproducible in any language (the DSPy runner
//! `benches/dspy/local_dspy.py` makes the same one): every record of an
//! intent gets the key `sha256("{seed}:{id}")` (hex), the records with the
//! smallest keys are taken (train and val from `train.jsonl`, dev from
//! `test.jsonl`), and each split is ordered by key, so the intents are
//! interleaved.

use std::path::Path;

use anyhow::{Context, Result, bail};
use kestrel_core::{Example, SignatureSpec};
use kestrel_eval::Dataset;
use sha2::{Digest, Sha256};

/// The six intents, in the order of the `Literal`.
pub const INTENTS: [&str; 6] =
    ["card_arrival", "lost_or_stolen_card", "change_pin", "exchange_rate", "terminate_account", "age_limit"];
/// The signature's instructions.
pub const INSTRUCTIONS: &str = "Classify the intent of a bank customer's message.";
/// The description of the `text` input.
pub const TEXT_DESC: &str = "a message from a bank customer";
/// Training examples per intent when `--train` is not given.
pub const TRAIN_PER_INTENT: usize = 5;
/// Dev examples per intent when `--dev` is not given.
pub const DEV_PER_INTENT: usize = 10;

/// The signature in DSPy's string syntax:
/// `text -> label: Literal[<the six intents>]`.
pub fn signature_text() -> String {
    let quoted: Vec<String> = INTENTS.iter().map(|l| format!("'{l}'")).collect();
    format!("text -> label: Literal[{}]", quoted.join(", "))
}

/// [`signature_text`] with the issue's instructions and input description.
pub fn signature() -> Result<SignatureSpec> {
    let mut spec = SignatureSpec::parse(&signature_text())?.with_instructions(INSTRUCTIONS);
    spec.field_mut("text").context("the signature has a `text` field")?.desc = Some(TEXT_DESC.into());
    Ok(spec)
}

/// The choice key of one record.
pub fn key(seed: u64, id: &str) -> String {
    let digest = Sha256::digest(format!("{seed}:{id}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Per-intent count for a split of `total` examples (a multiple of six).
pub fn per_intent(total: usize, flag: &str) -> Result<usize> {
    if total % INTENTS.len() != 0 {
        bail!(
            "--dataset banking77-6 takes the same number of examples per intent: {flag} must be a multiple of 6 (got {total})"
        );
    }
    Ok(total / INTENTS.len())
}

/// The records of the six intents in `path`, grouped by intent, each group
/// sorted by [`key`]: `(key, example)`.
fn by_intent(path: &Path, seed: u64) -> Result<Vec<Vec<(String, Example)>>> {
    let data = Dataset::jsonl(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut groups: Vec<Vec<(String, Example)>> = vec![Vec::new(); INTENTS.len()];
    for (i, record) in data.into_examples().into_iter().enumerate() {
        let text = |field: &str| -> Result<String> {
            record
                .get_str(field)
                .map(str::to_string)
                .with_context(|| format!("{}: record {i} has no string `{field}`", path.display()))
        };
        let label = text("label")?;
        let Some(intent) = INTENTS.iter().position(|l| *l == label) else { continue };
        let example = Example::from_pairs([("text", text("text")?), ("label", label)]).with_inputs(["text"]);
        groups[intent].push((key(seed, &text("id")?), example));
    }
    for group in &mut groups {
        group.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(groups)
}

/// `ranges[s]` = the rank range of split `s`: take those ranks of every
/// intent, then order the split by key.
fn take(groups: &[Vec<(String, Example)>], ranges: &[(usize, usize)], what: &str) -> Result<Vec<Vec<Example>>> {
    let needed = ranges.iter().map(|r| r.1).max().unwrap_or(0);
    for (intent, group) in INTENTS.iter().zip(groups) {
        if group.len() < needed {
            bail!("{what} has {} examples of `{intent}`, fewer than the {needed} requested", group.len());
        }
    }
    Ok(ranges
        .iter()
        .map(|&(from, to)| {
            let mut split: Vec<&(String, Example)> = groups.iter().flat_map(|g| &g[from..to]).collect();
            split.sort_by(|a, b| a.0.cmp(&b.0));
            split.into_iter().map(|(_, e)| e.clone()).collect()
        })
        .collect())
}

/// Train, val (`None` when 0) and dev for `seed`, from `dir/banking77/`.
pub fn load(dir: &Path, train: usize, val: usize, dev: usize, seed: u64) -> Result<super::datasets::Split> {
    let (t, v, d) = (per_intent(train, "--train")?, per_intent(val, "--val")?, per_intent(dev, "--dev")?);
    let pool = by_intent(&dir.join("banking77/train.jsonl"), seed)?;
    let mut parts = take(&pool, &[(0, t), (t, t + v)], "banking77/train.jsonl")?;
    let val_part = parts.pop().unwrap_or_default();
    let train_part = parts.pop().unwrap_or_default();
    let test = by_intent(&dir.join("banking77/test.jsonl"), seed)?;
    let dev_part = take(&test, &[(0, d)], "banking77/test.jsonl")?.pop().unwrap_or_default();
    Ok((train_part, (v > 0).then_some(val_part), dev_part))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, per_label: usize) {
        let mut lines = String::new();
        for (l, label) in INTENTS.iter().chain(["other_intent"].iter()).enumerate() {
            for i in 0..per_label {
                lines.push_str(&format!(
                    "{{\"id\": \"{file}-{l}-{i}\", \"text\": \"{label} message {i}\", \"label\": \"{label}\"}}\n"
                ));
            }
        }
        std::fs::write(dir.join("banking77").join(file), lines).unwrap();
    }

    #[test]
    fn key_is_the_hex_sha256_of_seed_and_id() {
        // sha256("0:banking77-test-00000"), as Python's hashlib computes it.
        assert_eq!(key(0, "banking77-test-00000"), format!("{:x}", Sha256::digest(b"0:banking77-test-00000")));
        assert_eq!(key(0, "a").len(), 64);
        assert_ne!(key(0, "a"), key(1, "a"));
    }

    #[test]
    fn splits_take_the_same_count_per_intent_by_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("banking77")).unwrap();
        write(dir.path(), "train.jsonl", 9);
        write(dir.path(), "test.jsonl", 12);
        let (train, val, dev) = load(dir.path(), 30, 12, 60, 0).unwrap();
        let count = |split: &[Example], label: &str| split.iter().filter(|e| e.get_str("label") == Some(label)).count();
        for label in INTENTS {
            assert_eq!((count(&train, label), count(val.as_ref().unwrap(), label), count(&dev, label)), (5, 2, 10));
        }
        assert_eq!(count(&dev, "other_intent"), 0);
        // Train and val are disjoint; every split is ordered by key.
        let texts: Vec<&str> = train.iter().map(|e| e.get_str("text").unwrap()).collect();
        assert!(val.as_ref().unwrap().iter().all(|e| !texts.contains(&e.get_str("text").unwrap())));
        let (again, _, dev_again) = load(dir.path(), 30, 0, 60, 0).unwrap();
        assert_eq!((again, dev_again), (train.clone(), dev));
        let (other_seed, _, _) = load(dir.path(), 30, 0, 60, 1).unwrap();
        assert_ne!(other_seed, train);
        let error = load(dir.path(), 31, 0, 60, 0).unwrap_err();
        assert!(format!("{error:#}").contains("multiple of 6"), "{error:#}");
        let error = load(dir.path(), 30, 0, 78, 0).unwrap_err();
        assert!(format!("{error:#}").contains("fewer than the 13 requested"), "{error:#}");
    }

    #[test]
    fn signature_has_the_issues_instructions_and_description() {
        let spec = signature().unwrap();
        assert_eq!(spec.instructions(), INSTRUCTIONS);
        assert_eq!(spec.field("text").unwrap().desc.as_deref(), Some(TEXT_DESC));
        assert_eq!(spec.output_names(), ["label"]);
    }
}
