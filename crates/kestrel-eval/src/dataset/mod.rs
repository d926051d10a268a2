//! [`Dataset`]: a list of [`Example`]s loaded from JSONL, JSON or CSV, with
//! input keys, a seeded shuffle and train/dev/test splits.

mod load;

use std::ops::Index;
use std::path::Path;
use std::sync::Arc;

use kestrel_core::{Example, PyRandom};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::EvalError;

pub use load::CsvOptions;

/// A list of examples.
///
/// ```no_run
/// use kestrel_eval::Dataset;
///
/// let data = Dataset::jsonl("train.jsonl")?.with_inputs(["question"]).shuffle(0);
/// let splits = data.split_counts(200, 300)?;
/// println!("{} train, {} dev, {} test", splits.train.len(), splits.dev.len(), splits.test.len());
/// # Ok::<(), kestrel_eval::EvalError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    examples: Vec<Example>,
}

/// The parts of [`Dataset::split_counts`] / [`Dataset::split_fractions`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Splits {
    /// The first part.
    pub train: Dataset,
    /// The second part.
    pub dev: Dataset,
    /// Whatever is left (possibly empty).
    pub test: Dataset,
}

impl Dataset {
    /// A dataset of these examples.
    pub fn from_examples(examples: Vec<Example>) -> Self {
        Self { examples }
    }

    /// Load JSON Lines: one JSON object per line (blank lines skipped).
    /// Nested values (lists, objects) are kept as they are.
    pub fn jsonl(path: impl AsRef<Path>) -> Result<Self, EvalError> {
        load::read_jsonl(path.as_ref()).map(Self::from_examples)
    }

    /// Load a JSON file holding an array of objects.
    pub fn json(path: impl AsRef<Path>) -> Result<Self, EvalError> {
        load::read_json(path.as_ref()).map(Self::from_examples)
    }

    /// Load CSV with a header row; every value is a string, exactly as
    /// written (see [`Dataset::csv_with`] to read numbers).
    pub fn csv(path: impl AsRef<Path>) -> Result<Self, EvalError> {
        Self::csv_with(path, CsvOptions::default())
    }

    /// Load CSV with options (delimiter, number inference).
    pub fn csv_with(path: impl AsRef<Path>, options: CsvOptions) -> Result<Self, EvalError> {
        load::read_csv(path.as_ref(), options).map(Self::from_examples)
    }

    /// Load by extension: `.jsonl` / `.ndjson`, `.json`, `.csv`, `.tsv`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, EvalError> {
        let path = path.as_ref();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("jsonl" | "ndjson") => Self::jsonl(path),
            Some("json") => Self::json(path),
            Some("csv") => Self::csv(path),
            Some("tsv") => Self::csv_with(path, CsvOptions::default().delimiter(b'\t')),
            _ => Err(EvalError::invalid(
                "path",
                format!("cannot tell the format of {} (expected .jsonl, .json, .csv or .tsv)", path.display()),
            )),
        }
    }

    /// Mark these keys as inputs on every example (DSPy's `with_inputs`).
    pub fn with_inputs<I, S>(self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let keys: Vec<String> = keys.into_iter().map(Into::into).collect();
        Self { examples: self.examples.into_iter().map(|e| e.with_inputs(keys.iter().cloned())).collect() }
    }

    /// Shuffle with a seed: the same seed gives the same order on every
    /// platform (ChaCha8 seeded with `seed`, then a Fisher–Yates shuffle).
    /// The order is stable across Kestrel releases that keep the same `rand`
    /// major version; it is not Python's `random.Random(seed)` order.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.examples.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        self
    }

    /// Shuffle exactly as Python's `random.Random(seed).shuffle` does — the
    /// order DSPy's datasets and optimizers produce for the same seed and
    /// the same list — so splits made in DSPy can be reproduced here.
    pub fn shuffle_python(mut self, seed: i64) -> Self {
        PyRandom::new(seed).shuffle(&mut self.examples);
        self
    }

    /// Keep the first `n` examples (all if there are fewer).
    pub fn take(mut self, n: usize) -> Self {
        self.examples.truncate(n);
        self
    }

    /// Drop the first `n` examples.
    pub fn skip(mut self, n: usize) -> Self {
        self.examples.drain(..n.min(self.examples.len()));
        self
    }

    /// Split in order: the first `train` examples, the next `dev`, and the
    /// rest as `test`. Fails if `train + dev` exceeds the length.
    pub fn split_counts(self, train: usize, dev: usize) -> Result<Splits, EvalError> {
        let len = self.examples.len();
        match train.checked_add(dev) {
            Some(sum) if sum <= len => Ok(self.split_at(train, dev)),
            _ => Err(EvalError::invalid(
                "split",
                format!("{train} train + {dev} dev examples requested but the dataset has {len}"),
            )),
        }
    }

    /// Split in order by fractions of the length (each in `[0, 1]`, summing
    /// to at most 1); counts are rounded to the nearest integer and the rest
    /// is `test`.
    pub fn split_fractions(self, train: f64, dev: f64) -> Result<Splits, EvalError> {
        for (name, f) in [("train", train), ("dev", dev)] {
            if !(0.0..=1.0).contains(&f) {
                return Err(EvalError::invalid("split", format!("the {name} fraction {f} is not in [0, 1]")));
            }
        }
        if train + dev > 1.0 + 1e-9 {
            return Err(EvalError::invalid("split", format!("fractions {train} + {dev} add up to more than 1")));
        }
        let len = self.examples.len();
        let n_train = ((train * len as f64).round() as usize).min(len);
        let n_dev = ((dev * len as f64).round() as usize).min(len - n_train);
        Ok(self.split_at(n_train, n_dev))
    }

    fn split_at(mut self, train: usize, dev: usize) -> Splits {
        let mut rest = self.examples.split_off(train);
        let test = rest.split_off(dev);
        Splits {
            train: Self::from_examples(self.examples),
            dev: Self::from_examples(rest),
            test: Self::from_examples(test),
        }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// The example at `index`.
    pub fn get(&self, index: usize) -> Option<&Example> {
        self.examples.get(index)
    }

    /// Iterate over the examples.
    pub fn iter(&self) -> std::slice::Iter<'_, Example> {
        self.examples.iter()
    }

    /// The examples.
    pub fn examples(&self) -> &[Example] {
        &self.examples
    }

    /// Consume into the examples.
    pub fn into_examples(self) -> Vec<Example> {
        self.examples
    }
}

impl Index<usize> for Dataset {
    type Output = Example;
    fn index(&self, index: usize) -> &Example {
        &self.examples[index]
    }
}

impl IntoIterator for Dataset {
    type Item = Example;
    type IntoIter = std::vec::IntoIter<Example>;
    fn into_iter(self) -> Self::IntoIter {
        self.examples.into_iter()
    }
}

impl<'a> IntoIterator for &'a Dataset {
    type Item = &'a Example;
    type IntoIter = std::slice::Iter<'a, Example>;
    fn into_iter(self) -> Self::IntoIter {
        self.examples.iter()
    }
}

impl FromIterator<Example> for Dataset {
    fn from_iter<I: IntoIterator<Item = Example>>(iter: I) -> Self {
        Self::from_examples(iter.into_iter().collect())
    }
}

impl From<Vec<Example>> for Dataset {
    fn from(examples: Vec<Example>) -> Self {
        Self::from_examples(examples)
    }
}

impl From<Dataset> for Vec<Example> {
    fn from(dataset: Dataset) -> Self {
        dataset.examples
    }
}

impl From<Dataset> for Arc<[Example]> {
    fn from(dataset: Dataset) -> Self {
        dataset.examples.into()
    }
}
