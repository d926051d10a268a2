//! Callbacks ([`kestrel_lm::callback`]): the order and content of the events
//! of Predict, ChainOfThought and ReAct with a tool (checked against what
//! DSPy 3.4.1's callbacks receive for the same programs), call ids and
//! parents, nested scopes, the error policy, and the `tracing` spans.

mod recorder;
mod spans;

use std::sync::Arc;

use kestrel_core::Example;
use kestrel_lm::{CallKind, CallbackError, CallbackErrorPolicy, Callbacks, LmError, with_callbacks, with_lm};
use kestrel_modules::{ChainOfThought, Module, ModuleError, ModuleExt, Predict, ReAct, Tool};
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::json;

use recorder::{Failing, Recorder};

fn question() -> Example {
    Example::from_pairs([("question", "2+2?")])
}

/// The events of one predictor call, as DSPy reports them for `Predict`.
fn predictor_trail(module: &str) -> Vec<String> {
    [
        format!("module_start {module}"),
        "adapter_format_start ChatAdapter".into(),
        "adapter_format_end ChatAdapter".into(),
        "lm_start scripted/dummy".into(),
        "lm_end scripted/dummy".into(),
        "adapter_parse_start ChatAdapter".into(),
        "adapter_parse_end ChatAdapter".into(),
        format!("module_end {module}"),
    ]
    .into()
}

#[tokio::test]
async fn predict_reports_module_format_lm_parse_in_dspy_order() {
    let recorder = Arc::new(Recorder::default());
    let lm = ScriptedLm::sequence([Reply::fields([("answer", json!("4"))])]);
    let predict = Predict::from_signature("question -> answer").unwrap();
    let callbacks = Callbacks::new().with_shared(recorder.clone());
    let out = with_callbacks(callbacks, with_lm(lm, predict.forward_example(&question(), None))).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("4"));
    assert_eq!(recorder.trail(), predictor_trail("Predict"));

    let events = recorder.events();
    // Ids: unique, in start order; every inner call's parent is the module.
    let module = &events[0];
    assert_eq!(module.parent, None);
    for inner in &events[1..7] {
        assert_eq!(inner.parent, Some(module.id), "{inner:?}");
    }
    assert_eq!(events[1].id, events[2].id);
    assert!(events[1].id < events[3].id && events[3].id < events[5].id);
    // Content: inputs at the start, outputs at the end.
    assert_eq!(module.data, json!({"question": "2+2?"}));
    assert_eq!(events[1].data["signature"], json!("question -> answer"));
    assert_eq!(events[1].data["inputs"], json!({"question": "2+2?"}));
    assert_eq!(events[1].data["demos"], json!([]));
    let messages = events[2].data.as_array().unwrap();
    assert_eq!(messages.len(), 2, "system + user");
    assert_eq!(events[3].data["messages"], events[2].data);
    let completion = "[[ ## answer ## ]]\n4";
    assert_eq!(events[4].data, json!([completion]));
    assert_eq!(events[5].data, json!({"signature": "question -> answer", "completion": completion}));
    assert_eq!(events[6].data, json!({"answer": "4"}));
    assert_eq!(events[7].data["answer"], json!("4"));
    assert!(events.iter().all(|e| e.error.is_none()));
}

#[tokio::test]
async fn chain_of_thought_wraps_its_predict() {
    let recorder = Arc::new(Recorder::default());
    let lm = ScriptedLm::sequence([Reply::fields([("reasoning", json!("Add.")), ("answer", json!("4"))])]);
    let cot = ChainOfThought::from_signature("question -> answer").unwrap();
    let callbacks = Callbacks::new().with_shared(recorder.clone());
    with_callbacks(callbacks, with_lm(lm, cot.forward_example(&question(), None))).await.unwrap();
    let mut expected = vec!["module_start ChainOfThought".to_string()];
    expected.extend(predictor_trail("Predict"));
    expected.push("module_end ChainOfThought".into());
    assert_eq!(recorder.trail(), expected);
    let events = recorder.events();
    assert_eq!(events[1].parent, Some(events[0].id));
    assert_eq!(events[9].data["reasoning"], json!("Add."));
}

