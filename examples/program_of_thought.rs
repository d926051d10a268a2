//! ProgramOfThought and CodeAct: the model writes Python, Kestrel runs it in
//! the Monty sandbox (no file system, network or environment; time, memory
//! and recursion limits) and answers from its output.
//!
//! Offline: a scripted LM plays the model, so the run shows the real loop
//! with no key and no network. The first program fails (a `NameError`),
//! its error goes back to the model, the fix runs, and the answer comes from
//! the code's output; then a CodeAct agent calls a Rust tool from its code;
//! last, a sandbox runs a snippet, refuses a file read and a network module,
//! and stops an infinite loop, a memory bomb and runaway recursion, printing
//! how long each took.
//!
//! ```sh
//! cargo run -p kestrel-examples --features code --example program_of_thought
//! ```

use std::time::Duration;

use kestrel::lm::with_lm;
use kestrel::modules::Tool;
use kestrel::modules::code::{CodeAct, ProgramOfThought, PythonSandbox, SandboxLimits};
use kestrel::prelude::*;
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::json;

#[derive(serde::Deserialize, JsonSchema)]
struct CityArgs {
    /// The city's name.
    city: String,
}

fn code(reasoning: &str, code: &str) -> Reply {
    Reply::fields([("reasoning", json!(reasoning)), ("generated_code", json!(format!("```python\n{code}\n```")))])
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // ProgramOfThought: generate → run → (error) regenerate → run → answer.
    let lm = ScriptedLm::sequence([
        code(
            "Sum the primes below 50.",
            "primes = [n for n in range(2, 50) if all(n % d for d in range(2, n))]\ntotal = sum(primez)",
        ),
        code(
            "Fix the typo.",
            "primes = [n for n in range(2, 50) if all(n % d for d in range(2, n))]\ntotal = sum(primes)",
        ),
        Reply::fields([("reasoning", json!("The code printed 328.")), ("answer", json!("328"))]),
    ]);
    let pot = ProgramOfThought::from_signature("question -> answer")?;
    let question = Example::from_pairs([("question", "What is the sum of the primes below 50?")]);
    let out = with_lm(lm.clone(), pot.forward_example(&question, None)).await?;
    println!("ProgramOfThought answer: {}", out.get_str("answer").unwrap_or_default());
    for (i, request) in lm.requests().iter().enumerate() {
        let user = request.messages.last().map(|m| m.content.as_str()).unwrap_or_default();
        if let Some(error) = user.split("[[ ## error ## ]]\n").nth(1) {
            println!("  call {i}: the model was shown the error: {}", error.lines().next().unwrap_or_default());
        }
        if let Some(output) = user.split("[[ ## code_output ## ]]\n").nth(1) {
            println!(
                "  call {i}: the model was shown the code's output: {}",
                output.lines().next().unwrap_or_default()
            );
        }
    }

    // CodeAct: the code calls a Rust tool as a Python function.
    let weather = Tool::new("get_weather", "Get the current weather for a city.", |args: CityArgs| async move {
        match args.city.as_str() {
            "Paris" => Ok("sunny, 21C".to_string()),
            other => Err(format!("no weather station for {other}")),
        }
    });
    let lm = ScriptedLm::sequence([
        Reply::fields([
            ("generated_code", json!("```python\nprint(get_weather(city='Paris'))\n```")),
            ("finished", json!(true)),
        ]),
        Reply::fields([("reasoning", json!("The tool said sunny.")), ("answer", json!("Sunny, 21C."))]),
    ]);
    let act = CodeAct::from_signature("question -> answer", [weather])?;
    let question = Example::from_pairs([("question", "What is the weather in Paris?")]);
    let out = with_lm(lm, act.forward_example(&question, None)).await?;
    println!("CodeAct answer: {}", out.get_str("answer").unwrap_or_default());
    println!("  trajectory: {}", out.get("trajectory").cloned().unwrap_or_default());

    // The sandbox itself: escapes end in typed errors.
    let limits = SandboxLimits::default().time_limit(Duration::from_millis(200));
    let mut sandbox = PythonSandbox::with_limits(limits)?;
    let attempts = [
        "sum(i * i for i in range(1000))",
        "open('/etc/passwd').read()",
        "import socket",
        "while True:\n    pass",
        "'x' * 10**10",
        "def f(n):\n    return f(n + 1)\nf(0)",
    ];
    for attempt in attempts {
        let started = std::time::Instant::now();
        let result = sandbox.execute(attempt, &[]).await;
        let took = started.elapsed();
        let head = attempt.lines().next().unwrap_or_default();
        match result {
            Ok(run) => println!("sandbox: {head:?} -> {} ({took:.1?})", run.output()),
            Err(error) => println!("sandbox: {head:?} -> {error} ({took:.1?})"),
        }
    }
    Ok(())
}
