//! Kestrel optimizers (not built yet).
//!
//! This crate will hold the optimizers that compile a program against a
//! metric and a training set: LabeledFewShot, BootstrapFewShot (and its
//! RandomSearch variant), KNNFewShot, COPRO, MIPROv2, SIMBA, GEPA, Ensemble
//! and BetterTogether, following DSPy 3.x's algorithms. They arrive with the
//! compile issue and after; until then it deliberately exports nothing.
//!
//! Invariant: optimizers see programs only through the `Module` trait and its
//! predictor visitor; they never mutate a program another task is running.
