//! The interpreter thread behind a [`PythonSandbox`](super::PythonSandbox):
//! it owns one Monty REPL session (state persists between snippets, as in
//! DSPy's interpreter), runs each snippet under a fresh set of resource
//! limits, and answers every way the code can reach outside: host functions
//! (tools and `SUBMIT`) go to the async host through a channel, OS calls
//! (files, environment, clock) stop the run with [`CodeError::Forbidden`].

use std::sync::mpsc as std_mpsc;
use std::thread;

use futures::channel::mpsc::UnboundedSender;
use monty::{MontyRepl, ReplProgress};
use monty_types::{
    CompileOptions, ExcType, ExtFunctionResult, LimitedTracker, MontyException, MontyObject, NameLookupResult,
    PrintWriter, ResourceLimits,
};
use serde_json::{Map, Value};

use super::error::CodeError;
use super::sandbox::SandboxLimits;
use super::values::{from_json, to_json};

/// The name of DSPy's built-in function that ends a run with a final output.
pub(crate) const SUBMIT: &str = "SUBMIT";

/// Stack of the interpreter thread: generous, so that the engine's own
/// recursion (parser, `repr` of nested values) reaches the recursion and
/// memory limits long before the end of the native stack.
const STACK_BYTES: usize = 256 * 1024 * 1024;

/// A snippet to run.
pub(crate) struct Job {
    pub code: String,
    /// Host functions the code may call (tools; `SUBMIT` is always there).
    pub functions: Vec<String>,
    pub limits: SandboxLimits,
    pub events: UnboundedSender<Event>,
}

/// What the interpreter thread reports while running a [`Job`].
pub(crate) enum Event {
    /// The code called a host function: answer on `reply` (an `Err` is
    /// raised in the code as a `RuntimeError`).
    Call { name: String, args: Vec<Value>, kwargs: Map<String, Value>, reply: std_mpsc::Sender<Answer> },
    /// The snippet ended.
    Done(Result<Outcome, CodeError>),
}

/// The host's answer to a [`Event::Call`].
pub(crate) enum Answer {
    /// The tool's result.
    Value(Value),
    /// The tool failed: raised in the code as `RuntimeError(message)`.
    Failed(String),
    /// No such function in this run: the code gets a `NameError`.
    NotFound,
}

/// How a snippet ended without error.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The value of the last expression (`null` for `None` or a statement).
    pub value: Value,
    /// What the code printed.
    pub stdout: String,
    /// What the code passed to `SUBMIT`, if it called it.
    pub submitted: Option<Value>,
}

/// Start an interpreter thread with these limits; it runs jobs until
/// `jobs`' sender is dropped. The session's memory accounting spans its
/// snippets (what earlier snippets keep in variables counts); the time
/// budget starts afresh with each snippet.
pub(crate) fn spawn(name: &str, limits: &SandboxLimits) -> std::io::Result<std_mpsc::Sender<Job>> {
    let (tx, rx) = std_mpsc::channel::<Job>();
    let tracker = tracker_for(limits);
    thread::Builder::new().name(format!("kestrel-sandbox-{name}")).stack_size(STACK_BYTES).spawn(move || {
        let mut session = Some(MontyRepl::new("main.py", tracker, CompileOptions::default()));
        while let Ok(job) = rx.recv() {
            let Some(repl) = session.take() else { break };
            let (repl, result) = run_job(repl, &job);
            // The host may have given up waiting (its deadline passed): nothing to tell.
            let _ = job.events.unbounded_send(Event::Done(result));
            session = Some(repl);
        }
    })?;
    Ok(tx)
}

type Repl = MontyRepl<LimitedTracker>;

fn tracker_for(limits: &SandboxLimits) -> LimitedTracker {
    let mut l = ResourceLimits::new().max_recursion_depth(Some(limits.max_recursion_depth));
    l = l.max_duration(limits.time_limit).max_memory(limits.memory_limit);
    LimitedTracker::new(l)
}

