//! kestrel-lm's integration tests: a provider written outside the crate, LM
//! scoping and the process default, call options, and adapter calls.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kestrel_core::{Example, OutputStructure, SignatureSpec, Usage, ValueShape};
use kestrel_lm::{
    AdapterChoice, CallConfig, Completion, Lm, LmCapabilities, LmError, LmRequest, LmResponse, PromptCache, SharedLm,
    call_with_adapter, call_with_adapter_cached, clear_default_lm, current_lm, default_lm, resolve_lm, set_default_lm,
    with_lm,
};

/// A provider defined outside `kestrel-lm`: echoes a fixed reply and keeps
/// the requests it saw.
#[derive(Debug, Default)]
struct Echo {
    name: String,
    reply: String,
    structured: bool,
    constrained: bool,
    seen: Mutex<Vec<LmRequest>>,
}

impl Echo {
    fn new(name: &str, reply: &str) -> Arc<Self> {
        Arc::new(Echo { name: name.into(), reply: reply.into(), ..Echo::default() })
    }
}

#[async_trait]
impl Lm for Echo {
    fn model(&self) -> &str {
        &self.name
    }
    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default().with_structured_outputs(self.structured).with_constrained_decoding(self.constrained)
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        self.seen.lock().unwrap().push(request.clone());
        let completions = (0..request.n).map(|_| Completion::stop(self.reply.clone())).collect();
        Ok(LmResponse::new(completions, Usage { prompt_tokens: 10, completion_tokens: 2 }, self.name.clone()))
    }
}

fn shared(lm: &Arc<Echo>) -> SharedLm {
    SharedLm::from_arc(lm.clone())
}

#[tokio::test]
async fn scopes_nest_and_the_default_can_be_replaced() {
    // The only test in this binary that touches the process default.
    let a = shared(&Echo::new("test/a", ""));
    let b = shared(&Echo::new("test/b", ""));
    with_lm(a.clone(), async {
        assert_eq!(current_lm().unwrap().model(), "test/a");
        with_lm(b.clone(), async { assert_eq!(current_lm().unwrap().model(), "test/b") }).await;
        assert_eq!(current_lm().unwrap().model(), "test/a");
        assert_eq!(resolve_lm(Some(&b)).unwrap().model(), "test/b", "a predictor's own LM wins");
    })
    .await;

    let first = shared(&Echo::new("test/default-1", ""));
    let second = shared(&Echo::new("test/default-2", ""));
    let _ = set_default_lm(first.clone());
    assert_eq!(current_lm().unwrap().model(), "test/default-1");
    // A long-lived service swaps the default (DSPy's `dspy.configure` called again).
    let _ = set_default_lm(second.clone());
    assert_eq!(current_lm().unwrap().model(), "test/default-2", "the default was replaced");
    assert_eq!(resolve_lm(None).unwrap().model(), "test/default-2");
    // The task-local scope and a predictor's own LM still take precedence.
    with_lm(a.clone(), async { assert_eq!(current_lm().unwrap().model(), "test/a") }).await;
    assert_eq!(resolve_lm(Some(&b)).unwrap().model(), "test/b");
    // Other tasks see the replacement too (it is process-wide, not task-local).
    let seen = tokio::spawn(async { current_lm().map(|lm| lm.model().to_string()) }).await.unwrap();
    assert_eq!(seen.as_deref(), Some("test/default-2"));

    let previous = set_default_lm(first.clone()).expect("a default was set");
    assert!(previous.same_as(&second), "set_default_lm returns the LM it replaced");
    assert!(default_lm().unwrap().same_as(&first));
    assert!(clear_default_lm().unwrap().same_as(&first));
    assert!(matches!(resolve_lm(None), Err(LmError::NotConfigured)));
}

