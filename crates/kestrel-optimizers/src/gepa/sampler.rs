//! GEPA's training minibatches (the `gepa` package's
//! `EpochShuffledBatchSampler`): the training ids are shuffled once per
//! epoch with the run's `PyRandom`, padded to a multiple of the minibatch
//! size with the least used ids, and iteration `i` takes chunk `i`.

use kestrel_core::PyRandom;

/// The epoch-shuffled minibatch sampler.
#[derive(Debug, Clone)]
pub(crate) struct EpochSampler {
    size: usize,
    shuffled: Vec<usize>,
    epoch: Option<usize>,
    last_len: usize,
}

impl EpochSampler {
    /// A sampler of minibatches of `size` (at least 1).
    pub fn new(size: usize) -> Self {
        Self { size: size.max(1), shuffled: Vec::new(), epoch: None, last_len: 0 }
    }

    /// Reshuffle `0..n` and pad: each pad is the id used least so far, the
    /// latest in shuffled order among equals (Python's
    /// `Counter.most_common()[::-1][0]`).
    fn reshuffle(&mut self, n: usize, rng: &mut PyRandom) {
        self.last_len = n;
        self.shuffled = (0..n).collect();
        rng.shuffle(&mut self.shuffled);
        let order = self.shuffled.clone();
        let mut counts = vec![1usize; n];
        let pad = match n % self.size {
            0 => 0,
            r => self.size - r,
        };
        for _ in 0..pad {
            // Lowest count; among equals, the one latest in `order`.
            let Some(&pick) = order.iter().rev().min_by_key(|&&id| counts[id]) else { break };
            self.shuffled.push(pick);
            counts[pick] += 1;
        }
    }

    /// The minibatch of iteration `i` over `n` training examples; empty
    /// when `n` is 0.
    pub fn next(&mut self, n: usize, i: usize, rng: &mut PyRandom) -> Vec<usize> {
        if n == 0 {
            return Vec::new();
        }
        let base = i * self.size;
        let epoch = match self.epoch {
            None => 0,
            Some(_) => base / self.shuffled.len().max(1),
        };
        if self.shuffled.is_empty() || n != self.last_len || self.epoch.is_none_or(|e| epoch > e) {
            self.epoch = Some(epoch);
            self.reshuffle(n, rng);
        }
        let start = base % self.shuffled.len();
        self.shuffled[start..(start + self.size).min(self.shuffled.len())].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minibatches_follow_pythons_shuffle_and_padding() {
        // gepa's EpochShuffledBatchSampler(3, random.Random(0)) over 7 ids,
        // iterations 0..5 (Python prints these).
        let mut rng = PyRandom::new(0);
        let mut sampler = EpochSampler::new(3);
        let got: Vec<Vec<usize>> = (0..5).map(|i| sampler.next(7, i, &mut rng)).collect();
        assert_eq!(got, expected());
    }

    fn expected() -> Vec<Vec<usize>> {
        vec![vec![4, 2, 1], vec![0, 5, 3], vec![6, 6, 3], vec![1, 0, 4], vec![5, 6, 2]]
    }
}
