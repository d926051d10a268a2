//! Resumable evaluation: with a journal, a rerun takes finished rows back
//! (no program call) with the same predictions and scores bit for bit;
//! failed rows run again; another program state is another set of rows.

use kestrel_eval::Evaluate;
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_lm::{Journal, RunIdentity, with_journal, with_lm};
use kestrel_modules::{Predict, Predictor, Predictors};

use crate::support::{FakeLm, qa};

fn devset() -> Vec<kestrel_core::Example> {
    (0..12)
        .map(|i| match i {
            3 | 7 => qa(format!("q{i} FAIL"), "x", "x"),
            _ => qa(format!("q{i}"), if i % 2 == 0 { "yes" } else { "no" }, "yes"),
        })
        .collect()
}

#[tokio::test]
async fn a_rerun_takes_finished_rows_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let identity = RunIdentity::new("evaluate").part("test", "rerun");
    let program = Predict::from_signature("question -> answer").unwrap();
    let eval = Evaluate::new(devset()).unlimited_errors().concurrency(4).unwrap();
    let metric = AnswerExactMatch::new();

    let lm = FakeLm::new();
    let journal = Journal::open(dir.path(), &identity, false, None).unwrap();
    let first = with_lm(lm.clone(), eval.clone().journal(journal).run(&program, &metric)).await.unwrap();
    assert_eq!((first.results.len(), first.errors), (12, 2));
    let first_calls = lm.counters.calls();
    assert!(first_calls >= 12);

    // The rerun: only the two failed rows call the LM again.
    let lm = FakeLm::new();
    let journal = Journal::open(dir.path(), &identity, false, None).unwrap();
    assert_eq!(journal.replayed(), 10);
    let second = with_lm(lm.clone(), eval.clone().journal(journal).run(&program, &metric)).await.unwrap();
    assert_eq!(lm.counters.calls(), first_calls - 10);
    assert_eq!(second.score.to_bits(), first.score.to_bits());
    for (a, b) in first.results.iter().zip(&second.results) {
        assert_eq!(a.index, b.index);
        assert_eq!(a.score.score.to_bits(), b.score.score.to_bits());
        // The same prediction; a replayed one cost nothing (zero usage, as a cache hit).
        let (a, b) = (a.prediction.as_ref(), b.prediction.as_ref());
        assert_eq!(a.map(|p| p.completions()), b.map(|p| p.completions()));
        assert_eq!(a.map(|p| p.fields()), b.map(|p| p.fields()));
        assert!(b.is_none_or(|p| p.usage().prompt_tokens == 0));
    }

    // Another program state (new instructions) shares no row; the journal in
    // scope (as inside a resumable compile) is used too.
    let mut changed = program.clone();
    changed.visit_predictors_mut("", &mut |_, p: &mut dyn Predictor| {
        let spec = p.signature().clone().with_instructions("Answer tersely.");
        p.set_signature(spec).unwrap();
    });
    let lm = FakeLm::new();
    let journal = Journal::open(dir.path(), &identity, false, None).unwrap();
    let third = with_lm(lm.clone(), with_journal(journal.clone(), eval.run(&changed, &metric))).await.unwrap();
    assert_eq!(third.results.len(), 12);
    assert_eq!(lm.counters.calls(), first_calls);
    assert_eq!(journal.len(), 20);
}