#[test]
fn dspy_sampling_rule_and_config_merging() {
    let c = CallConfig { n: Some(4), ..CallConfig::default() }.with_dspy_sampling_rule();
    assert_eq!(c.temperature, Some(0.7));
    let c = CallConfig { n: Some(4), temperature: Some(0.1), ..CallConfig::default() }.with_dspy_sampling_rule();
    assert_eq!(c.temperature, Some(0.7));
    let c = CallConfig { n: Some(4), temperature: Some(0.9), ..CallConfig::default() }.with_dspy_sampling_rule();
    assert_eq!(c.temperature, Some(0.9));
    let c = CallConfig { n: Some(1), ..CallConfig::default() }.with_dspy_sampling_rule();
    assert_eq!(c.temperature, None);

    let over = CallConfig { max_tokens: Some(5), ..CallConfig::default() };
    let base =
        CallConfig { max_tokens: Some(100), temperature: Some(0.3), stop: vec!["END".into()], ..CallConfig::default() };
    let merged = over.or(&base);
    assert_eq!((merged.max_tokens, merged.temperature, merged.stop), (Some(5), Some(0.3), vec!["END".to_string()]));

    let req = LmRequest::new(Vec::new()).with_config(&CallConfig { n: Some(0), ..CallConfig::default() });
    assert_eq!(req.n, 1, "n is at least 1");
}

#[test]
fn an_explicit_n_of_one_is_told_apart_from_the_default() {
    let set = LmRequest::new(Vec::new()).with_config(&CallConfig { n: Some(1), ..CallConfig::default() });
    assert_eq!((set.n, set.n_explicit), (1, true));
    let unset = LmRequest::new(Vec::new()).with_config(&CallConfig::default());
    assert_eq!((unset.n, unset.n_explicit), (1, false));
    assert!(!LmRequest::new(Vec::new()).n_explicit);
}

#[tokio::test]
async fn an_outside_provider_serves_adapter_calls() {
    let echo = Echo::new("test/echo", "[[ ## answer ## ]]\nParis");
    let sig = SignatureSpec::parse("question -> answer").unwrap();
    let inputs = Example::from_pairs([("question", "Capital of France?")]);
    let config = CallConfig { n: Some(2), ..CallConfig::default() };
    let out = call_with_adapter(&shared(&echo), AdapterChoice::default(), &sig, &[], &inputs, &config).await.unwrap();
    assert_eq!(out.prediction.get_str("answer"), Some("Paris"));
    assert_eq!(out.prediction.completions().len(), 2);
    assert_eq!(out.prediction.usage(), Usage { prompt_tokens: 10, completion_tokens: 2 });
    assert_eq!((out.lm_calls, out.json_fallback, out.cache_hit), (1, false, false));
    let seen = echo.seen.lock().unwrap();
    assert_eq!(seen[0].n, 2);
    assert!(seen[0].response_format.is_none(), "ChatAdapter never sends response_format");
}

#[tokio::test]
async fn json_adapter_sends_response_format_only_to_models_that_support_it() {
    let sig = SignatureSpec::parse("question -> answer").unwrap();
    let inputs = Example::from_pairs([("question", "Capital of France?")]);
    for structured in [false, true] {
        let echo = Arc::new(Echo {
            name: "test/json".into(),
            reply: r#"{"answer": "Paris"}"#.into(),
            structured,
            ..Echo::default()
        });
        let out = call_with_adapter(&shared(&echo), AdapterChoice::Json, &sig, &[], &inputs, &CallConfig::default())
            .await
            .unwrap();
        assert_eq!(out.prediction.get_str("answer"), Some("Paris"));
        let seen = echo.seen.lock().unwrap();
        assert_eq!(seen[0].response_format.is_some(), structured);
        if structured {
            assert_eq!(seen[0].response_format.as_ref().unwrap()["type"], "json_schema");
        }
    }
}

#[tokio::test]
async fn chat_adapter_asks_constrained_lms_for_its_field_structure_without_changing_the_prompt() {
    let sig = SignatureSpec::parse("question -> label: Literal['yes', 'no'], n: int").unwrap();
    let inputs = Example::from_pairs([("question", "Is it?")]);
    let mut prompts = Vec::new();
    for constrained in [false, true] {
        let reply = "[[ ## label ## ]]\nyes\n\n[[ ## n ## ]]\n3\n\n[[ ## completed ## ]]";
        let echo = Arc::new(Echo { name: "test/c".into(), reply: reply.into(), constrained, ..Echo::default() });
        let out =
            call_with_adapter(&shared(&echo), AdapterChoice::default(), &sig, &[], &inputs, &CallConfig::default())
                .await
                .unwrap();
        assert_eq!(out.prediction.get_str("label"), Some("yes"));
        let seen = echo.seen.lock().unwrap();
        assert_eq!(seen[0].output_structure, constrained.then(|| OutputStructure::for_signature(&sig)));
        assert!(seen[0].response_format.is_none());
        prompts.push(seen[0].messages.clone());
    }
    assert_eq!(prompts[0], prompts[1], "the structure never changes the prompt");
    let structure = OutputStructure::for_signature(&sig);
    assert_eq!(structure.fields[0].shape, ValueShape::OneOf { choices: vec!["yes".into(), "no".into()] });
    assert_eq!(structure.fields[1].shape, ValueShape::Int);
}