#[tokio::test]
async fn react_reports_each_step_each_tool_and_the_extraction() {
    let recorder = Arc::new(Recorder::default());
    let step = |thought: &str, tool: &str, args| {
        Reply::fields([("next_thought", json!(thought)), ("next_tool_name", json!(tool)), ("next_tool_args", args)])
    };
    let lm = ScriptedLm::sequence([
        step("Look it up.", "get_weather", json!({"city": "Paris"})),
        step("Done.", "finish", json!({})),
        Reply::fields([("reasoning", json!("It said so.")), ("answer", json!("Sunny"))]),
    ]);
    let weather = Tool::dynamic(
        "get_weather",
        "Get the weather.",
        serde_json::from_value(json!({"city": {"type": "string"}})).unwrap(),
        |args| async move { Ok::<_, String>(json!(format!("Sunny in {}.", args["city"].as_str().unwrap_or("?")))) },
    );
    let agent = ReAct::from_signature("question -> answer", [weather]).unwrap();
    let inputs = Example::from_pairs([("question", "Weather in Paris?")]);
    let callbacks = Callbacks::new().with_shared(recorder.clone());
    with_callbacks(callbacks, with_lm(lm, agent.forward_example(&inputs, None))).await.unwrap();

    let mut expected = vec!["module_start ReAct".to_string()];
    expected.extend(predictor_trail("Predict"));
    expected.extend(["tool_start get_weather".into(), "tool_end get_weather".into()]);
    expected.extend(predictor_trail("Predict"));
    expected.extend(["tool_start finish".into(), "tool_end finish".into()]);
    expected.push("module_start ChainOfThought".into());
    expected.extend(predictor_trail("Predict"));
    expected.extend(["module_end ChainOfThought".into(), "module_end ReAct".into()]);
    assert_eq!(recorder.trail(), expected);

    let events = recorder.events();
    let tool_start = &events[9];
    assert_eq!(tool_start.data, json!({"city": "Paris"}));
    assert_eq!(tool_start.parent, Some(events[0].id), "tools run inside the agent");
    assert_eq!(events[10].data, json!("Sunny in Paris."));
    assert_eq!(events[19].data, json!({}));
    assert_eq!(events[20].data, json!("Completed."));
}

#[tokio::test]
async fn a_failing_call_ends_with_its_error() {
    let recorder = Arc::new(Recorder::default());
    let lm = ScriptedLm::sequence([Reply::Text("no fields at all".into()), Reply::Text("still none".into())]);
    let predict = Predict::from_signature("question -> answer").unwrap();
    let callbacks = Callbacks::new().with_shared(recorder.clone());
    let err = with_callbacks(callbacks, with_lm(lm, predict.forward_example(&question(), None))).await.unwrap_err();
    assert!(matches!(err, ModuleError::Lm(LmError::Parse(_))), "{err:?}");
    let events = recorder.events();
    let last = events.last().unwrap();
    assert_eq!((last.phase, last.kind), ("end", CallKind::Module));
    assert_eq!(last.error.as_deref(), Some(err.to_string().as_str()));
    // The ChatAdapter's parse failed, then the JSON fallback's: both are ends with errors.
    let parse_errors = events.iter().filter(|e| e.kind == CallKind::AdapterParse && e.error.is_some()).count();
    assert_eq!(parse_errors, 2);
    assert!(recorder.trail().contains(&"adapter_format_start JSONAdapter".to_string()));
}

#[tokio::test]
async fn nothing_is_reported_outside_a_scope_and_inner_scopes_add_callbacks() {
    let outer = Arc::new(Recorder::default());
    let inner = Arc::new(Recorder::default());
    let lm = ScriptedLm::sequence([Reply::fields([("answer", json!("4"))]), Reply::fields([("answer", json!("5"))])]);
    let predict = Predict::from_signature("question -> answer").unwrap();
    with_lm(lm, async {
        predict.forward_example(&question(), None).await.unwrap();
        with_callbacks(Callbacks::new().with_shared(outer.clone()), async {
            with_callbacks(Callbacks::new().with_shared(inner.clone()), predict.forward_example(&question(), None))
                .await
                .unwrap();
        })
        .await;
    })
    .await;
    assert_eq!(outer.trail(), predictor_trail("Predict"));
    assert_eq!(inner.events(), outer.events(), "both scopes see the same calls with the same ids");
}

