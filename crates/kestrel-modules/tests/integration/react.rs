//! ReAct beyond the fixture: failing tools and bad arguments fed back as
//! observations, `max_iters`, an unknown tool name (an error), context-window
//! truncation, typed use and predictor paths.

use kestrel_core::{Example, Signature as _};
use kestrel_lm::{CallConfig, LmError, with_lm};
use kestrel_macros::Signature;
use kestrel_modules::{Module, ModuleError, PredictorsExt, ReAct, Tool};
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::{Value, json};

use crate::test_lms::WindowLm;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct CityArgs {
    city: String,
}

fn weather_tool() -> Tool {
    Tool::new("get_weather", "Get the weather.", |args: CityArgs| async move {
        if args.city == "Atlantis" {
            Err(format!("unknown city {}", args.city))
        } else {
            Ok(format!("Sunny in {}.", args.city))
        }
    })
}

fn step(thought: &str, tool: &str, args: Value) -> Reply {
    Reply::fields([("next_thought", json!(thought)), ("next_tool_name", json!(tool)), ("next_tool_args", args)])
}

fn extract(answer: &str) -> Reply {
    Reply::fields([("reasoning", json!("Done.")), ("answer", json!(answer))])
}

fn question(q: &str) -> Example {
    Example::from_pairs([("question", q)])
}

fn agent() -> ReAct {
    ReAct::from_signature("question -> answer", [weather_tool()]).unwrap()
}

#[tokio::test]
async fn a_failing_tool_becomes_an_observation_and_the_agent_goes_on() {
    let lm = ScriptedLm::sequence([
        step("Check Atlantis.", "get_weather", json!({"city": "Atlantis"})),
        step("Wrong type.", "get_weather", json!({"city": 5})),
        step("Wrong name.", "get_weather", json!({"town": "Paris"})),
        step("Give up.", "finish", json!({})),
        extract("unknown"),
    ]);
    let out = with_lm(lm.clone(), agent().forward_example(&question("Weather in Atlantis?"), None)).await.unwrap();
    let t = out.get("trajectory").unwrap();
    assert_eq!(t["observation_0"], "Execution error in get_weather: unknown city Atlantis");
    assert_eq!(t["observation_1"], "Execution error in get_weather: Arg city is invalid: 5 is not of type 'string'");
    assert_eq!(t["observation_2"], "Execution error in get_weather: Arg town is not in the tool's args.");
    assert_eq!(t["observation_3"], "Completed.");
    assert_eq!(out.get_str("answer"), Some("unknown"));
    // The error reached the LM in the next prompt.
    let second = &lm.requests()[1];
    assert!(
        second.messages[1]
            .content
            .contains("[[ ## observation_0 ## ]]\nExecution error in get_weather: unknown city Atlantis")
    );
    assert_eq!(lm.request_count(), 5);
}

#[tokio::test]
async fn max_iters_ends_the_loop_then_extracts() {
    let looping = || step("Again.", "get_weather", json!({"city": "Paris"}));
    let lm = ScriptedLm::sequence([looping(), looping(), extract("Sunny")]);
    let out = with_lm(lm.clone(), agent().max_iters(2).forward_example(&question("Weather?"), None)).await.unwrap();
    let t = out.get("trajectory").unwrap().as_object().unwrap();
    assert_eq!(t.len(), 8, "two steps of four keys");
    assert_eq!(t["observation_1"], "Sunny in Paris.");
    assert_eq!(lm.request_count(), 3);
    let last = &lm.requests()[2];
    assert!(last.messages[0].content.contains("`reasoning`"), "the last call is the extraction");

    // A `max_iters` input overrides the setting, as DSPy's `react(..., max_iters=1)`.
    let lm = ScriptedLm::sequence([looping(), extract("Sunny")]);
    let inputs = question("Weather?").with("max_iters", 1);
    let out = with_lm(lm.clone(), agent().forward_example(&inputs, None)).await.unwrap();
    assert_eq!(out.get("trajectory").unwrap().as_object().unwrap().len(), 4);
    assert!(!lm.requests()[0].messages[1].content.contains("max_iters"));
}