#[tokio::test]
async fn fallback_sums_usage_and_reports_itself() {
    #[derive(Debug, Default)]
    struct Flaky(Mutex<u32>);
    #[async_trait]
    impl Lm for Flaky {
        fn model(&self) -> &str {
            "test/flaky"
        }
        async fn call(&self, _request: LmRequest) -> Result<LmResponse, LmError> {
            let mut calls = self.0.lock().unwrap();
            *calls += 1;
            let text = if *calls == 1 { "no markers here" } else { r#"{"answer": "4"}"# };
            Ok(LmResponse::new(
                vec![Completion::stop(text)],
                Usage { prompt_tokens: 7, completion_tokens: 1 },
                "test/flaky",
            ))
        }
    }
    let sig = SignatureSpec::parse("question -> answer").unwrap();
    let inputs = Example::from_pairs([("question", "2+2?")]);
    let lm = SharedLm::new(Flaky::default());
    let out =
        call_with_adapter(&lm, AdapterChoice::default(), &sig, &[], &inputs, &CallConfig::default()).await.unwrap();
    assert_eq!(out.prediction.get_str("answer"), Some("4"));
    assert_eq!((out.lm_calls, out.json_fallback), (2, true));
    assert_eq!(out.prediction.usage(), Usage { prompt_tokens: 14, completion_tokens: 2 });
}

#[tokio::test]
async fn provider_errors_are_not_retried_through_the_fallback() {
    #[derive(Debug)]
    struct Down;
    #[async_trait]
    impl Lm for Down {
        fn model(&self) -> &str {
            "test/down"
        }
        async fn call(&self, _request: LmRequest) -> Result<LmResponse, LmError> {
            Err(LmError::Provider { model: "test/down".into(), message: "503 upstream".into() })
        }
    }
    let sig = SignatureSpec::parse("question -> answer").unwrap();
    let inputs = Example::from_pairs([("question", "2+2?")]);
    let err =
        call_with_adapter(&SharedLm::new(Down), AdapterChoice::default(), &sig, &[], &inputs, &CallConfig::default())
            .await
            .unwrap_err();
    assert!(matches!(err, LmError::Provider { ref message, .. } if message == "503 upstream"), "{err}");
}

#[tokio::test]
async fn a_prompt_cache_sends_what_formatting_each_call_sends() {
    let sig = SignatureSpec::parse("question -> answer").unwrap();
    let demos = vec![
        Example::from_pairs([("question", "1+1?"), ("answer", "2")]),
        Example::from_pairs([("question", "3+3?"), ("answer", "6")]),
    ];
    let config = CallConfig::default();
    // A reply that parses, and one that fails both adapters (ChatAdapter,
    // then the JSON fallback: both prefixes of the cache are used).
    for (reply, requests_per_call) in [("[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]", 1), ("no markers here", 2)] {
        let (plain, cached) = (Echo::new("test/plain", reply), Echo::new("test/cached", reply));
        let cache = PromptCache::new();
        for question in ["2+2?", "5+5?", "2+2?"] {
            let inputs = Example::from_pairs([("question", question)]);
            let choice = AdapterChoice::default();
            let expected = call_with_adapter(&shared(&plain), choice.clone(), &sig, &demos, &inputs, &config).await;
            let got =
                call_with_adapter_cached(&shared(&cached), choice, &sig, &demos, &inputs, &config, Some(&cache)).await;
            assert_eq!(got.as_ref().ok(), expected.as_ref().ok(), "{reply}");
            assert_eq!(got.is_ok(), expected.is_ok(), "{reply}");
        }
        let seen = |echo: &Echo| echo.seen.lock().unwrap().clone();
        assert_eq!(seen(&plain).len(), 3 * requests_per_call);
        assert_eq!(seen(&cached), seen(&plain), "{reply}: the same requests, demo turns included");
    }
}
