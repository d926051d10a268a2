//! The facade end to end: typed signatures through the prelude, typed and
//! string forms rendering the same prompt, and `Send + Sync` for the public
//! types that cross tasks.

use std::collections::HashMap;

use kestrel::core::{FieldType, TraceEntry};
use kestrel::lm::{LmRequest, LmResponse};
use kestrel::prelude::*;
use kestrel_testkit::ScriptedLm;

/// Answer questions with short factoid answers.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output(desc = "often between 1 and 5 words")]
    answer: String,
}

/// Score a review.
#[derive(Signature)]
struct Review {
    #[input(desc = "the review text")]
    text: String,
    #[input]
    tags: Vec<String>,
    #[output]
    stars: i64,
    #[output]
    ratio: f64,
    #[output]
    ok: bool,
    #[output]
    counts: HashMap<String, i64>,
    #[output]
    note: Option<String>,
}

#[test]
fn typed_and_string_signatures_render_the_same_prompt() {
    let typed = Review::spec();
    let string = SignatureSpec::parse(
        "text, tags: list[str] -> stars: int, ratio: float, ok: bool, counts: dict[str, int], note: Optional[str]",
    )
    .unwrap();
    let mut string = string.with_instructions("Score a review.");
    string.field_mut("text").unwrap().desc = Some("the review text".into());
    for (t, s) in typed.fields().zip(string.fields()) {
        assert_eq!((t.name.as_str(), &t.ty, t.io), (s.name.as_str(), &s.ty, s.io));
    }
    let inputs = Example::from_pairs([("text", serde_json::json!("great")), ("tags", serde_json::json!(["a"]))]);
    let a = ChatAdapter.format(&typed, &[], &inputs).unwrap();
    let b = ChatAdapter.format(&string, &[], &inputs).unwrap();
    assert_eq!(a, b);
    assert_eq!(JsonAdapter.format(&typed, &[], &inputs).unwrap(), JsonAdapter.format(&string, &[], &inputs).unwrap());
    assert!(matches!(typed.field("note").unwrap().ty, FieldType::Union(_)));
}

#[tokio::test]
async fn typed_predict_and_chain_of_thought() {
    let lm = ScriptedLm::sequence([
        "[[ ## answer ## ]]\nParis",
        "[[ ## reasoning ## ]]\nIt is in Paris.\n\n[[ ## answer ## ]]\nParis",
    ]);
    let out =
        with_lm(lm.clone(), Predict::<Qa>::new().call(QaInput { question: "Eiffel Tower?".into() })).await.unwrap();
    assert_eq!(out.answer, "Paris");
    let out = with_lm(lm.clone(), ChainOfThought::<Qa>::new().call(QaInput { question: "Eiffel Tower?".into() }))
        .await
        .unwrap();
    assert_eq!((out.reasoning.as_str(), out.answer.as_str()), ("It is in Paris.", "Paris"));
    let system = &lm.requests()[0].messages[0].content;
    assert!(system.contains("1. `answer` (str): often between 1 and 5 words"), "{system}");
    assert!(system.ends_with("Answer questions with short factoid answers."), "{system}");
}