/// DSPy 3.4.1 (checked with a DummyLM): two requests, then the JSONAdapter's
/// `AdapterParseError` ("Failed to parse field next_tool_name: ...") reaches
/// the caller; there is no extraction call.
#[tokio::test]
async fn an_unknown_tool_name_is_an_error_after_the_json_fallback() {
    let lm = ScriptedLm::sequence([
        step("Use the oracle.", "oracle", json!({})),
        Reply::Text(r#"{"next_thought": "Oracle!", "next_tool_name": "oracle", "next_tool_args": {}}"#.into()),
        extract("no idea"),
    ]);
    let err = with_lm(lm.clone(), agent().forward_example(&question("Who?"), None)).await.unwrap_err();
    match &err {
        ModuleError::Lm(LmError::Parse(p)) => {
            assert_eq!(p.adapter_name, "JSONAdapter");
            assert!(p.to_string().starts_with("Failed to parse field next_tool_name: "), "{p}");
        }
        other => panic!("expected the JSON adapter's parse error, got {other:?}"),
    }
    assert_eq!(lm.request_count(), 2, "chat, JSON fallback, no extraction");
}

#[tokio::test]
async fn a_reply_missing_fields_is_an_error_as_in_dspy() {
    let lm = ScriptedLm::sequence(["[[ ## next_thought ## ]]\nhm", "{}"]);
    let err = with_lm(lm, agent().forward_example(&question("Who?"), None)).await.unwrap_err();
    assert!(matches!(err, ModuleError::Lm(LmError::Parse(_))), "{err:?}");
}

/// `forward_example(inputs, overrides)` as Predict's: the per-call options
/// reach every request of both predictors.
#[tokio::test]
async fn call_overrides_reach_both_predictors() {
    let lm = ScriptedLm::sequence([step("Done.", "finish", json!({})), extract("Sunny")]);
    let overrides = CallConfig { temperature: Some(0.25), ..CallConfig::default() };
    let out = with_lm(lm.clone(), agent().forward_example(&question("Weather?"), Some(&overrides))).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("Sunny"));
    let temperatures: Vec<Option<f32>> = lm.requests().iter().map(|r| r.temperature).collect();
    assert_eq!(temperatures, [Some(0.25), Some(0.25)]);
}

#[tokio::test]
async fn context_overflow_drops_the_oldest_steps() {
    let paris = || step("Look.", "get_weather", json!({"city": "Paris"}));
    let scripted = ScriptedLm::sequence([paris(), paris(), step("Done.", "finish", json!({})), extract("Sunny")]);
    let lm = WindowLm::new(scripted.clone(), 2);
    let out = with_lm(lm.clone(), agent().forward_example(&question("Weather?"), None)).await.unwrap();
    // Call 3 saw steps 0 and 1: rejected, step 0 dropped. The extraction saw
    // steps 1 and 2: rejected, step 1 dropped.
    assert_eq!(*lm.rejected.lock().unwrap(), 2);
    let t = out.get("trajectory").unwrap().as_object().unwrap();
    assert_eq!(t.keys().collect::<Vec<_>>(), ["thought_2", "tool_name_2", "tool_args_2", "observation_2"]);
    assert_eq!(out.get_str("answer"), Some("Sunny"));
    assert_eq!(scripted.request_count(), 4);
}

#[tokio::test]
async fn context_overflow_with_one_step_left_is_an_error() {
    let paris = step("Look.", "get_weather", json!({"city": "Paris"}));
    let lm = WindowLm::new(ScriptedLm::sequence([paris]), 1);
    let err = with_lm(lm, agent().forward_example(&question("Weather?"), None)).await.unwrap_err();
    match err {
        ModuleError::Lm(LmError::ContextWindowExceeded { message, .. }) => {
            assert!(message.contains("cannot be truncated because it only has one tool call"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// Answer questions about the weather.
#[derive(Signature)]
struct WeatherQa {
    #[input]
    question: String,
    #[output]
    answer: String,
}

#[tokio::test]
async fn typed_react_returns_outputs_with_the_trajectory() {
    let agent = ReAct::<WeatherQa>::new([weather_tool()]).unwrap().max_iters(3);
    assert_eq!(agent.get_max_iters(), 3);
    assert_eq!(agent.predictor_paths(), ["react", "extract.predict"]);
    let names: Vec<&str> = agent.tools().iter().map(Tool::name).collect();
    assert_eq!(names, ["get_weather", "finish"]);
    assert!(agent.react.signature_spec().instructions().starts_with("Answer questions about the weather.\n\n"));
    let lm = ScriptedLm::sequence([
        step("Look.", "get_weather", json!({"city": "Oslo"})),
        step("Done.", "finish", json!({})),
        extract("Sunny in Oslo."),
    ]);
    let copy = agent.clone();
    let out = with_lm(lm, copy.forward(WeatherQaInput { question: "Oslo?".into() })).await.unwrap();
    assert_eq!(out.answer, "Sunny in Oslo.");
    assert_eq!(out.reasoning, "Done.");
    assert_eq!(out.trajectory.len(), 2);
    assert_eq!(out.trajectory.steps()[0].observation, json!("Sunny in Oslo."));
    assert_eq!(out.trajectory.steps()[1].tool_name, "finish");
    assert_eq!(WeatherQa::spec().to_string(), "question -> answer");
    assert!(format!("{agent:?}").contains("get_weather"));
}

#[test]
fn tool_names_must_be_unique_and_not_finish() {
    let dup = ReAct::from_signature("q -> a", [weather_tool(), weather_tool()]).unwrap_err();
    assert!(dup.to_string().contains("two tools are named `get_weather`"), "{dup}");
    let finish = Tool::dynamic("finish", "", serde_json::Map::new(), |_| async { Ok::<_, String>(json!(1)) });
    let err = ReAct::from_signature("q -> a", [finish]).unwrap_err();
    assert!(err.to_string().contains("`finish` is ReAct's own tool"), "{err}");
}
