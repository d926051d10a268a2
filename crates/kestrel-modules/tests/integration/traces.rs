//! Task-local trace scopes: record every predictor call inside, never mix
//! between concurrent scopes, record nothing outside.

use kestrel_core::Example;
use kestrel_lm::with_lm;
use kestrel_modules::trace::is_tracing;
use kestrel_modules::{Predict, Predictor, with_trace};
use kestrel_testkit::ScriptedLm;

fn lm() -> ScriptedLm {
    ScriptedLm::keyed([("[[ ## q ## ]]", "[[ ## a ## ]]\nok")])
}

#[tokio::test]
async fn a_scope_records_each_call_with_inputs_and_outputs() {
    let first = Predict::from_signature("q -> a").unwrap();
    let second = Predict::from_signature("q -> a").unwrap();
    let ((), trace) = with_lm(lm(), async {
        with_trace(async {
            first.forward_example(&Example::from_pairs([("q", "one")]), None).await.unwrap();
            second.forward_example(&Example::from_pairs([("q", "two")]), None).await.unwrap();
        })
        .await
    })
    .await;
    assert_eq!(trace.len(), 2);
    assert_eq!(trace[0].predictor, first.id());
    assert_eq!(trace[1].predictor, second.id());
    assert_eq!(trace[0].inputs.get_str("q"), Some("one"));
    assert_eq!(trace[1].outputs.get_str("a"), Some("ok"));
    assert_eq!(trace[0].name, "q -> a");
}

#[tokio::test]
async fn calls_outside_a_scope_record_nothing() {
    assert!(!is_tracing());
    let p = Predict::from_signature("q -> a").unwrap();
    with_lm(lm(), p.forward_example(&Example::from_pairs([("q", "x")]), None)).await.unwrap();
    let ((), trace) = with_trace(async {}).await;
    assert!(trace.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scopes_never_mix() {
    let p = Predict::from_signature("q -> a").unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let p = p.clone();
        tasks.push(tokio::spawn(with_lm(lm(), async move {
            let ((), trace) = with_trace(async {
                for j in 0..=i {
                    tokio::task::yield_now().await;
                    p.forward_example(&Example::from_pairs([("q", format!("{i}-{j}"))]), None).await.unwrap();
                }
            })
            .await;
            (i, trace)
        })));
    }
    for task in tasks {
        let (i, trace) = task.await.unwrap();
        assert_eq!(trace.len(), i + 1);
        assert!(trace.iter().all(|e| e.inputs.get_str("q").unwrap().starts_with(&format!("{i}-"))));
    }
}

#[tokio::test]
async fn nested_scopes_record_in_the_innermost_only() {
    let p = Predict::from_signature("q -> a").unwrap();
    let ((inner, ()), outer) = with_lm(lm(), async {
        with_trace(async {
            let ((), inner) = with_trace(async {
                p.forward_example(&Example::from_pairs([("q", "in")]), None).await.unwrap();
            })
            .await;
            (inner, ())
        })
        .await
    })
    .await;
    assert_eq!(inner.len(), 1);
    assert!(outer.is_empty());
}
