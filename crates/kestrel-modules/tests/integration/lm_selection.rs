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

/// DSPy's `dspy.LM(model, temperature=0, max_tokens=256)`: the LM's default
/// options sit below everything else — a `with_call_config` scope, then the
/// predictor's own config, then a per-call config win over them, option by
/// option.
#[tokio::test]
async fn lm_default_options_are_below_predictor_and_scope_config() {
    use kestrel_lm::{CallConfig, LmBuilder};
    use kestrel_modules::with_call_config;

    let scripted = ScriptedLm::sequence(["[[ ## answer ## ]]\n4"; 4]);
    let lm = LmBuilder::new(scripted.clone()).temperature(0.0).max_tokens(256).stop(["<END>"]).build().unwrap();
    let plain = Predict::from_signature("question -> answer").unwrap().lm(lm);
    let seen = |i: usize| {
        let r = &scripted.requests()[i];
        (r.temperature, r.max_tokens, r.stop.clone())
    };

    plain.forward_example(&question(), None).await.unwrap();
    assert_eq!(seen(0), (Some(0.0), Some(256), vec!["<END>".to_string()]), "the LM's defaults");

    let scope = CallConfig { temperature: Some(1.0), ..CallConfig::default() };
    with_call_config(scope.clone(), plain.forward_example(&question(), None)).await.unwrap();
    assert_eq!(seen(1), (Some(1.0), Some(256), vec!["<END>".to_string()]), "the scope wins over the LM");

    let own = plain.clone().config(CallConfig { max_tokens: Some(64), ..CallConfig::default() });
    with_call_config(scope, own.forward_example(&question(), None)).await.unwrap();
    assert_eq!(seen(2), (Some(1.0), Some(64), vec!["<END>".to_string()]), "the predictor's config wins");

    let per_call = CallConfig { stop: vec!["STOP".into()], ..CallConfig::default() };
    own.forward_example(&question(), Some(&per_call)).await.unwrap();
    assert_eq!(seen(3), (Some(0.0), Some(64), vec!["STOP".to_string()]), "a per-call config wins");
}
