//! [`NumpyGenerator`]: numpy's `np.random.default_rng(seed)` — PCG64 (the
//! XSL-RR 128/64 generator) seeded through `SeedSequence(seed)` — and its
//! `poisson(lam)` for `lam < 10`, step for step, so SIMBA drops the demos
//! DSPy drops (DSPy draws the count with `rng_np.poisson`). Checked against
//! numpy 2.4 in the tests below.

/// SeedSequence's hashing constants.
const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;
const POOL_SIZE: usize = 4;

/// PCG64's default 128-bit multiplier.
const MULTIPLIER: u128 = (0x2360_ed05_1fc6_5da4_u128 << 64) | 0x4385_df64_9fcc_f645;

fn hashmix(value: u32, hash_const: &mut u32) -> u32 {
    let mut value = value ^ *hash_const;
    *hash_const = hash_const.wrapping_mul(MULT_A);
    value = value.wrapping_mul(*hash_const);
    value ^ (value >> XSHIFT)
}

fn mix(x: u32, y: u32) -> u32 {
    let result = MIX_MULT_L.wrapping_mul(x).wrapping_sub(MIX_MULT_R.wrapping_mul(y));
    result ^ (result >> XSHIFT)
}

/// `SeedSequence(seed).pool`.
fn seed_pool(seed: u64) -> [u32; POOL_SIZE] {
    let entropy: Vec<u32> = if seed >> 32 == 0 { vec![seed as u32] } else { vec![seed as u32, (seed >> 32) as u32] };
    let mut hash_const = INIT_A;
    let mut pool = [0u32; POOL_SIZE];
    for (i, slot) in pool.iter_mut().enumerate() {
        *slot = hashmix(entropy.get(i).copied().unwrap_or(0), &mut hash_const);
    }
    for src in 0..POOL_SIZE {
        for dst in 0..POOL_SIZE {
            if src != dst {
                pool[dst] = mix(pool[dst], hashmix(pool[src], &mut hash_const));
            }
        }
    }
    for &extra in entropy.iter().skip(POOL_SIZE) {
        for slot in pool.iter_mut() {
            *slot = mix(*slot, hashmix(extra, &mut hash_const));
        }
    }
    pool
}

/// `SeedSequence(seed).generate_state(4, np.uint64)`.
fn generate_state(seed: u64) -> [u64; 4] {
    let pool = seed_pool(seed);
    let mut hash_const = INIT_B;
    let mut words = [0u32; 8];
    for (i, word) in words.iter_mut().enumerate() {
        let mut value = pool[i % POOL_SIZE] ^ hash_const;
        hash_const = hash_const.wrapping_mul(MULT_B);
        value = value.wrapping_mul(hash_const);
        *word = value ^ (value >> XSHIFT);
    }
    let mut out = [0u64; 4];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u64::from(words[2 * i]) | (u64::from(words[2 * i + 1]) << 32);
    }
    out
}

/// numpy's `default_rng(seed)` (PCG64).
#[derive(Debug, Clone)]
pub(crate) struct NumpyGenerator {
    state: u128,
    inc: u128,
}

impl NumpyGenerator {
    /// `np.random.default_rng(seed)` (numpy rejects negative seeds; their
    /// absolute value is used here).
    pub(crate) fn new(seed: i64) -> Self {
        let words = generate_state(seed.unsigned_abs());
        let initstate = (u128::from(words[0]) << 64) | u128::from(words[1]);
        let initseq = (u128::from(words[2]) << 64) | u128::from(words[3]);
        let mut rng = NumpyGenerator { state: 0, inc: (initseq << 1) | 1 };
        rng.step();
        rng.state = rng.state.wrapping_add(initstate);
        rng.step();
        rng
    }

    fn step(&mut self) {
        self.state = self.state.wrapping_mul(MULTIPLIER).wrapping_add(self.inc);
    }

    /// The next raw 64-bit output (`bit_generator.random_raw()`).
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.step();
        let state = self.state;
        let xored = ((state >> 64) as u64) ^ (state as u64);
        xored.rotate_right((state >> 122) as u32)
    }

    /// `next_double`: 53 random bits in `[0, 1)`.
    pub(crate) fn next_double(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `poisson(lam)`: numpy's multiplication method below 10 (0 without a
    /// draw for `lam == 0`). From 10 on numpy switches to PTRS; this keeps
    /// multiplying (same distribution, other draws) — SIMBA's means stay far
    /// below 10.
    pub(crate) fn poisson(&mut self, lam: f64) -> usize {
        if lam.is_nan() || lam <= 0.0 {
            return 0;
        }
        let limit = (-lam).exp();
        let (mut x, mut product) = (0usize, 1.0f64);
        loop {
            product *= self.next_double();
            if product > limit {
                x += 1;
            } else {
                return x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_sequence_is_numpys() {
        // np.random.SeedSequence(0).pool, .generate_state(4, np.uint64)
        assert_eq!(seed_pool(0), [0xfe40_eb07, 0x4f36_3a36, 0x4eb2_009d, 0xc89a_7aa7]);
        assert_eq!(
            generate_state(0),
            [0xdb2c_d7e7_b0f4_78be, 0xabf4_641a_2c71_ba49, 0x20c6_ed6d_9d7b_8d41, 0x2c40_99de_223c_39d4]
        );
    }

    #[test]
    fn raw_outputs_doubles_and_poisson_are_numpys() {
        // np.random.default_rng(0).bit_generator.random_raw(3)
        let mut rng = NumpyGenerator::new(0);
        let raw: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(raw, vec![0xa30f_ebcf_d9c2_825f, 0x4510_bdf8_82d9_d721, 0x0a7d_3da9_4ecd_e8b8]);
        // np.random.default_rng(0).random(3)
        let mut rng = NumpyGenerator::new(0);
        let doubles: Vec<f64> = (0..3).map(|_| rng.next_double()).collect();
        assert_eq!(doubles, vec![0.6369616873214543, 0.2697867137638703, 0.04097352393619469]);
        // g = np.random.default_rng(0); [g.poisson(0.25) for _ in range(20)], g.poisson(1.5), g.poisson(0.75)
        let mut rng = NumpyGenerator::new(0);
        let draws: Vec<usize> = (0..20).map(|_| rng.poisson(0.25)).collect();
        assert_eq!(draws, vec![0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!((rng.poisson(1.5), rng.poisson(0.75)), (4, 1));
        // g = np.random.default_rng(7); [g.poisson(0.5) for _ in range(20)]
        let mut rng = NumpyGenerator::new(7);
        let draws: Vec<usize> = (0..20).map(|_| rng.poisson(0.5)).collect();
        assert_eq!(draws, vec![1, 1, 0, 1, 2, 0, 0, 0, 0, 0, 0, 2, 1, 0, 1, 0, 0, 0, 1, 0]);
    }

    #[test]
    fn poisson_of_zero_draws_nothing() {
        let mut rng = NumpyGenerator::new(0);
        assert_eq!(rng.poisson(0.0), 0);
        assert_eq!(rng.next_u64(), 0xa30f_ebcf_d9c2_825f);
    }
}
