//! DSPy's custom types end to end over HTTP, for both provider wires
//! (OpenAI chat completions and Anthropic messages) against the testkit's
//! mock server: native function calling in `Predict` (tools sent through
//! the API, tool calls parsed into `ToolCalls`), ReAct in native mode
//! keeping text mode's trajectory, and `History` / `Image` inputs reaching
//! the wire as prior turns and image content parts.

use kestrel::lm::providers::{AnthropicProvider, OpenAiProvider};
use kestrel::prelude::*;
use kestrel_testkit::ScriptedLm;
use kestrel_testkit::mock::{MockReply, MockServer, Responder};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
enum Wire {
    OpenAi,
    Anthropic,
}

const WIRES: [Wire; 2] = [Wire::OpenAi, Wire::Anthropic];

fn lm(wire: Wire, server: &MockServer) -> SharedLm {
    match wire {
        Wire::OpenAi => OpenAiProvider::new("gpt-4o-mini").base_url(server.base_url()).api_key("sk-test").into(),
        Wire::Anthropic => AnthropicProvider::new("claude-3-5-haiku-latest")
            .base_url(server.anthropic_base_url())
            .api_key("sk-ant-test")
            .into(),
    }
}

/// The request bodies the server saw.
fn bodies(server: &MockServer) -> Vec<Value> {
    server.requests().into_iter().map(|r| r.body.unwrap()).collect()
}

/// The system prompt of a body, whichever the wire.
fn system(wire: Wire, body: &Value) -> String {
    match wire {
        Wire::OpenAi => body["messages"][0]["content"].as_str().unwrap().to_string(),
        Wire::Anthropic => body["system"].as_str().unwrap().to_string(),
    }
}

