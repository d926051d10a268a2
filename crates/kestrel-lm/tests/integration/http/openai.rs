//! The OpenAI-compatible provider over HTTP: the exact body sent, the
//! response read back (usage, cost, finish reason), reasoning models,
//! `n > 1`, embeddings, and a signature call through the adapter.

use kestrel_core::{Adapter, Example, Message, SignatureSpec, Usage};
use kestrel_lm::{AdapterChoice, CallConfig, Embedder, FinishReason, Lm, LmRequest, SharedLm, call_with_adapter};
use kestrel_testkit::ScriptedLm;
use kestrel_testkit::mock::{MockServer, Responder, Route, embed};
use serde_json::json;

use super::{KEY, ask, openai, uncached};

#[tokio::test]
async fn a_call_sends_exactly_the_request_and_maps_the_answer() {
    let server = MockServer::start(ScriptedLm::keyed([("France", "The capital is Paris")])).await.unwrap();
    let client = uncached(openai(&server, "gpt-4o-mini"));
    let mut request = ask("Capital of France?");
    request.temperature = Some(0.3);
    request.max_tokens = Some(50);
    request.stop = vec!["END".into()];
    request.response_format = Some(json!({"type": "json_object"}));
    request.rollout_id = Some(7);
    let response = client.call(request).await.unwrap();

    let recorded = server.requests_to(Route::ChatCompletions);
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].body,
        Some(json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
            "temperature": 0.3,
            "max_tokens": 50,
            "stop": ["END"],
            "response_format": {"type": "json_object"},
        })),
        "no n (it is 1), no rollout id, temperature as written"
    );
    assert_eq!(recorded[0].header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(recorded[0].header("content-type"), Some("application/json"));

    assert_eq!(response.completions.len(), 1);
    assert_eq!(response.completions[0].text, "The capital is Paris");
    assert_eq!(response.completions[0].finish_reason, Some(FinishReason::Stop));
    // The mock counts words: "Be brief." + "Capital of France?" and the reply.
    assert_eq!(response.usage, Usage { prompt_tokens: 5, completion_tokens: 4 });
    assert_eq!(response.model, "gpt-4o-mini");
    assert!(!response.cache_hit);
    assert!(response.cost_usd.is_some_and(|c| c > 0.0), "gpt-4o-mini is in the default price table");
    let totals = client.usage();
    assert_eq!((totals.total.calls, totals.total.prompt_tokens, totals.total.completion_tokens), (1, 5, 4));
}

#[tokio::test]
async fn reasoning_models_get_max_completion_tokens() {
    let server = MockServer::start(Responder::from_fn(|_| Ok("ok".into()))).await.unwrap();
    for (model, key, absent) in
        [("o3-mini", "max_completion_tokens", "max_tokens"), ("gpt-5-mini", "max_completion_tokens", "max_tokens")]
    {
        let mut request = ask("hi");
        request.max_tokens = Some(1000);
        openai(&server, model).call(request).await.unwrap();
        let body = server.requests().pop().unwrap().body.unwrap();
        assert_eq!((body["model"].as_str(), body[key].as_u64()), (Some(model), Some(1000)), "{body}");
        assert!(body.get(absent).is_none(), "{body}");
    }
    let mut request = ask("hi");
    request.max_tokens = Some(1000);
    openai(&server, "gpt-4o").call(request).await.unwrap();
    let body = server.requests().pop().unwrap().body.unwrap();
    assert!(body.get("max_tokens").is_some() && body.get("max_completion_tokens").is_none(), "{body}");
}

#[tokio::test]
async fn n_completions_come_from_one_request() {
    let server = MockServer::start(ScriptedLm::sequence(["first", "second answer", "third"])).await.unwrap();
    let config = CallConfig { n: Some(3), ..CallConfig::default() }.with_dspy_sampling_rule();
    let request = LmRequest::new(vec![Message::user("Say something")]).with_config(&config);
    let response = uncached(openai(&server, "gpt-4o-mini")).call(request).await.unwrap();
    let texts: Vec<&str> = response.completions.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["first", "second answer", "third"]);
    assert_eq!(response.usage.completion_tokens, 4);
    assert_eq!(server.request_count(), 1);
    let body = server.requests()[0].body.clone().unwrap();
    assert_eq!((body["n"].as_u64(), body["temperature"].as_f64()), (Some(3), Some(0.7)), "DSPy's n > 1 rule");
}

