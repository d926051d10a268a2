//! Choosing the next token: greedy (temperature 0 or none: the first
//! highest logit, the same bytes every run) or sampling at a temperature
//! from a seeded generator (SplitMix64), so a seed fixes the output.

/// How one sequence picks its tokens.
#[derive(Debug, Clone)]
pub(crate) enum Sampler {
    /// The highest logit (lowest id on ties).
    Greedy,
    /// Softmax of `logits / temperature`, drawn from a seeded generator.
    Temperature {
        /// Above zero.
        temperature: f32,
        /// SplitMix64 state.
        state: u64,
    },
}

impl Sampler {
    /// Greedy for a temperature of zero or none, else seeded sampling.
    pub(crate) fn new(temperature: Option<f32>, seed: u64) -> Self {
        match temperature {
            Some(t) if t > 0.0 && t.is_finite() => Sampler::Temperature { temperature: t, state: seed },
            _ => Sampler::Greedy,
        }
    }

    /// Picks a token; `None` when every logit is masked out.
    pub(crate) fn sample(&mut self, logits: &[f32]) -> Option<u32> {
        match self {
            Sampler::Greedy => argmax(logits),
            Sampler::Temperature { temperature, state } => {
                let max = logits.iter().copied().filter(|l| l.is_finite()).fold(f32::NEG_INFINITY, f32::max);
                if max == f32::NEG_INFINITY {
                    return None;
                }
                let weights: Vec<f64> = logits
                    .iter()
                    .map(|&l| if l.is_finite() { f64::from((l - max) / *temperature).exp() } else { 0.0 })
                    .collect();
                let total: f64 = weights.iter().sum();
                let mut target = unit(next(state)) * total;
                for (id, &w) in weights.iter().enumerate() {
                    if w > 0.0 {
                        if target < w {
                            return u32::try_from(id).ok();
                        }
                        target -= w;
                    }
                }
                weights.iter().rposition(|&w| w > 0.0).and_then(|id| u32::try_from(id).ok())
            }
        }
    }
}

fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (id, &l) in logits.iter().enumerate() {
        if l > f32::NEG_INFINITY && best.is_none_or(|(_, b)| l > b) {
            best = Some((id, l));
        }
    }
    best.and_then(|(id, _)| u32::try_from(id).ok())
}

/// SplitMix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw in `[0, 1)`.
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A stable 64-bit hash (FNV-1a) of a request's determining parts, the seed
/// of its sampling: same prompt, rollout id and choice → same draws.
pub(crate) fn seed_of(prompt: &[u32], rollout_id: Option<u64>, temperature: Option<f32>, choice: usize) -> u64 {
    let mut hash = 0xCBF2_9CE4_8422_2325u64;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
        }
    };
    for id in prompt {
        feed(&id.to_le_bytes());
    }
    feed(&rollout_id.map_or([0xFF; 8], u64::to_le_bytes));
    feed(&temperature.unwrap_or(0.0).to_bits().to_le_bytes());
    feed(&(choice as u64).to_le_bytes());
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum_and_skips_masked_logits() {
        let mut greedy = Sampler::new(Some(0.0), 1);
        assert_eq!(greedy.sample(&[0.1, 2.0, 2.0, f32::NEG_INFINITY]), Some(1));
        assert_eq!(greedy.sample(&[f32::NEG_INFINITY; 3]), None);
    }

    #[test]
    fn seeded_sampling_is_reproducible_and_respects_masks() {
        let logits = [1.0, 1.0, 1.0, f32::NEG_INFINITY];
        let draw = |seed| {
            let mut s = Sampler::new(Some(1.0), seed);
            (0..32).map(|_| s.sample(&logits).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert!(draw(7).iter().all(|&t| t < 3));
        assert_ne!(seed_of(&[1, 2], Some(1), Some(0.7), 0), seed_of(&[1, 2], Some(2), Some(0.7), 0));
        assert_ne!(seed_of(&[1, 2], None, Some(0.7), 0), seed_of(&[1, 2], None, Some(0.7), 1));
    }
}
