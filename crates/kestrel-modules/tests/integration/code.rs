//! ProgramOfThought, CodeAct and their sandbox (feature `code`): scripted
//! runs (success, error then fix, max iterations, tool calls from code) and
//! escape attempts (file, network, environment, infinite loop, memory bomb,
//! deep recursion), each ending in a typed error within a bounded time.

use std::future::Future;
use std::time::{Duration, Instant};

use kestrel_core::Example;
use kestrel_lm::with_lm;
use kestrel_modules::{
    CodeAct, CodeError, ModuleError, PredictorsExt, ProgramOfThought, PythonSandbox, SandboxLimits, Tool,
};
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::{Value, json};

/// Every sandbox test must end well within this, whatever the code does.
const BOUND: Duration = Duration::from_secs(30);

async fn bounded<T>(future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(BOUND, future).await {
        Ok(out) => out,
        Err(_) => panic!("did not finish within {BOUND:?}"),
    }
}

/// Limits for the tests: 2 s leaves room on a loaded machine (the loops
/// that must hit the memory limit take well under 0.5 s alone).
fn limits() -> SandboxLimits {
    SandboxLimits::default().time_limit(Duration::from_secs(2)).memory_limit(8 * 1024 * 1024).max_recursion_depth(100)
}

async fn run(code: &str) -> Result<kestrel_modules::Execution, CodeError> {
    let mut sandbox = PythonSandbox::with_limits(limits()).unwrap();
    bounded(sandbox.execute(code, &[])).await
}

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

#[tokio::test]
async fn the_sandbox_reports_values_prints_and_submit_and_keeps_state() {
    let mut sandbox = PythonSandbox::with_limits(limits()).unwrap();
    let first = bounded(sandbox.execute("x = [i * i for i in range(5)]\nprint('sum', sum(x))\nx", &[])).await.unwrap();
    assert_eq!(first.value, json!([0, 1, 4, 9, 16]));
    assert_eq!(first.stdout, "sum 30\n");
    assert_eq!(first.output(), json!([0, 1, 4, 9, 16]));
    // State persists; a statement's output is what was printed.
    let second = bounded(sandbox.execute("print(len(x))", &[])).await.unwrap();
    assert_eq!(second.output(), json!("5\n"));
    // SUBMIT ends the run with DSPy's {"output": ...}.
    let third = bounded(sandbox.execute("SUBMIT({'answer': x[-1]})\nprint('not reached')", &[])).await.unwrap();
    assert_eq!(third.submitted, Some(json!({"output": {"answer": 16}})));
    assert_eq!(third.stdout, "");
    // An error leaves the session usable.
    let err = bounded(sandbox.execute("1 / 0", &[])).await.unwrap_err();
    assert!(matches!(&err, CodeError::Exception { kind, .. } if kind == "ZeroDivisionError"), "{err:?}");
    assert_eq!(bounded(sandbox.execute("x[0] + 1", &[])).await.unwrap().value, json!(1));
    let syntax = bounded(sandbox.execute("def (:", &[])).await.unwrap_err();
    assert!(matches!(syntax, CodeError::Syntax { .. }), "{syntax:?}");
}

#[tokio::test]
async fn file_reads_are_refused() {
    for code in ["open('/etc/passwd').read()", "from pathlib import Path\nPath('/etc/passwd').read_text()"] {
        let err = run(code).await.unwrap_err();
        assert!(matches!(&err, CodeError::Forbidden { .. }), "{code}: {err:?}");
    }
    let err = run("from pathlib import Path\nPath('/tmp/kestrel-sandbox-escape').write_text('x')").await.unwrap_err();
    assert!(matches!(&err, CodeError::Forbidden { .. }), "{err:?}");
    assert!(!std::path::Path::new("/tmp/kestrel-sandbox-escape").exists());
}

