//! Predict: config (n, temperature), missing inputs, unparsable replies,
//! the ChatAdapter → JSONAdapter fallback, and the XML and two-step adapters.

use kestrel_core::{CoreError, Example};
use kestrel_lm::{AdapterChoice, CallConfig, LmError, TwoStep, with_lm};
use kestrel_modules::{ChainOfThought, Module, ModuleError, Predict};
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::json;

fn question() -> Example {
    Example::from_pairs([("question", "What is 2+2?")])
}

#[tokio::test]
async fn n_completions_are_all_kept_and_temperature_follows_dspy() {
    let lm = ScriptedLm::keyed([("2+2", "[[ ## answer ## ]]\n4")]);
    let predict = Predict::from_signature("question -> answer").unwrap().n(3);
    let out = with_lm(lm.clone(), predict.forward_example(&question(), None)).await.unwrap();
    assert_eq!(out.completions().len(), 3);
    assert!(out.completions().iter().all(|c| c["answer"] == "4"));
    let req = &lm.requests()[0];
    assert_eq!(req.n, 3);
    // DSPy raises the temperature to 0.7 when n > 1 and it is unset or <= 0.15.
    assert_eq!(req.temperature, Some(0.7));

    let hot = Predict::from_signature("question -> answer").unwrap().n(2).temperature(1.0);
    with_lm(lm.clone(), hot.forward_example(&question(), None)).await.unwrap();
    assert_eq!(lm.requests()[1].temperature, Some(1.0));

    let single = Predict::from_signature("question -> answer").unwrap().temperature(0.0);
    with_lm(lm.clone(), single.forward_example(&question(), None)).await.unwrap();
    assert_eq!((lm.requests()[2].n, lm.requests()[2].temperature), (1, Some(0.0)));
}

#[tokio::test]
async fn per_call_overrides_win_over_predictor_config() {
    let lm = ScriptedLm::keyed([("2+2", "[[ ## answer ## ]]\n4")]);
    let predict = Predict::from_signature("question -> answer").unwrap().temperature(0.2);
    let overrides = CallConfig { max_tokens: Some(50), rollout_id: Some(7), ..CallConfig::default() };
    with_lm(lm.clone(), predict.forward_example(&question(), Some(&overrides))).await.unwrap();
    let req = &lm.requests()[0];
    assert_eq!((req.temperature, req.max_tokens, req.rollout_id), (Some(0.2), Some(50), Some(7)));
}