fn run_job(mut repl: Repl, job: &Job) -> (Repl, Result<Outcome, CodeError>) {
    repl.tracker_mut().set_max_duration(job.limits.time_limit);
    let mut stdout = String::new();
    let mut submitted: Option<Value> = None;
    let mut calls = 0usize;
    let max_out = Some(job.limits.memory_limit);
    let mut inputs: Vec<(String, MontyObject)> = vec![(SUBMIT.to_string(), function(SUBMIT))];
    inputs.extend(job.functions.iter().map(|name| (name.clone(), function(name))));
    let mut step = repl.feed_start(&job.code, inputs, PrintWriter::CollectString(&mut stdout, max_out));
    loop {
        let progress = match step {
            Ok(progress) => progress,
            Err(failed) => {
                let failed = *failed;
                return (failed.repl, Err(code_error(&failed.error, &job.limits)));
            }
        };
        step = match progress {
            ReplProgress::Complete { repl, value } => {
                return (repl, Ok(Outcome { value: to_json(&value), stdout, submitted }));
            }
            ReplProgress::NameLookup(lookup) => {
                lookup.resume(NameLookupResult::Undefined, PrintWriter::CollectString(&mut stdout, max_out))
            }
            ReplProgress::OsCall(call) => {
                let operation: &'static str = (&call.function_call).into();
                return (call.into_repl(), Err(CodeError::Forbidden { operation: operation.to_string() }));
            }
            ReplProgress::ResolveFutures(wait) => {
                let error = CodeError::Exception {
                    kind: "RuntimeError".into(),
                    message: "the sandbox's functions are not coroutines: nothing to await".into(),
                    traceback: String::new(),
                };
                return (wait.into_repl(), Err(error));
            }
            ReplProgress::FunctionCall(call) => {
                let args: Vec<Value> = call.args.iter().map(to_json).collect();
                let kwargs: Map<String, Value> = call
                    .kwargs
                    .iter()
                    .map(|(k, v)| {
                        let key = match k {
                            MontyObject::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (key, to_json(v))
                    })
                    .collect();
                if call.function_name == SUBMIT {
                    match submit_value(args, kwargs) {
                        Ok(value) => {
                            // SUBMIT ends the run, as DSPy's control-flow exception does.
                            submitted = Some(value);
                            let outcome = Outcome { value: Value::Null, stdout, submitted };
                            return (call.into_repl(), Ok(outcome));
                        }
                        Err(message) => call.resume(
                            MontyException::new(ExcType::TypeError, Some(message)),
                            PrintWriter::CollectString(&mut stdout, max_out),
                        ),
                    }
                } else {
                    calls += 1;
                    if calls > job.limits.max_tool_calls {
                        let error = CodeError::TooManyToolCalls { limit: job.limits.max_tool_calls };
                        return (call.into_repl(), Err(error));
                    }
                    let (reply_tx, reply_rx) = std_mpsc::channel();
                    let event = Event::Call { name: call.function_name.clone(), args, kwargs, reply: reply_tx };
                    let answer = if job.events.unbounded_send(event).is_ok() {
                        reply_rx
                            .recv()
                            .unwrap_or_else(|_| Answer::Failed("the host stopped waiting for the tool".into()))
                    } else {
                        Answer::Failed("the host stopped waiting for the tool".into())
                    };
                    let print = PrintWriter::CollectString(&mut stdout, max_out);
                    match answer {
                        Answer::Value(value) => call.resume(from_json(&value), print),
                        Answer::Failed(message) => {
                            call.resume(MontyException::new(ExcType::RuntimeError, Some(message)), print)
                        }
                        Answer::NotFound => {
                            let name = call.function_name.clone();
                            call.resume(ExtFunctionResult::NotFound(name), print)
                        }
                    }
                }
            }
        };
    }
}

fn function(name: &str) -> MontyObject {
    MontyObject::Function { name: name.to_string(), docstring: None }
}

/// DSPy's default `SUBMIT(output)` gives `{"output": output}`; keyword
/// arguments (`SUBMIT(answer=...)`) give the object of those arguments.
fn submit_value(args: Vec<Value>, kwargs: Map<String, Value>) -> Result<Value, String> {
    match (args.len(), kwargs.is_empty()) {
        (1, true) => {
            let mut out = Map::new();
            out.insert("output".into(), args.into_iter().next().unwrap_or(Value::Null));
            Ok(Value::Object(out))
        }
        (0, false) => Ok(Value::Object(kwargs)),
        _ => Err("SUBMIT() takes one positional argument or keyword arguments".into()),
    }
}

/// The engine's exception as a [`CodeError`]: its uncatchable resource
/// errors become the limit variants.
fn code_error(error: &MontyException, limits: &SandboxLimits) -> CodeError {
    let message = error.message().unwrap_or_default().to_string();
    match error.exc_type() {
        ExcType::SyntaxError => CodeError::Syntax { message },
        ExcType::TimeoutError if message.starts_with("time limit exceeded") => {
            CodeError::TimeLimit { limit: limits.time_limit }
        }
        ExcType::MemoryError if message.starts_with("memory limit exceeded") => {
            CodeError::MemoryLimit { limit: limits.memory_limit }
        }
        ExcType::RecursionError if message.starts_with("maximum recursion depth exceeded") => {
            CodeError::RecursionLimit { limit: limits.max_recursion_depth }
        }
        kind => CodeError::Exception { kind: kind.to_string(), message, traceback: error.to_string() },
    }
}