#[tokio::test]
async fn the_environment_is_refused() {
    for code in ["import os\nos.getenv('HOME')", "import os\nos.environ['PATH']"] {
        let err = run(code).await.unwrap_err();
        assert!(matches!(&err, CodeError::Forbidden { .. }), "{code}: {err:?}");
    }
}

#[tokio::test]
async fn there_is_no_network_or_process_module() {
    for module in ["socket", "urllib.request", "http.client", "subprocess", "ctypes"] {
        let err = run(&format!("import {module}")).await.unwrap_err();
        assert!(
            matches!(&err, CodeError::Exception { kind, .. } if kind == "ModuleNotFoundError"),
            "{module}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_infinite_loop_hits_the_time_limit() {
    let start = Instant::now();
    let err = run("while True:\n    pass").await.unwrap_err();
    assert_eq!(err, CodeError::TimeLimit { limit: Duration::from_secs(2) });
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
    // A loop that catches everything cannot swallow the limit.
    let err = run("while True:\n    try:\n        pass\n    except BaseException:\n        pass").await.unwrap_err();
    assert!(matches!(err, CodeError::TimeLimit { .. }), "{err:?}");
}

#[tokio::test]
async fn memory_bombs_hit_the_memory_limit() {
    for code in [
        "x = 'a' * (10 ** 10)",
        "x = [0] * (10 ** 10)",
        "x = 2 ** (10 ** 10)",
        "items = []\nwhile True:\n    items.append('x' * 10000)",
        "d = {}\ni = 0\nwhile True:\n    d[i] = [i] * 100\n    i += 1",
    ] {
        let err = run(code).await.unwrap_err();
        assert!(matches!(err, CodeError::MemoryLimit { limit: 8388608 }), "{code}: {err:?}");
    }
    // Memory kept in variables counts across snippets, and freed memory is given back.
    let mut sandbox = PythonSandbox::with_limits(limits()).unwrap();
    bounded(sandbox.execute("a = 'x' * 5_000_000", &[])).await.unwrap();
    let err = bounded(sandbox.execute("b = 'y' * 5_000_000", &[])).await.unwrap_err();
    assert!(matches!(err, CodeError::MemoryLimit { .. }), "{err:?}");
    bounded(sandbox.execute("a = None", &[])).await.unwrap();
    bounded(sandbox.execute("b = 'y' * 5_000_000", &[])).await.unwrap();
    // Printing is bounded by the same limit.
    let err = run("while True:\n    print('x' * 10000)").await.unwrap_err();
    assert!(matches!(err, CodeError::MemoryLimit { .. }), "{err:?}");
}

#[tokio::test]
async fn deep_recursion_hits_the_recursion_limit() {
    let err = run("def f(n):\n    return f(n + 1)\nf(0)").await.unwrap_err();
    assert_eq!(err, CodeError::RecursionLimit { limit: 100 });
    // Deeply nested data and its repr stay bounded too.
    let nested = run("x = []\nfor _ in range(100000):\n    x = [x]\nrepr(x)").await;
    let text = nested.unwrap().value;
    assert!(text.as_str().unwrap().starts_with("[[[[") && text.as_str().unwrap().contains("..."), "{text}");
    // Returned as a value, it is cut at 100 levels before it reaches the host.
    let value = run("x = []\nfor _ in range(5000):\n    x = [x]\nx").await.unwrap().value;
    let mut depth = 0;
    let mut at = &value;
    while let Some(inner) = at.as_array().and_then(|a| a.first()) {
        depth += 1;
        at = inner;
    }
    assert_eq!((depth, at), (100, &json!("...")));
}

#[tokio::test]
async fn code_calls_tools_as_python_functions() {
    let mut sandbox = PythonSandbox::with_limits(limits()).unwrap();
    let tools = [weather_tool()];
    let out = bounded(sandbox.execute("a = get_weather('Paris')\nb = get_weather(city='Oslo')\n[a, b]", &tools))
        .await
        .unwrap();
    assert_eq!(out.value, json!(["Sunny in Paris.", "Sunny in Oslo."]));
    // A failing tool raises RuntimeError in the code, which may catch it.
    let code = "try:\n    get_weather('Atlantis')\nexcept RuntimeError as e:\n    print('caught', e)";
    let out = bounded(sandbox.execute(code, &tools)).await.unwrap();
    assert_eq!(out.stdout, "caught unknown city Atlantis\n");
    let err = bounded(sandbox.execute("get_weather('Atlantis')", &tools)).await.unwrap_err();
    assert!(
        matches!(&err, CodeError::Exception { kind, message, .. } if kind == "RuntimeError" && message == "unknown city Atlantis"),
        "{err:?}"
    );
    // Tools not given to this run do not exist.
    let err = bounded(sandbox.execute("forecast('Paris')", &tools)).await.unwrap_err();
    assert!(matches!(&err, CodeError::Exception { kind, .. } if kind == "NameError"), "{err:?}");
    let err = bounded(sandbox.execute("for _ in range(1000):\n    get_weather('Paris')", &tools)).await.unwrap_err();
    assert_eq!(err, CodeError::TooManyToolCalls { limit: 100 });
}

fn code_reply(code: &str) -> Reply {
    Reply::fields([("reasoning", json!("Compute it.")), ("generated_code", json!(format!("```python\n{code}\n```")))])
}

fn answer_reply(answer: &str) -> Reply {
    Reply::fields([("reasoning", json!("From the output.")), ("answer", json!(answer))])
}

fn question(q: &str) -> Example {
    Example::from_pairs([("question", q)])
}

/// DSPy 3.4.1's system prompt of a stage, recorded by
/// `tests/data/record_dspy_code_prompts.py`.
fn dspy_prompt(path: &str) -> String {
    let all: Value = serde_json::from_str(include_str!("../data/dspy_code_prompts.json")).unwrap();
    all[path].as_str().unwrap().to_string()
}

fn system(lm: &ScriptedLm, i: usize) -> String {
    lm.requests()[i].messages[0].content.clone()
}

fn user(lm: &ScriptedLm, i: usize) -> String {
    lm.requests()[i].messages.last().unwrap().content.clone()
}

#[tokio::test]
async fn program_of_thought_runs_the_code_and_answers_from_its_output() {
    let lm = ScriptedLm::sequence([code_reply("result = sum(range(1, 11))"), answer_reply("55")]);
    let pot = ProgramOfThought::from_signature("question -> answer").unwrap();
    let out = bounded(with_lm(lm.clone(), pot.forward_example(&question("Sum 1..10?"), None))).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("55"));
    assert_eq!(lm.requests().len(), 2);
    assert_eq!(system(&lm, 0), dspy_prompt("code_generate.predict"));
    assert_eq!(system(&lm, 1), dspy_prompt("generate_output.predict"));
    let answer_prompt = user(&lm, 1);
    assert!(
        answer_prompt.contains("[[ ## final_generated_code ## ]]\nresult = sum(range(1, 11))\nresult"),
        "{answer_prompt}"
    );
    assert!(answer_prompt.contains("[[ ## code_output ## ]]\n55"), "{answer_prompt}");
    let paths = pot.predictor_paths();
    assert_eq!(paths, ["code_generate.predict", "code_regenerate.predict", "generate_output.predict"]);
}

#[tokio::test]
async fn program_of_thought_feeds_the_error_back_and_uses_the_fix() {
    let lm = ScriptedLm::sequence([
        code_reply("total = 10 / zero"),
        code_reply("SUBMIT({'answer': 10 / 2})"),
        answer_reply("5.0"),
    ]);
    let pot = ProgramOfThought::from_signature("question -> answer").unwrap();
    let out = bounded(with_lm(lm.clone(), pot.forward_example(&question("10 / 2?"), None))).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("5.0"));
    assert_eq!(system(&lm, 1), dspy_prompt("code_regenerate.predict"));
    let regenerate = user(&lm, 1);
    assert!(regenerate.contains("[[ ## previous_code ## ]]\ntotal = 10 / zero\ntotal"), "{regenerate}");
    assert!(regenerate.contains("[[ ## error ## ]]\nNameError: name 'zero' is not defined"), "{regenerate}");
    assert!(user(&lm, 2).contains("[[ ## code_output ## ]]\n{\"output\": {\"answer\": 5.0}}"), "{}", user(&lm, 2));
}