#[tokio::test]
async fn missing_inputs_are_a_typed_error_before_any_call() {
    let lm = ScriptedLm::sequence(Vec::<Reply>::new());
    let predict = Predict::from_signature("context, question -> answer").unwrap();
    let err = with_lm(lm.clone(), predict.forward_example(&question(), None)).await.unwrap_err();
    match err {
        ModuleError::Lm(LmError::Core(CoreError::MissingInputs { missing, expected })) => {
            assert_eq!(missing, vec!["context".to_string()]);
            assert_eq!(expected, vec!["context".to_string(), "question".to_string()]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(lm.request_count(), 0);
}

#[tokio::test]
async fn unparsable_reply_falls_back_to_json_adapter_visibly() {
    let lm = ScriptedLm::sequence(["I think it is four.", r#"{"answer": "4"}"#]);
    let predict = Predict::from_signature("question -> answer").unwrap();
    let out = with_lm(lm.clone(), predict.forward_example(&question(), None)).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("4"));
    let requests = lm.requests();
    assert_eq!(requests.len(), 2, "the fallback is a second, recorded LM call");
    assert!(
        requests[1].messages[0].content.contains("Outputs will be a JSON object"),
        "{}",
        requests[1].messages[0].content
    );
    // Usage of both calls is counted.
    assert!(out.usage().prompt_tokens > 0);
    let single = lm.requests()[0].messages.iter().map(|m| m.content.split_whitespace().count() as u64).sum::<u64>();
    assert!(out.usage().prompt_tokens > single);
}

#[tokio::test]
async fn without_fallback_an_unparsable_reply_keeps_the_raw_text() {
    let lm = ScriptedLm::sequence(["I think it is four."]);
    let predict =
        Predict::from_signature("question -> answer").unwrap().adapter(AdapterChoice::Chat { json_fallback: false });
    let err = with_lm(lm.clone(), predict.forward_example(&question(), None)).await.unwrap_err();
    match err {
        ModuleError::Lm(LmError::Parse(parse)) => {
            assert_eq!(parse.lm_response, "I think it is four.");
            assert_eq!(parse.expected_fields, vec!["answer".to_string()]);
            assert!(parse.to_string().starts_with("Adapter ChatAdapter failed to parse the LM response."));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(lm.request_count(), 1);
}

#[tokio::test]
async fn both_adapters_failing_is_a_parse_error_not_a_panic() {
    let lm = ScriptedLm::sequence(["nonsense", "still nonsense"]);
    let predict = Predict::from_signature("question -> answer: int").unwrap();
    let err = with_lm(lm, predict.forward_example(&question(), None)).await.unwrap_err();
    assert!(matches!(err, ModuleError::Lm(LmError::Parse(ref p)) if p.adapter_name == "JSONAdapter"), "{err:?}");
}

#[tokio::test]
async fn typed_values_are_parsed() {
    let lm = ScriptedLm::sequence([Reply::fields([("answer", json!(4)), ("confidence", json!(0.5))])]);
    let predict = Predict::from_signature("question -> answer: int, confidence: float").unwrap();
    let out = with_lm(lm, predict.forward(question())).await.unwrap();
    assert_eq!(out.get("answer"), Some(&json!(4)));
    assert_eq!(out.get("confidence"), Some(&json!(0.5)));
}

#[tokio::test]
async fn chain_of_thought_returns_reasoning_first() {
    let lm = ScriptedLm::sequence(["[[ ## reasoning ## ]]\n2 and 2 make 4.\n\n[[ ## answer ## ]]\n4"]);
    let cot = ChainOfThought::from_signature("question -> answer").unwrap();
    let out = with_lm(lm.clone(), cot.forward(question())).await.unwrap();
    assert_eq!(out.reasoning, "2 and 2 make 4.");
    assert_eq!(out.get_str("answer"), Some("4"));
    assert!(lm.requests()[0].messages[0].content.contains("1. `reasoning` (str): \n2. `answer` (str):"));
}

/// The formatted prompt prefix is reused across calls, and a change of
/// demos, instructions or signature (on the predictor or on a clone) is
/// always seen by the next call.
#[tokio::test]
async fn the_cached_prompt_prefix_follows_every_change() {
    use kestrel_core::{ChatAdapter, adapter::Adapter};
    use kestrel_modules::Predictor;

    let lm = ScriptedLm::keyed([("2+2", "[[ ## answer ## ]]\n4")]);
    let expected = |p: &Predict| ChatAdapter.format(p.signature_spec(), p.demos(), &question()).unwrap();
    let mut predict = Predict::from_signature("question -> answer").unwrap();
    let call = |p: Predict| {
        let lm = lm.clone();
        async move { with_lm(lm, p.forward_example(&question(), None)).await.unwrap() }
    };
    call(predict.clone()).await;
    call(predict.clone()).await;
    assert_eq!(lm.requests()[0].messages, expected(&predict));
    assert_eq!(lm.requests()[1].messages, expected(&predict));

    let demo = Example::from_pairs([("question", "What is 1+1?"), ("answer", "2")]);
    predict.set_demos(vec![demo]);
    call(predict.clone()).await;
    assert_eq!(lm.requests()[2].messages, expected(&predict));
    assert_eq!(lm.requests()[2].messages.len(), 4);

    let mut clone = predict.clone();
    clone.set_instructions("Add carefully.".into());
    call(clone.clone()).await;
    call(predict.clone()).await;
    assert!(lm.requests()[3].messages[0].content.contains("Add carefully."));
    assert_eq!(lm.requests()[3].messages, expected(&clone));
    assert_eq!(lm.requests()[4].messages, expected(&predict));

    let renamed = predict.signature_spec().clone().with_instructions("Answer in digits.");
    predict.set_signature(renamed).unwrap();
    call(predict.clone()).await;
    assert!(lm.requests()[5].messages[0].content.contains("Answer in digits."));
}

#[tokio::test]
async fn chain_of_thought_with_the_xml_and_two_step_adapters() {
    // XML: the reasoning field ChainOfThought adds is a tag like the others.
    let lm = ScriptedLm::sequence(["<reasoning>2 and 2</reasoning>\n<answer>4</answer>"]);
    let cot =
        ChainOfThought::from_signature("question -> answer").unwrap().adapter(AdapterChoice::from_name("xml").unwrap());
    let out = with_lm(lm.clone(), cot.forward_example(&question(), None)).await.unwrap();
    assert_eq!((out.get_str("reasoning"), out.get_str("answer")), (Some("2 and 2"), Some("4")));
    assert!(lm.requests()[0].messages[0].content.contains("<reasoning>\n{reasoning}\n</reasoning>"));

    // Two-step: the LM in scope answers freely, the extraction LM fills
    // `reasoning` and `answer`.
    let main = ScriptedLm::sequence(["Two plus two makes four."]);
    let extraction = ScriptedLm::sequence([
        "[[ ## reasoning ## ]]\nTwo plus two.\n\n[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]",
    ]);
    let predict = Predict::from_signature("question -> reasoning, answer")
        .unwrap()
        .adapter(AdapterChoice::TwoStep(TwoStep::new(extraction.clone())));
    let out = with_lm(main.clone(), predict.forward_example(&question(), None)).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("4"));
    assert_eq!(main.requests()[0].messages.last().unwrap().content, "question: What is 2+2?");
    assert!(extraction.requests()[0].messages[1].content.starts_with("[[ ## text ## ]]\nTwo plus two makes four."));
}