#[tokio::test]
async fn the_provider_embeds_through_the_embeddings_route() {
    let server = MockServer::start(ScriptedLm::sequence(Vec::<String>::new())).await.unwrap();
    let embedder = openai(&server, "text-embedding-3-small");
    let inputs = vec!["hello world".to_string(), "goodbye".to_string()];
    let vectors = embedder.embed(&inputs).await.unwrap();
    assert_eq!(vectors, vec![embed("hello world", 16), embed("goodbye", 16)]);
    assert_eq!(Embedder::model(&embedder), "openai/text-embedding-3-small");
    let recorded = server.requests_to(Route::Embeddings);
    assert_eq!(
        recorded[0].body,
        Some(
            json!({"model": "text-embedding-3-small", "input": ["hello world", "goodbye"], "encoding_format": "float"})
        )
    );
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
    assert_eq!(server.request_count(), 1, "no input, no request");
}

#[tokio::test]
async fn a_signature_call_goes_through_the_adapter_and_http() {
    let server =
        MockServer::start(ScriptedLm::keyed([("France", "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]")]))
            .await
            .unwrap();
    let lm = SharedLm::new(uncached(openai(&server, "gpt-4o-mini")));
    let signature = SignatureSpec::parse("question -> answer").unwrap();
    let inputs = Example::from_pairs([("question", "Capital of France?")]);
    let out = call_with_adapter(&lm, AdapterChoice::default(), &signature, &[], &inputs, &CallConfig::default())
        .await
        .unwrap();
    assert_eq!(out.prediction.get_str("answer"), Some("Paris"));
    assert_eq!((out.lm_calls, out.json_fallback), (1, false));
    let sent = server.requests()[0].lm_request.clone().unwrap();
    assert!(sent.messages[0].content.contains("`question`"), "the ChatAdapter's system message was sent");
    assert!(sent.messages[1].content.contains("[[ ## question ## ]]\nCapital of France?"));
}

/// DSPy's `dspy.LM("openai/x", temperature=0, max_tokens=256, stop=[..])`:
/// the LM's options reach every request; a predictor's config (here the
/// merged config handed to the adapter call) wins over them option by
/// option; `n > 1` from the LM still triggers DSPy's temperature rule; and
/// the cache key is that of the merged request.
#[tokio::test]
async fn lm_default_options_reach_the_wire_below_the_call_config() {
    let server = MockServer::start(ScriptedLm::keyed([("France", "[[ ## answer ## ]]\nParis")])).await.unwrap();
    let client = kestrel_lm::LmBuilder::new(openai(&server, "gpt-4o-mini"))
        .cache(kestrel_lm::cache::CacheConfig::memory_only())
        .temperature(0.0)
        .max_tokens(256)
        .stop(["<END>"])
        .build()
        .unwrap();
    assert_eq!(client.get_call_defaults().and_then(|d| d.max_tokens), Some(256));
    let lm = SharedLm::new(client.clone());
    let sig = SignatureSpec::parse("question -> answer").unwrap();
    let inputs = Example::from_pairs([("question", "Capital of France?")]);
    let body = |i: usize| server.requests_to(Route::ChatCompletions)[i].body.clone().unwrap();

    // 1. Nothing set by the predictor: the LM's options are sent.
    let out = call_with_adapter(&lm, AdapterChoice::default(), &sig, &[], &inputs, &CallConfig::default()).await;
    assert_eq!(out.unwrap().prediction.get_str("answer"), Some("Paris"));
    assert_eq!(
        (&body(0)["temperature"], &body(0)["max_tokens"], &body(0)["stop"]),
        (&json!(0.0), &json!(256), &json!(["<END>"]))
    );

    // 2. The predictor's own options win, option by option.
    let own = CallConfig { temperature: Some(0.5), stop: vec!["STOP".into()], ..CallConfig::default() };
    call_with_adapter(&lm, AdapterChoice::default(), &sig, &[], &inputs, &own).await.unwrap();
    assert_eq!(
        (&body(1)["temperature"], &body(1)["max_tokens"], &body(1)["stop"]),
        (&json!(0.5), &json!(256), &json!(["STOP"]))
    );

    // 3. The same merged options are the same cache entry: no request.
    let explicit = CallConfig { temperature: Some(0.0), max_tokens: Some(256), ..CallConfig::default() };
    let hit = call_with_adapter(&lm, AdapterChoice::default(), &sig, &[], &inputs, &explicit).await.unwrap();
    assert!(hit.cache_hit, "explicit options equal to the LM's are the same request");
    assert_eq!(server.request_count(), 2);
    // ...and a raw request through the client is filled the same way.
    let raw = client.call(ask("Capital of France?")).await.unwrap();
    assert!(!raw.cache_hit);
    assert_eq!((&body(2)["temperature"], &body(2)["max_tokens"]), (&json!(0.0), &json!(256)));

    // 4. `n` from the LM's options with temperature 0: DSPy raises it to 0.7.
    let sampling =
        kestrel_lm::LmBuilder::new(openai(&server, "gpt-4o-mini")).no_cache().temperature(0.0).n(3).build().unwrap();
    let sampling = SharedLm::new(sampling);
    let out = call_with_adapter(&sampling, AdapterChoice::default(), &sig, &[], &inputs, &CallConfig::default()).await;
    assert_eq!(out.unwrap().prediction.completions().len(), 3);
    assert_eq!((&body(3)["n"], &body(3)["temperature"]), (&json!(3), &json!(0.7)));
}