#[tokio::test]
async fn program_of_thought_stops_after_max_iters_with_the_last_error() {
    let lm = ScriptedLm::sequence([
        code_reply("open('/etc/passwd').read()"),
        code_reply("while True:\n    pass"),
        Reply::fields([("reasoning", json!("?")), ("generated_code", json!("a = b = 1"))]),
    ]);
    let pot = ProgramOfThought::from_signature("question -> answer")
        .unwrap()
        .limits(SandboxLimits::default().time_limit(Duration::from_millis(200)));
    let err = bounded(with_lm(lm.clone(), pot.forward_example(&question("?"), None))).await.unwrap_err();
    match err {
        ModuleError::Code { module: "ProgramOfThought", attempts: 3, error: CodeError::Unparsable { message } } => {
            assert_eq!(message, "Error: Code format is not correct.");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        user(&lm, 1).contains("PermissionError: the sandbox has no access to the operating system (`open` was called)"),
        "{}",
        user(&lm, 1)
    );
    assert!(
        user(&lm, 2).contains("TimeoutError: the code ran longer than the sandbox's time limit of 200ms"),
        "{}",
        user(&lm, 2)
    );
}

fn act_reply(code: &str, finished: bool) -> Reply {
    Reply::fields([("generated_code", json!(format!("```python\n{code}\n```"))), ("finished", json!(finished))])
}

#[tokio::test]
async fn code_act_calls_tools_from_code_and_extracts_the_answer() {
    let lm = ScriptedLm::sequence([
        act_reply("forecast = get_weather('Paris')\nprint(forecast)", false),
        act_reply("print(undefined_name)", false),
        act_reply("print(forecast.upper())", true),
        answer_reply("sunny"),
    ]);
    let act = CodeAct::from_signature("question -> answer", [weather_tool()]).unwrap();
    let out = bounded(with_lm(lm.clone(), act.forward_example(&question("Weather in Paris?"), None))).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("sunny"));
    let t = out.get("trajectory").unwrap();
    assert_eq!(t["generated_code_0"], "forecast = get_weather('Paris')\nprint(forecast)");
    assert_eq!(t["code_output_0"], "\"Sunny in Paris.\\n\"");
    assert!(
        t["observation_1"].as_str().unwrap().starts_with("Failed to execute the generated code: NameError:"),
        "{t}"
    );
    assert_eq!(t["code_output_2"], "\"SUNNY IN PARIS.\\n\"");
    assert_eq!(system(&lm, 0), dspy_prompt("codeact"));
    assert_eq!(system(&lm, 3), dspy_prompt("extractor.predict"));
    // The trajectory reaches the next turn as DSPy's json.dumps of the dict.
    assert!(user(&lm, 1).contains("[[ ## trajectory ## ]]\n{\"generated_code_0\": \"forecast = get_weather('Paris')\\nprint(forecast)\", \"code_output_0\": \"\\\"Sunny in Paris.\\\\n\\\"\"}"), "{}", user(&lm, 1));
    // ... and the extractor as blocks.
    assert!(user(&lm, 3).contains("[[ ## generated_code_0 ## ]]\nforecast = get_weather('Paris')"), "{}", user(&lm, 3));
    let paths = act.predictor_paths();
    assert_eq!(paths, ["codeact", "extractor.predict"]);
}