/// The names of the tools in a body, whichever the wire.
fn tool_names(wire: Wire, body: &Value) -> Vec<String> {
    let pointer = match wire {
        Wire::OpenAi => "/function/name",
        Wire::Anthropic => "/name",
    };
    body["tools"].as_array().unwrap().iter().map(|t| t.pointer(pointer).unwrap().as_str().unwrap().into()).collect()
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct CityArgs {
    city: String,
}

fn weather() -> Tool {
    Tool::infallible("get_weather", "Get the weather.", |a: CityArgs| async move { format!("Sunny in {}.", a.city) })
}

#[tokio::test]
async fn predict_sends_tools_natively_and_parses_tool_calls_on_both_wires() {
    for wire in WIRES {
        let server = MockServer::start(Responder::replies([
            MockReply::call("get_weather", json!({"city": "Paris"})),
            MockReply::text("[[ ## answer ## ]]\nNo tool needed.\n\n[[ ## completed ## ]]"),
        ]))
        .await
        .unwrap();
        let predict = Predict::from_signature("question: str, tools: list[Tool] -> answer: str, tool_calls: ToolCalls")
            .unwrap()
            .native_function_calling(true)
            .lm(lm(wire, &server));
        let inputs = Example::from_pairs([
            ("question", json!("Weather in Paris?")),
            ("tools", json!([serde_json::to_value(weather().spec()).unwrap()])),
        ]);
        let out = predict.forward_example(&inputs, None).await.unwrap();
        let calls = ToolCalls::from_value(out.get("tool_calls").unwrap()).unwrap();
        assert_eq!(calls.tool_calls.len(), 1, "{wire:?}");
        assert_eq!(calls.tool_calls[0].name, "get_weather");
        assert_eq!(calls.tool_calls[0].args["city"], "Paris");
        assert!(calls.tool_calls[0].id.is_some(), "{wire:?}: the provider's call id is kept");
        assert_eq!(out.get("answer"), Some(&Value::Null), "{wire:?}: a tool-call reply has no answer");

        // A text reply: the answer parses, no tool calls.
        let out = predict.forward_example(&inputs, None).await.unwrap();
        assert_eq!(out.get_str("answer"), Some("No tool needed."));
        assert_eq!(out.get("tool_calls"), Some(&Value::Null));

        let body = &bodies(&server)[0];
        assert_eq!(tool_names(wire, body), ["get_weather"]);
        let schema = match wire {
            Wire::OpenAi => &body["tools"][0]["function"]["parameters"],
            Wire::Anthropic => &body["tools"][0]["input_schema"],
        };
        assert_eq!(schema["required"], json!(["city"]), "{wire:?}");
        let system = system(wire, body);
        assert!(system.contains("1. `question` (str)") && !system.contains("`tools` (list[Tool])"), "{system}");
        assert!(!system.contains("[[ ## tool_calls ## ]]"), "the ToolCalls field left the prompt: {system}");
    }
}

#[tokio::test]
async fn without_function_calling_the_tool_calls_come_from_the_text() {
    let reply = "[[ ## answer ## ]]\nx\n\n[[ ## tool_calls ## ]]\n{\"tool_calls\": [{\"name\": \"get_weather\", \
                 \"args\": {\"city\": \"Oslo\"}}]}\n\n[[ ## completed ## ]]";
    let scripted = ScriptedLm::sequence([reply]);
    let predict = Predict::from_signature("question, tools: list[Tool] -> answer, tool_calls: ToolCalls")
        .unwrap()
        .native_function_calling(true)
        .lm(scripted.clone());
    let inputs = Example::from_pairs([
        ("question", json!("Weather in Oslo?")),
        ("tools", json!([serde_json::to_value(weather().spec()).unwrap()])),
    ]);
    let out = predict.forward_example(&inputs, None).await.unwrap();
    assert_eq!(out.get("tool_calls").unwrap()["tool_calls"][0]["args"]["city"], "Oslo");
    let prompt = &scripted.requests()[0].messages[1].content;
    assert!(prompt.contains("get_weather, whose description is <desc>Get the weather.</desc>."), "{prompt}");
}

#[tokio::test]
async fn a_tool_calls_output_without_tools_is_an_error() {
    let server = MockServer::start(Responder::replies([])).await.unwrap();
    let predict = Predict::from_signature("question -> tool_calls: ToolCalls")
        .unwrap()
        .native_function_calling(true)
        .lm(lm(Wire::OpenAi, &server));
    let err = predict.forward_example(&Example::from_pairs([("question", "q")]), None).await.unwrap_err();
    assert!(err.to_string().contains("did not provide any tools"), "{err}");
    assert_eq!(server.request_count(), 0);
}

fn step_text(thought: &str) -> String {
    format!("[[ ## next_thought ## ]]\n{thought}\n\n[[ ## completed ## ]]")
}

fn text_step(thought: &str, tool: &str, args: Value) -> MockReply {
    MockReply::text(format!(
        "[[ ## next_thought ## ]]\n{thought}\n\n[[ ## next_tool_name ## ]]\n{tool}\n\n[[ ## next_tool_args ## ]]\n{args}\n\n[[ ## completed ## ]]"
    ))
}

fn extraction() -> MockReply {
    MockReply::text("[[ ## reasoning ## ]]\nIt is sunny.\n\n[[ ## answer ## ]]\nSunny\n\n[[ ## completed ## ]]")
}

#[tokio::test]
async fn react_native_keeps_the_text_mode_trajectory_on_both_wires() {
    let question = Example::from_pairs([("question", "Weather in Paris?")]);
    for wire in WIRES {
        let text_server = MockServer::start(Responder::replies([
            text_step("Check the weather.", "get_weather", json!({"city": "Paris"})),
            text_step("Done.", "finish", json!({})),
            extraction(),
        ]))
        .await
        .unwrap();
        let text_agent = ReAct::from_signature("question -> answer", [weather()]).unwrap().lm(lm(wire, &text_server));
        let text_run = text_agent.forward_example(&question, None).await.unwrap();

        let native_server = MockServer::start(Responder::replies([
            MockReply::call("get_weather", json!({"city": "Paris"})).with_text(step_text("Check the weather.")),
            MockReply::call("finish", json!({})).with_text(step_text("Done.")),
            extraction(),
        ]))
        .await
        .unwrap();
        let native_agent = ReAct::from_signature("question -> answer", [weather()])
            .unwrap()
            .native_function_calling(true)
            .lm(lm(wire, &native_server));
        let native_run = native_agent.forward_example(&question, None).await.unwrap();

        assert_eq!(native_run.get("trajectory"), text_run.get("trajectory"), "{wire:?}");
        assert_eq!(native_run.get("trajectory").unwrap()["observation_0"], "Sunny in Paris.");
        assert_eq!(native_run.get_str("answer"), Some("Sunny"));
        assert_eq!(native_run.get_str("answer"), text_run.get_str("answer"));

        let native = bodies(&native_server);
        assert_eq!(native.len(), 3);
        assert_eq!(tool_names(wire, &native[0]), ["get_weather", "finish"], "{wire:?}");
        assert!(native[2].get("tools").is_none(), "the extraction is a text call");
        let system = system(wire, &native[0]);
        assert!(!system.contains("[[ ## next_tool_name ## ]]"), "{system}");
        assert!(system.contains("(1) get_weather, whose description is"), "the instructions stay: {system}");
        // The second step sees the first step's observation, as in text mode.
        let text = bodies(&text_server);
        let last_user = |body: &Value| -> String {
            let messages = body["messages"].as_array().unwrap();
            messages.last().unwrap()["content"].as_str().unwrap().to_string()
        };
        let native_user = last_user(&native[1]);
        assert!(native_user.contains("[[ ## observation_0 ## ]]\nSunny in Paris."), "{native_user}");
        assert_eq!(native_user.split("Respond with").next(), last_user(&text[1]).split("Respond with").next());
    }
}

#[tokio::test]
async fn react_native_with_no_tool_call_is_an_error() {
    let server = MockServer::start(Responder::replies([MockReply::text(step_text("Hmm."))])).await.unwrap();
    let agent = ReAct::from_signature("question -> answer", [weather()])
        .unwrap()
        .native_function_calling(true)
        .lm(lm(Wire::OpenAi, &server));
    let err = agent.forward_example(&Example::from_pairs([("question", "q")]), None).await.unwrap_err();
    assert!(err.to_string().contains("called no tool"), "{err}");
}

#[tokio::test]
async fn history_and_images_reach_both_wires() {
    for wire in WIRES {
        let server = MockServer::start(Responder::replies([MockReply::text(
            "[[ ## answer ## ]]\nA cat.\n\n[[ ## completed ## ]]",
        )]))
        .await
        .unwrap();
        let predict = Predict::from_signature("question, history: History, image: Image -> answer")
            .unwrap()
            .lm(lm(wire, &server));
        let history = History::default().turn([("question", json!("Hi?")), ("answer", json!("Hello."))]);
        let image = Image::from_bytes_with_mime(b"\x89PNG\r\n\x1a\nfake", "image/png");
        let inputs =
            Example::from_serialize(&json!({"question": "What is this?", "history": history, "image": image})).unwrap();
        let out = predict.forward_example(&inputs, None).await.unwrap();
        assert_eq!(out.get_str("answer"), Some("A cat."));

        let body = &bodies(&server)[0];
        let messages = body["messages"].as_array().unwrap();
        let offset = usize::from(matches!(wire, Wire::OpenAi)); // OpenAI keeps the system message in the list
        assert_eq!(messages.len(), 3 + offset, "{wire:?}: history turn pair + request");
        assert_eq!(messages[offset]["role"], "user");
        assert!(messages[offset]["content"].as_str().unwrap().starts_with("[[ ## question ## ]]\nHi?"));
        assert_eq!(messages[offset + 1]["content"], "[[ ## answer ## ]]\nHello.\n\n[[ ## completed ## ]]\n");
        let parts = messages[offset + 2]["content"].as_array().unwrap();
        let image_part = match wire {
            Wire::OpenAi => json!({"type": "image_url", "image_url": {"url": image.url}}),
            Wire::Anthropic => json!({"type": "image", "source": {"type": "base64", "media_type": "image/png",
                "data": image.url.split_once(',').unwrap().1}}),
        };
        assert_eq!(parts[1], image_part, "{wire:?}");
        assert_eq!(parts[0]["text"], "[[ ## question ## ]]\nWhat is this?\n\n[[ ## image ## ]]\n");
        assert!(parts[2]["text"].as_str().unwrap().starts_with("\n\nRespond with"));
    }
}

/// Describe the picture.
#[derive(Signature)]
struct Describe {
    #[input]
    question: String,
    #[input]
    history: History,
    #[input]
    image: Image,
    #[output]
    answer: String,
}

/// Pick tools.
#[derive(Signature)]
struct PickTools {
    #[input]
    question: String,
    #[input]
    tools: Vec<ToolSpec>,
    #[output]
    tool_calls: ToolCalls,
}

#[tokio::test]
async fn typed_signatures_carry_the_custom_types() {
    let typed: Vec<FieldType> = Describe::spec().fields().map(|f| f.ty.clone()).collect();
    let parsed = SignatureSpec::parse("question, history: History, image: Image -> answer").unwrap();
    assert_eq!(typed, parsed.fields().map(|f| f.ty.clone()).collect::<Vec<_>>());

    let server =
        MockServer::start(Responder::replies([MockReply::call("get_weather", json!({"city": "Rome"}))])).await.unwrap();
    let predict = Predict::<PickTools>::new().native_function_calling(true).lm(lm(Wire::OpenAi, &server));
    let out = predict
        .forward(PickToolsInput { question: "Weather in Rome?".into(), tools: vec![weather().spec()] })
        .await
        .unwrap();
    assert_eq!(out.tool_calls.tool_calls[0].name, "get_weather");
    assert_eq!(out.tool_calls.tool_calls[0].args["city"], "Rome");
    assert_eq!(tool_names(Wire::OpenAi, &bodies(&server)[0]), ["get_weather"]);
}

#[tokio::test]
async fn the_json_adapter_calls_functions_natively_by_default_as_in_dspy() {
    let server =
        MockServer::start(Responder::replies([MockReply::call("get_weather", json!({"city": "Oslo"}))])).await.unwrap();
    let predict = Predict::from_signature("question, tools: list[Tool] -> answer, tool_calls: ToolCalls")
        .unwrap()
        .adapter(kestrel::lm::AdapterChoice::Json)
        .lm(lm(Wire::OpenAi, &server));
    assert!(predict.uses_native_function_calling());
    assert!(!Predict::from_signature("q -> a").unwrap().uses_native_function_calling(), "ChatAdapter: off");
    let inputs = Example::from_pairs([
        ("question", json!("Weather in Oslo?")),
        ("tools", json!([serde_json::to_value(weather().spec()).unwrap()])),
    ]);
    let out = predict.forward_example(&inputs, None).await.unwrap();
    assert_eq!(out.get("tool_calls").unwrap()["tool_calls"][0]["args"]["city"], "Oslo");
    assert_eq!(tool_names(Wire::OpenAi, &bodies(&server)[0]), ["get_weather"]);
}

#[tokio::test]
async fn tool_call_replies_are_cached_on_disk_and_replayed() {
    let server =
        MockServer::start(Responder::replies([MockReply::call("get_weather", json!({"city": "Lima"}))])).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = || -> SharedLm {
        let provider = OpenAiProvider::new("gpt-4o-mini").base_url(server.base_url()).api_key("sk-test");
        kestrel::lm::LmBuilder::new(provider)
            .cache(kestrel::lm::cache::CacheConfig::default().with_dir(dir.path().into()))
            .retry(kestrel::lm::RetryPolicy::none())
            .build()
            .unwrap()
            .into()
    };
    let inputs = Example::from_pairs([
        ("question", json!("Weather in Lima?")),
        ("tools", json!([serde_json::to_value(weather().spec()).unwrap()])),
    ]);
    let predict = Predict::from_signature("question, tools: list[Tool] -> answer, tool_calls: ToolCalls")
        .unwrap()
        .native_function_calling(true)
        .lm(client());
    let first = predict.forward_example(&inputs, None).await.unwrap();
    // The script has one reply: the second call must come from the cache.
    let second = predict.forward_example(&inputs, None).await.unwrap();
    assert_eq!(first.get("tool_calls"), second.get("tool_calls"));
    assert_eq!(second.get("tool_calls").unwrap()["tool_calls"][0]["args"]["city"], "Lima");
    assert_eq!(server.request_count(), 1);
    // A fresh client (empty memory level) reads the reply back from disk.
    let from_disk = predict.clone().lm(client()).forward_example(&inputs, None).await.unwrap();
    assert_eq!(from_disk.get("tool_calls"), first.get("tool_calls"));
    assert_eq!(server.request_count(), 1);
    // Another tool list is another request (tools are in the cache key).
    let other = Example::from_pairs([("question", json!("Weather in Lima?")), ("tools", json!([]))]);
    assert!(predict.forward_example(&other, None).await.is_err(), "the script ran out: it reached the server");
    assert_eq!(server.request_count(), 2);
}