#[tokio::test]
async fn a_user_module_called_with_call_is_reported_under_its_type_name() {
    #[derive(Clone, kestrel_macros::Module)]
    struct Pipeline {
        first: Predict,
    }
    impl Module for Pipeline {
        type Input = Example;
        type Output = kestrel_core::Prediction;
        async fn forward(&self, input: Example) -> Result<Self::Output, ModuleError> {
            self.first.forward_example(&input, None).await
        }
    }
    let recorder = Arc::new(Recorder::default());
    let lm = ScriptedLm::sequence([Reply::fields([("answer", json!("4"))])]);
    let program = Pipeline { first: Predict::from_signature("question -> answer").unwrap() };
    let callbacks = Callbacks::new().with_shared(recorder.clone());
    with_callbacks(callbacks, with_lm(lm, program.call(question()))).await.unwrap();
    let mut expected = vec!["module_start Pipeline".to_string()];
    expected.extend(predictor_trail("Predict"));
    expected.push("module_end Pipeline".into());
    assert_eq!(recorder.trail(), expected);
}

#[tokio::test]
async fn callback_errors_are_logged_by_default_and_fail_the_call_when_asked() {
    let lm = || ScriptedLm::sequence([Reply::fields([("answer", json!("4"))])]);
    let predict = Predict::from_signature("question -> answer").unwrap();

    // Default (DSPy): the failing callback is ignored, the others see everything.
    let recorder = Arc::new(Recorder::default());
    let callbacks = Callbacks::new().with(Failing::on_start(CallKind::Lm)).with_shared(recorder.clone());
    let scripted = lm();
    let out = with_callbacks(callbacks, with_lm(scripted.clone(), predict.forward_example(&question(), None))).await;
    assert_eq!(out.unwrap().get_str("answer"), Some("4"));
    assert_eq!(recorder.trail(), predictor_trail("Predict"));

    // Fail: a start handler's error stops the LM call before it is sent.
    let recorder = Arc::new(Recorder::default());
    let callbacks = Callbacks::new()
        .with(Failing::on_start(CallKind::Lm))
        .with_shared(recorder.clone())
        .on_error(CallbackErrorPolicy::Fail);
    let scripted = lm();
    let err = with_callbacks(callbacks, with_lm(scripted.clone(), predict.forward_example(&question(), None)))
        .await
        .unwrap_err();
    let expected = CallbackError::new("no LM calls today");
    assert!(matches!(&err, ModuleError::Lm(LmError::Callback(e)) if *e == expected), "{err:?}");
    assert_eq!(scripted.request_count(), 0, "the request was never sent");
    let lm_end = recorder.events().into_iter().find(|e| e.kind == CallKind::Lm && e.phase == "end").unwrap();
    assert_eq!(lm_end.error.as_deref(), Some("callback failed: no LM calls today"));

    // Fail: an end handler's error replaces the module's success.
    let callbacks = Callbacks::new().with(Failing::on_end(CallKind::Module)).on_error(CallbackErrorPolicy::Fail);
    let scripted = lm();
    let err = with_callbacks(callbacks, with_lm(scripted.clone(), predict.forward_example(&question(), None)))
        .await
        .unwrap_err();
    assert!(matches!(err, ModuleError::Callback(_)), "{err:?}");
    assert_eq!(scripted.request_count(), 1, "the call ran; its result was replaced");
}

/// A streamed call (`streamify`) is reported like a plain one: the LM call
/// goes through `SharedLm::call_streaming`, which the callbacks see too.
#[tokio::test]
async fn a_streamed_predict_reports_the_same_events() {
    use futures::StreamExt;
    let recorder = Arc::new(Recorder::default());
    let lm = ScriptedLm::sequence([Reply::fields([("answer", json!("4"))])]);
    let predict = Predict::from_signature("question -> answer").unwrap();
    let callbacks = Callbacks::new().with_shared(recorder.clone());
    let inputs = question();
    let stream = kestrel_modules::streamify(&predict, &inputs, kestrel_modules::StreamOptions::new()).unwrap();
    let events: Vec<_> = with_callbacks(callbacks, with_lm(lm, stream.collect::<Vec<_>>())).await;
    assert!(events.iter().all(Result::is_ok), "{events:?}");
    assert_eq!(recorder.trail(), predictor_trail("Predict"));
}