#[tokio::test]
async fn code_act_stops_at_max_iters_and_records_escape_attempts() {
    let lm = ScriptedLm::sequence([
        act_reply("import os\nprint(os.getenv('HOME'))", false),
        Reply::fields([("generated_code", json!("")), ("finished", json!(false))]),
        answer_reply("unknown"),
    ]);
    let act = CodeAct::from_signature("question -> answer", [weather_tool()]).unwrap().max_iters(2);
    let out = bounded(with_lm(lm.clone(), act.forward_example(&question("Where is home?"), None))).await.unwrap();
    let t = out.get("trajectory").unwrap();
    assert_eq!(
        t["observation_0"],
        "Failed to execute the generated code: PermissionError: the sandbox has no access to the operating system (`os.getenv` was called)"
    );
    assert_eq!(t["observation_1"], "Failed to parse the generated code: Error: Empty code after parsing.");
    assert_eq!(lm.requests().len(), 3);
    assert!(
        CodeAct::from_signature(
            "q -> a",
            [Tool::dynamic("SUBMIT", "x", Default::default(), |_| async {
                Ok::<_, std::convert::Infallible>(Value::Null)
            })]
        )
        .is_err()
    );
}

/// Rejects, as a context-window error, any request still showing the
/// trajectory's first step to the extractor.
#[derive(Debug, Clone)]
struct FirstStepTooLong(ScriptedLm);

