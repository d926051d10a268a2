//! `--lm A,B`, the model migration: the same programs compiled for each
//! model, and per (program, optimizer) the dev examples that regress (right
//! on the first model, wrong on the next) or improve.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::report::Row;

/// The delta of one (program, optimizer) between two models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The model compiled first.
    pub from: String,
    /// The model it migrates to.
    pub to: String,
    /// `predict` or `cot`.
    pub program: String,
    /// The optimizer.
    pub optimizer: String,
    /// Dev score (percent) on `from`.
    pub score_from: f64,
    /// Dev score (percent) on `to`.
    pub score_to: f64,
    /// Dev example indices right on `from`, wrong on `to`.
    pub regressed: Vec<usize>,
    /// Dev example indices wrong on `from`, right on `to`.
    pub improved: Vec<usize>,
}

/// The deltas between each model and the next, over the rows they share.
pub fn deltas(models: &[String], rows: &[Row]) -> Vec<Delta> {
    let mut out = Vec::new();
    for pair in models.windows(2) {
        let (from, to) = (&pair[0], &pair[1]);
        for a in rows.iter().filter(|r| &r.lm == from) {
            let Some(b) = rows.iter().find(|r| &r.lm == to && r.program == a.program && r.optimizer == a.optimizer)
            else {
                continue;
            };
            let right = |score: f64| score > 0.0;
            let pairs = a.outcomes.iter().zip(&b.outcomes).enumerate();
            let regressed = pairs.clone().filter(|(_, (x, y))| right(**x) && !right(**y)).map(|(i, _)| i).collect();
            let improved = pairs.filter(|(_, (x, y))| !right(**x) && right(**y)).map(|(i, _)| i).collect();
            out.push(Delta {
                from: from.clone(),
                to: to.clone(),
                program: a.program.clone(),
                optimizer: a.optimizer.clone(),
                score_from: a.score_after,
                score_to: b.score_after,
                regressed,
                improved,
            });
        }
    }
    out
}

/// The deltas as text lines (`regressed` / `improved` list dev indices).
pub fn text(deltas: &[Delta]) -> String {
    let mut out = String::new();
    for d in deltas {
        let _ = writeln!(
            out,
            "{} -> {}  {} {}: {:.1} -> {:.1} ({:+.1}); {} regressed {:?}, {} improved {:?}",
            d.from,
            d.to,
            d.program,
            d.optimizer,
            d.score_from,
            d.score_to,
            d.score_to - d.score_from,
            d.regressed.len(),
            d.regressed,
            d.improved.len(),
            d.improved
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench_compile::report::Phase;

    fn row(lm: &str, optimizer: &'static str, outcomes: &[f64]) -> Row {
        Row {
            lm: lm.into(),
            dataset: "banking77-6".into(),
            program: "predict".into(),
            optimizer: optimizer.into(),
            score_before: 0.0,
            score_after: 100.0 * outcomes.iter().sum::<f64>() / outcomes.len() as f64,
            lm_calls: 0,
            cache_hits: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
            compile_seconds: 0.0,
            eval_seconds: 0.0,
            http_requests: None,
            teacher_runs: 0,
            speculative_runs: 0,
            bootstrapped: 0,
            skipped: 0,
            eval_errors: 0,
            parse_failures: 0,
            json_fallbacks: 0,
            demos: vec![0],
            demos_sha256: String::new(),
            best_seed: None,
            candidates: Vec::new(),
            trials: None,
            metric_calls: None,
            stopped: None,
            compile: Phase::default(),
            eval: Phase::default(),
            outcomes: outcomes.to_vec(),
            dev_outcomes: None,
        }
    }

    #[test]
    fn regressions_and_improvements_are_per_example_and_per_row() {
        let models = ["a".to_string(), "b".to_string()];
        let rows = [
            row("a", "none", &[1.0, 0.0, 1.0, 0.0]),
            row("a", "bootstrap", &[1.0, 1.0, 1.0, 1.0]),
            row("b", "none", &[0.0, 1.0, 1.0, 1.0]),
            row("b", "bootstrap", &[1.0, 1.0, 0.0, 1.0]),
        ];
        let found = deltas(&models, &rows);
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].optimizer.as_str(), &found[0].regressed, &found[0].improved),
            ("none", &vec![0], &vec![1, 3])
        );
        assert_eq!(
            (found[1].optimizer.as_str(), &found[1].regressed, &found[1].improved),
            ("bootstrap", &vec![2], &vec![])
        );
        assert_eq!((found[0].score_from, found[0].score_to), (50.0, 75.0));
        let shown = text(&found);
        assert!(
            shown.contains("a -> b  predict none: 50.0 -> 75.0 (+25.0); 1 regressed [0], 2 improved [1, 3]"),
            "{shown}"
        );
        assert!(deltas(&models[..1], &rows).is_empty());
    }
}
