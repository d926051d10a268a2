//! MIPROv2's `auto` run modes (DSPy 3.4.1's `AUTO_RUN_SETTINGS`) and its
//! `num_trials` formula.

use serde::Serialize;

/// DSPy's `MIN_MINIBATCH_SIZE`: with `auto`, trials use minibatches only
/// when the validation set is larger than this.
pub const MIN_MINIBATCH_SIZE: usize = 50;

/// MIPROv2's `auto` setting: how much to spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoMode {
    /// 6 candidates, validation set of at most 100.
    Light,
    /// 12 candidates, validation set of at most 300.
    Medium,
    /// 18 candidates, validation set of at most 1000.
    Heavy,
}

impl AutoMode {
    /// DSPy's `n`: demo-set candidates (instruction candidates are half of
    /// it unless zero-shot).
    pub fn candidates(self) -> usize {
        match self {
            Self::Light => 6,
            Self::Medium => 12,
            Self::Heavy => 18,
        }
    }

    /// DSPy's `val_size`: the validation set is a sample of at most this
    /// many examples.
    pub fn val_size(self) -> usize {
        match self {
            Self::Light => 100,
            Self::Medium => 300,
            Self::Heavy => 1000,
        }
    }

    /// The mode's name as DSPy spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Medium => "medium",
            Self::Heavy => "heavy",
        }
    }
}

impl std::fmt::Display for AutoMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for AutoMode {
    type Err = crate::OptimizerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "light" => Ok(Self::Light),
            "medium" => Ok(Self::Medium),
            "heavy" => Ok(Self::Heavy),
            other => Err(crate::OptimizerError::InvalidArgument {
                name: "auto",
                message: format!("invalid value {other:?}: must be one of light, medium, heavy"),
            }),
        }
    }
}

/// DSPy's `_set_num_trials_from_num_candidates`:
/// `int(max(2 · num_vars · log2(num_candidates), 1.5 · num_candidates))`,
/// where `num_vars` is the number of predictors, doubled unless zero-shot
/// (demo sets are searched too).
pub fn num_trials_for(num_predictors: usize, zero_shot: bool, num_candidates: usize) -> usize {
    let num_vars = if zero_shot { num_predictors } else { 2 * num_predictors };
    let candidates = num_candidates as f64;
    let by_vars = 2.0 * num_vars as f64 * candidates.log2();
    let trials = by_vars.max(1.5 * candidates);
    if trials.is_finite() && trials > 0.0 { trials as usize } else { 0 }
}

/// The settings a mode gives (DSPy's `_set_hyperparams_from_run_mode`):
/// (instruction candidates, demo-set candidates, trials).
pub fn auto_settings(mode: AutoMode, num_predictors: usize, zero_shot: bool) -> (usize, usize, usize) {
    let n = mode.candidates();
    let instructions = if zero_shot { n } else { n / 2 };
    (instructions, n, num_trials_for(num_predictors, zero_shot, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_trials_match_dspy() {
        // Values of DSPy 3.4.1's formula (computed with its Python code).
        assert_eq!(num_trials_for(1, false, 6), 10);
        assert_eq!(num_trials_for(1, true, 6), 9);
        assert_eq!(num_trials_for(1, false, 12), 18);
        assert_eq!(num_trials_for(2, false, 18), 33);
        assert_eq!(num_trials_for(3, true, 7), 16);
        assert_eq!(auto_settings(AutoMode::Light, 1, false), (3, 6, 10));
        assert_eq!(auto_settings(AutoMode::Medium, 1, true), (12, 12, 18));
    }

    #[test]
    fn modes_read_and_print_as_dspy_spells_them() {
        for mode in [AutoMode::Light, AutoMode::Medium, AutoMode::Heavy] {
            assert_eq!(mode.to_string().parse::<AutoMode>().unwrap(), mode);
        }
        assert_eq!((AutoMode::Heavy.candidates(), AutoMode::Heavy.val_size()), (18, 1000));
    }
}