#[async_trait::async_trait]
impl kestrel_lm::Lm for FirstStepTooLong {
    fn model(&self) -> &str {
        "test/window"
    }
    fn capabilities(&self) -> kestrel_lm::LmCapabilities {
        kestrel_lm::LmCapabilities::default().uncacheable()
    }
    async fn call(&self, request: kestrel_lm::LmRequest) -> Result<kestrel_lm::LmResponse, kestrel_lm::LmError> {
        let last = request.messages.last().map(|m| m.content.as_str()).unwrap_or("");
        if last.contains("[[ ## generated_code_0 ## ]]") {
            return Err(kestrel_lm::LmError::ContextWindowExceeded {
                model: "test/window".into(),
                message: "too long".into(),
            });
        }
        self.0.call(request).await
    }
}

#[tokio::test]
async fn code_act_drops_the_oldest_entries_when_the_extraction_overflows() {
    let script = ScriptedLm::sequence([
        act_reply("print(1)", false),
        act_reply("print(2)", false),
        act_reply("print(3)", false),
        answer_reply("3"),
    ]);
    let act = CodeAct::from_signature("question -> answer", [weather_tool()]).unwrap().max_iters(3);
    let lm = FirstStepTooLong(script.clone());
    let out = bounded(with_lm(lm, act.forward_example(&question("Count."), None))).await.unwrap();
    assert_eq!(out.get_str("answer"), Some("3"));
    let keys: Vec<&String> = out.get("trajectory").unwrap().as_object().unwrap().keys().collect();
    assert_eq!(keys, ["generated_code_2", "code_output_2"]);
    // With one step only, there is nothing to drop: DSPy's error.
    let script = ScriptedLm::sequence([act_reply("print(1)", true)]);
    let err =
        bounded(with_lm(FirstStepTooLong(script), act.forward_example(&question("Count."), None))).await.unwrap_err();
    assert!(err.to_string().contains("cannot be truncated because it only has one tool call"), "{err}");
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<PythonSandbox>();
    check::<SandboxLimits>();
    check::<kestrel_modules::Execution>();
    check::<CodeError>();
    check::<ProgramOfThought>();
    check::<CodeAct>();
    check::<kestrel_modules::WithCodeTrajectory<Value>>();
}