#[tokio::test]
async fn typed_outputs_are_converted() {
    let lm = ScriptedLm::sequence([
        // `note` is left out: a missing Optional output is None (DSPy 3.4.1).
        "[[ ## stars ## ]]\n4\n\n[[ ## ratio ## ]]\n0.5\n\n[[ ## ok ## ]]\nTrue\n\n[[ ## counts ## ]]\n{'a': 1,}",
    ]);
    let out =
        with_lm(lm, Predict::<Review>::new().call(ReviewInput { text: "fine".into(), tags: vec![] })).await.unwrap();
    assert_eq!((out.stars, out.ratio, out.ok), (4, 0.5, true));
    assert_eq!(out.counts.get("a"), Some(&1));
    assert_eq!(out.note, None);
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Example>();
    check::<Prediction>();
    check::<SignatureSpec>();
    check::<FieldType>();
    check::<ChatAdapter>();
    check::<JsonAdapter>();
    check::<XmlAdapter>();
    check::<kestrel::lm::AdapterChoice>();
    check::<kestrel::lm::TwoStep>();
    check::<SharedLm>();
    check::<LmRequest>();
    check::<LmResponse>();
    check::<CallConfig>();
    check::<TraceEntry>();
    check::<Predict>();
    check::<Predict<Qa>>();
    check::<ChainOfThought<Qa>>();
    check::<WithReasoning<QaOutput>>();
    check::<QaInput>();
    check::<kestrel::Error>();
    check::<kestrel::core::CoreError>();
    check::<kestrel::lm::LmError>();
    check::<kestrel::modules::ModuleError>();
    check::<ScriptedLm>();
    check::<ReAct<Qa>>();
    check::<Tool>();
    check::<History>();
    check::<Image>();
    check::<ToolCalls>();
    check::<ToolSpec>();
    check::<kestrel::core::ContentPart>();
    check::<kestrel_testkit::mock::MockReply>();
    check::<BestOfN<ChainOfThought<Qa>>>();
    check::<Refine<Predict<Qa>>>();
    check::<kestrel::modules::MultiChainComparison<Qa>>();
    check::<kestrel::modules::Parallel>();
    check::<Evaluate>();
    check::<EvaluationResult>();
    check::<Score>();
    check::<Dataset>();
    check::<kestrel::eval::metrics::SemanticF1>();
    check::<kestrel::eval::EvalError>();
    check::<LabeledFewShot>();
    check::<BootstrapFewShot>();
    check::<BootstrapFewShotWithRandomSearch>();
    check::<Compiled<ChainOfThought<Qa>>>();
    check::<kestrel::optimizers::CompileReport>();
    check::<kestrel::optimizers::OptimizerError>();
    check::<kestrel::lm::LmClient>();
    check::<kestrel::lm::Journal>();
    check::<kestrel::lm::RunIdentity>();
    check::<kestrel::lm::DurableHook>();
    check::<kestrel::lm::DurableWrite>();
    check::<kestrel::optimizers::JournalOptions>();
    check::<kestrel::optimizers::Resumable<LabeledFewShot>>();
    check::<kestrel_testkit::mock::MockServer>();
    check::<kestrel::lm::finetune::SharedFinetuneBackend>();
    check::<kestrel::lm::finetune::OpenAiFinetune>();
    check::<kestrel::lm::FinetuneJob>();
    check::<kestrel::lm::FinetunedModel>();
    check::<kestrel::lm::FinetuneRequest>();
    check::<kestrel::lm::JobProgress>();
    check::<kestrel::lm::TrainingData>();
    check::<kestrel::optimizers::BootstrapFinetune>();
    check::<kestrel::optimizers::BetterTogether>();
    check::<kestrel::optimizers::BetterTogetherReport>();
    check::<kestrel::optimizers::FinetuneReport>();
    check::<kestrel_testkit::mock::FinetuneBehavior>();
    check::<kestrel_testkit::mock::MockJob>();
    check::<kestrel_testkit::mock::StreamChunking>();
    check::<kestrel::lm::StreamEvent>();
    check::<kestrel::lm::DeltaSink>();
    check::<kestrel::lm::StreamScope>();
    check::<kestrel::lm::FieldListener>();
    check::<kestrel::modules::StreamListener>();
    check::<kestrel::modules::StreamOptions>();
    check::<kestrel::modules::ProgramStream<'static>>();
    check::<kestrel::lm::Callbacks>();
    check::<kestrel::lm::CallbackError>();
    check::<kestrel::lm::CallbackErrorPolicy>();
    check::<kestrel::lm::CallKind>();
    check::<kestrel::lm::CallId>();
    check::<kestrel::lm::CallStart<'static>>();
    check::<kestrel::lm::CallEnd<'static>>();
    check::<kestrel::lm::callback::Observer>();
    check::<std::sync::Arc<dyn kestrel::lm::Callback>>();
    #[cfg(feature = "mcp")]
    check::<kestrel::modules::McpClient>();
}
