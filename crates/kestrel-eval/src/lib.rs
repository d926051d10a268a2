//! Kestrel evaluation (not built yet).
//!
//! This crate will hold `Evaluate` (run a program over a dataset with bounded
//! async concurrency, a progress bar, an error budget and a results table),
//! DSPy's metrics (`answer_exact_match`, token F1, `SemanticF1`...) and dataset
//! loading (JSONL / JSON / CSV into `Example`s). It arrives with the
//! evaluation issue; until then it deliberately exports nothing.
//!
//! Invariant: evaluation knows programs only through the `Module` trait and
//! LMs only through `kestrel-lm`; it knows no provider.
