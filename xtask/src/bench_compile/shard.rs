//! `bench-compile --shard i/n`: which slice of the dev set one shard
//! evaluates. Shard `i` (1-based) of `n` takes the contiguous dev indices
//! `[(i-1)·len/n, i·len/n)`, so the `n` shards cover the dev set exactly
//! once, in order, whatever its length; the slice depends on nothing but
//! `i`, `n` and the dev set's length (itself fixed by the seed and sizes).
//! Every shard compiles the same programs on the same trainset; only the
//! evaluations are split. `cargo xtask merge-reports` joins the shards'
//! JSON reports (see `merge.rs`).

use std::fmt;
use std::ops::Range;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// One shard of `count`: `index` is 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: usize,
    /// Shards in all (at least 1).
    pub count: usize,
}

impl Shard {
    /// Parse `i/n` (clap's value parser for `--shard`).
    pub fn parse(text: &str) -> Result<Shard> {
        let (index, count) =
            text.split_once('/').with_context(|| format!("--shard takes i/n, such as 1/4 (got `{text}`)"))?;
        let index: usize =
            index.trim().parse().with_context(|| format!("--shard {text}: `{index}` is not a number"))?;
        let count: usize =
            count.trim().parse().with_context(|| format!("--shard {text}: `{count}` is not a number"))?;
        if count == 0 || index == 0 || index > count {
            bail!("--shard {text}: i/n needs 1 <= i <= n (shards are numbered from 1)");
        }
        Ok(Shard { index, count })
    }

    /// This shard's dev indices out of `len`.
    pub fn range(self, len: usize) -> Range<usize> {
        let bound = |i: usize| i * len / self.count;
        bound(self.index - 1)..bound(self.index)
    }

    /// What a report records of it.
    pub fn info(self, dev_len: usize) -> ShardInfo {
        let range = self.range(dev_len);
        ShardInfo { index: self.index, count: self.count, dev_start: range.start, dev_end: range.end }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The `shard` object of a shard's JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// 1-based shard number.
    pub index: usize,
    /// Shards in all.
    pub count: usize,
    /// First dev index evaluated.
    pub dev_start: usize,
    /// One past the last dev index evaluated.
    pub dev_end: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_dev_set_once_in_order() {
        for len in [0, 1, 5, 7, 100, 101] {
            for count in 1..=8 {
                let mut next = 0;
                for index in 1..=count {
                    let range = Shard { index, count }.range(len);
                    assert_eq!(range.start, next, "len {len}, {index}/{count}");
                    assert!(range.end - range.start <= len.div_ceil(count));
                    next = range.end;
                }
                assert_eq!(next, len);
            }
        }
        assert_eq!(Shard { index: 2, count: 3 }.range(100), 33..66);
    }

    #[test]
    fn shard_flags_parse_and_bad_ones_say_why() {
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
        assert_eq!(Shard::parse("1/1").unwrap().to_string(), "1/1");
        for (bad, needle) in [
            ("0/3", "numbered from 1"),
            ("4/3", "1 <= i <= n"),
            ("1/0", "1 <= i"),
            ("x/2", "not a number"),
            ("3", "i/n"),
        ] {
            let error = Shard::parse(bad).unwrap_err().to_string();
            assert!(error.contains(needle), "{bad}: {error}");
        }
    }
}