/// Constrained decoding on an OpenAI-compatible server: the explicit
/// `.structured_outputs(true)` puts the JSON adapter's schema on the wire as
/// `response_format` (here on the ChatAdapter → JSON fallback request); by
/// default (any server but OpenAI's own) no `response_format` is sent, as
/// DSPy sends none to unknown models. The ChatAdapter's field structure is
/// never sent: it is for providers that decode under a grammar themselves.
#[tokio::test]
async fn the_structured_outputs_option_puts_the_json_schema_on_the_wire_and_is_off_by_default() {
    let sig = SignatureSpec::parse("question -> label: Literal['yes', 'no'], n: int").unwrap();
    let inputs = Example::from_pairs([("question", "Is it?")]);
    for on in [None, Some(true)] {
        // Chat replies never parse; the JSON fallback's reply does.
        let server = MockServer::start(Responder::from_fn(|r: &LmRequest| {
            let system = &r.messages[0].content;
            Ok(if system.contains("JSON object") { r#"{"label": "yes", "n": 3}"# } else { "no markers" }.to_string())
        }))
        .await
        .unwrap();
        let provider = openai(&server, "qwen2.5-0.5b-instruct");
        let provider = match on {
            Some(on) => provider.structured_outputs(on),
            None => provider,
        };
        let lm = SharedLm::new(uncached(provider));
        let out =
            call_with_adapter(&lm, AdapterChoice::default(), &sig, &[], &inputs, &CallConfig::default()).await.unwrap();
        assert_eq!((out.prediction.get("n"), out.json_fallback), (Some(&json!(3)), true));
        let bodies: Vec<_> = server.requests_to(Route::ChatCompletions).into_iter().map(|r| r.body.unwrap()).collect();
        assert_eq!(bodies.len(), 2);
        assert!(bodies.iter().all(|b| b.get("output_structure").is_none()));
        assert!(bodies[0].get("response_format").is_none(), "the ChatAdapter request carries no schema");
        match on {
            None => assert!(bodies[1].get("response_format").is_none(), "off by default"),
            Some(_) => {
                let expected = kestrel_core::JsonAdapter.response_format(&sig).unwrap();
                assert_eq!(bodies[1]["response_format"], expected);
                assert_eq!(expected["type"], "json_schema");
                let schema = &expected["json_schema"]["schema"];
                assert_eq!(schema["properties"]["label"]["enum"], json!(["yes", "no"]));
            }
        }
    }
}
