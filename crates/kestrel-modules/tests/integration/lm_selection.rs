//! Which LM a predictor call uses: its own, else the task-local scope; and a
//! clear error when none is configured.

use kestrel_core::Example;
use kestrel_lm::{LmError, with_lm};
use kestrel_modules::{ModuleError, Predict};
use kestrel_testkit::ScriptedLm;

fn question() -> Example {
    Example::from_pairs([("question", "2+2?")])
}

#[tokio::test]
async fn no_lm_configured_is_a_typed_error() {
    let predict = Predict::from_signature("question -> answer").unwrap();
    let err = predict.forward_example(&question(), None).await.unwrap_err();
    assert!(matches!(err, ModuleError::Lm(LmError::NotConfigured)), "{err:?}");
    assert!(err.to_string().contains("with_lm"), "message says what to do: {err}");
}

#[tokio::test]
async fn scope_supplies_the_lm_and_own_lm_wins() {
    let scoped = ScriptedLm::sequence(["[[ ## answer ## ]]\nscoped"]);
    let own = ScriptedLm::sequence(["[[ ## answer ## ]]\nown"]);
    let plain = Predict::from_signature("question -> answer").unwrap();
    let with_own = plain.clone().lm(own.clone());

    let out = with_lm(scoped.clone(), plain.forward_example(&question(), None)).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("scoped"));
    let out = with_lm(scoped.clone(), with_own.forward_example(&question(), None)).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("own"));
    assert_eq!((scoped.request_count(), own.request_count()), (1, 1));
}

#[tokio::test]
async fn nested_scopes_use_the_innermost() {
    let outer = ScriptedLm::sequence(["[[ ## answer ## ]]\nouter"]);
    let inner = ScriptedLm::sequence(["[[ ## answer ## ]]\ninner"]);
    let predict = Predict::from_signature("question -> answer").unwrap();
    let out =
        with_lm(outer.clone(), async { with_lm(inner.clone(), predict.forward_example(&question(), None)).await })
            .await
            .unwrap();
    assert_eq!(out.get_str("answer"), Some("inner"));
    assert_eq!(outer.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scopes_do_not_mix() {
    let predict = Predict::from_signature("question -> answer").unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let predict = predict.clone();
        tasks.push(tokio::spawn(async move {
            let lm = ScriptedLm::sequence([format!("[[ ## answer ## ]]\n{i}")]);
            let out = with_lm(lm, async {
                tokio::task::yield_now().await;
                predict.forward_example(&question(), None).await
            })
            .await
            .unwrap();
            (i, out.get_str("answer").map(str::to_string))
        }));
    }
    for task in tasks {
        let (i, answer) = task.await.unwrap();
        assert_eq!(answer, Some(i.to_string()));
    }
}