/// The `CodeError` variant's name, and the exception type for exceptions.
fn kind_of(result: &Result<kestrel_modules::Execution, CodeError>) -> String {
    match result {
        Ok(_) => "Ok".into(),
        Err(CodeError::Exception { kind, .. }) => kind.clone(),
        Err(CodeError::Forbidden { operation }) => format!("Forbidden({operation})"),
        Err(CodeError::TimeLimit { .. }) => "TimeLimit".into(),
        Err(CodeError::MemoryLimit { .. }) => "MemoryLimit".into(),
        Err(CodeError::RecursionLimit { .. }) => "RecursionLimit".into(),
        Err(CodeError::Syntax { .. }) => "Syntax".into(),
        Err(other) => format!("{other:?}"),
    }
}

#[tokio::test]
async fn other_ways_out_are_closed_too() {
    let deep_parens = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let cases: [(&str, &str); 17] = [
        ("__import__('os').system('id')", "NameError"),
        ("import os\nos.system('id')", "AttributeError"),
        ("import os\nos.listdir('/')", "AttributeError"),
        ("import os\nos.remove('/tmp/x')", "AttributeError"),
        ("exec('import socket')", "NameError"),
        ("eval('1+1')", "NameError"),
        ("import sys\nsys.exit(1)", "AttributeError"),
        ("import time\ntime.sleep(100)", "ModuleNotFoundError"),
        ("import threading", "ModuleNotFoundError"),
        ("import asyncio\nasync def f():\n    await asyncio.sleep(100)\nasyncio.run(f())", "AttributeError"),
        ("import datetime\ndatetime.datetime.now()", "Forbidden(datetime.now)"),
        ("import json\njson.loads('[' * 100000)", "json.JSONDecodeError"),
        (&deep_parens, "Syntax"),
        ("class A:\n    def __repr__(self):\n        return repr(self)\nrepr(A())", "RecursionLimit"),
        ("sorted(range(10**8))", "MemoryLimit"),
        ("sum(range(10**12))", "TimeLimit"),
        ("x = 0\nfor i in range(10**12):\n    try:\n        x += i\n    finally:\n        x -= i", "TimeLimit"),
    ];
    for (code, expected) in cases {
        let start = Instant::now();
        let out = run(code).await;
        let head: String = code.chars().take(40).collect();
        assert_eq!(kind_of(&out), expected, "{head:?}: {out:?}");
        assert!(start.elapsed() < Duration::from_secs(10), "{head:?} took {:?}", start.elapsed());
    }
}

/// Compute the answer.
#[derive(kestrel_macros::Signature)]
struct Arithmetic {
    #[input]
    question: String,
    #[output]
    answer: i64,
}

#[tokio::test]
async fn typed_program_of_thought_and_code_act() {
    use kestrel_modules::Module;
    let lm = ScriptedLm::sequence([
        code_reply("print(6 * 7)"),
        Reply::fields([("reasoning", json!("It printed 42.")), ("answer", json!(42))]),
    ]);
    let pot = ProgramOfThought::<Arithmetic>::new().unwrap();
    let out = bounded(with_lm(lm.clone(), pot.forward(ArithmeticInput { question: "6 * 7?".into() }))).await.unwrap();
    assert_eq!((out.answer, out.reasoning.as_str()), (42, "It printed 42."));
    assert!(user(&lm, 1).contains("[[ ## code_output ## ]]\n\"42\\n\""), "{}", user(&lm, 1));
    let lm = ScriptedLm::sequence([
        act_reply("print(6 * 7)", true),
        Reply::fields([("reasoning", json!("42.")), ("answer", json!(42))]),
    ]);
    let act = CodeAct::<Arithmetic>::new([]).unwrap();
    let out = bounded(with_lm(lm.clone(), act.forward(ArithmeticInput { question: "6 * 7?".into() }))).await.unwrap();
    assert_eq!(out.answer, 42);
    assert_eq!(out.trajectory["code_output_0"], "\"42\\n\"");
    // The signature's instructions lead CodeAct's.
    assert!(system(&lm, 0).contains("Compute the answer.\n"), "{}", system(&lm, 0));
}
