//! [`PyRandom`]: Python's `random.Random` (MT19937 seeded by
//! `init_by_array`, `_randbelow` by rejection on `getrandbits`), so seeded
//! choices DSPy makes with `random.Random(seed)` — LabeledFewShot's sample,
//! BootstrapFewShot's shuffles, RandomSearch's demo counts — come out
//! identical here for the same seed and the same list.
//!
//! Only the methods DSPy's optimizers use are provided: `random`,
//! `getrandbits` (k ≤ 32), `randbelow`, `randint`, `choice`, `shuffle` and
//! `sample`, each reproducing CPython 3.11's algorithm step for step.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// Python's `random.Random`, seeded with an integer.
#[derive(Clone)]
pub struct PyRandom {
    state: Box<[u32; N]>,
    index: usize,
}

impl std::fmt::Debug for PyRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyRandom").field("index", &self.index).finish_non_exhaustive()
    }
}

impl PyRandom {
    /// `random.Random(seed)`: the key is `|seed|` split into 32-bit words,
    /// least significant first (`[0]` for zero), fed to `init_by_array`.
    pub fn new(seed: i64) -> Self {
        let mut n = seed.unsigned_abs();
        let mut key = Vec::with_capacity(2);
        loop {
            key.push((n & 0xffff_ffff) as u32);
            n >>= 32;
            if n == 0 {
                break;
            }
        }
        let mut rng = PyRandom { state: Box::new([0; N]), index: N };
        rng.init_by_array(&key);
        rng
    }

    fn init_genrand(&mut self, seed: u32) {
        self.state[0] = seed;
        for i in 1..N {
            let prev = self.state[i - 1];
            self.state[i] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(i as u32);
        }
        self.index = N;
    }

    fn init_by_array(&mut self, key: &[u32]) {
        self.init_genrand(19_650_218);
        let (mut i, mut j) = (1usize, 0usize);
        let len = key.len();
        for _ in 0..N.max(len) {
            let prev = self.state[i - 1];
            self.state[i] = (self.state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                self.state[0] = self.state[N - 1];
                i = 1;
            }
            if j >= len {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = self.state[i - 1];
            self.state[i] = (self.state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                self.state[0] = self.state[N - 1];
                i = 1;
            }
        }
        self.state[0] = 0x8000_0000;
    }

    fn generate(&mut self) {
        let mag = |y: u32| if y & 1 == 1 { MATRIX_A } else { 0 };
        for k in 0..N {
            let y = (self.state[k] & UPPER_MASK) | (self.state[(k + 1) % N] & LOWER_MASK);
            self.state[k] = self.state[(k + M) % N] ^ (y >> 1) ^ mag(y);
        }
        self.index = 0;
    }

    /// One raw 32-bit output (`genrand_uint32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.generate();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random()`: a float in `[0, 1)` with 53 random bits.
    pub fn random(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `getrandbits(k)` for `k` ≤ 32.
    pub fn getrandbits(&mut self, k: u32) -> u32 {
        match k {
            0 => 0,
            k if k >= 32 => self.next_u32(),
            k => self.next_u32() >> (32 - k),
        }
    }

    /// `_randbelow(n)`: uniform in `0..n` by rejection (0 when `n` is 0).
    pub fn randbelow(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let bits = usize::BITS - n.leading_zeros();
        if bits > 32 {
            // Lists this long never occur here; fall back to two draws.
            let hi = u64::from(self.next_u32());
            let lo = u64::from(self.next_u32());
            return (((hi << 32) | lo) % n as u64) as usize;
        }
        loop {
            let r = self.getrandbits(bits) as usize;
            if r < n {
                return r;
            }
        }
    }

    /// `randint(a, b)`: uniform in `a..=b` (`a` when `b < a`).
    pub fn randint(&mut self, a: usize, b: usize) -> usize {
        a + self.randbelow((b + 1).saturating_sub(a))
    }

    /// `choice(seq)`: `None` for an empty slice.
    pub fn choice<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        let i = self.randbelow(items.len());
        items.get(i)
    }

    /// `shuffle(x)` in place (Fisher–Yates from the end).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.randbelow(i + 1);
            items.swap(i, j);
        }
    }

    /// `sample(population, k)`: `k` distinct items in selection order; `k`
    /// larger than the population is clamped (Python raises).
    pub fn sample<T: Clone>(&mut self, population: &[T], k: usize) -> Vec<T> {
        self.sample_indices(population.len(), k).into_iter().filter_map(|i| population.get(i).cloned()).collect()
    }

    /// The indices `sample(range(n), k)` would pick.
    pub fn sample_indices(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut setsize = 21usize;
        if k > 5 {
            let exponent = ((k * 3) as f64).ln() / 4f64.ln();
            setsize += 4usize.pow(exponent.ceil() as u32);
        }
        let mut result = Vec::with_capacity(k);
        if n <= setsize {
            let mut pool: Vec<usize> = (0..n).collect();
            for i in 0..k {
                let j = self.randbelow(n - i);
                result.push(pool[j]);
                pool[j] = pool[n - i - 1];
            }
        } else {
            let mut selected = std::collections::HashSet::with_capacity(k);
            for _ in 0..k {
                let mut j = self.randbelow(n);
                while selected.contains(&j) {
                    j = self.randbelow(n);
                }
                selected.insert(j);
                result.push(j);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by CPython 3.11's `random` module.
    #[test]
    fn matches_cpython() {
        let mut r = PyRandom::new(0);
        assert_eq!([r.next_u32(), r.next_u32(), r.next_u32()], [3_626_764_237, 1_654_615_998, 3_255_389_356]);
        assert_eq!(PyRandom::new(0).random(), 0.844_421_851_525_048_1);
        assert_eq!(PyRandom::new(12_345_678_901).next_u32(), 4_063_089_813);
        let range = |n: usize| (0..n).collect::<Vec<_>>();
        assert_eq!(PyRandom::new(0).sample(&range(10), 4), [6, 9, 0, 2]);
        assert_eq!(
            PyRandom::new(0).sample(&range(100), 16),
            [49, 97, 53, 5, 33, 65, 62, 51, 38, 61, 45, 74, 27, 64, 17, 36]
        );
        assert_eq!(
            PyRandom::new(0).sample(&range(1000), 16),
            [864, 394, 776, 911, 430, 41, 265, 988, 523, 497, 414, 940, 802, 849, 310, 991]
        );
        assert_eq!(PyRandom::new(0).sample(&range(30), 7), [27, 12, 24, 13, 1, 8, 16]);
        let mut x = range(20);
        PyRandom::new(3).shuffle(&mut x);
        assert_eq!(x, [8, 3, 6, 5, 15, 16, 2, 12, 0, 1, 13, 10, 19, 9, 14, 11, 4, 17, 18, 7]);
        let ints: Vec<usize> = (0..8).map(|s| PyRandom::new(s).randint(1, 4)).collect();
        assert_eq!(ints, [4, 2, 1, 2, 2, 3, 1, 3]);
        let mut r = PyRandom::new(0);
        assert_eq!(r.choice(&range(7)), Some(&6));
        assert_eq!(r.random(), 0.385_245_306_476_610_8);
    }
}
