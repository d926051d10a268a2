//! [`PythonSandbox`]: a session of model-written Python in pydantic's Monty
//! interpreter, on its own thread, with [`SandboxLimits`], and Kestrel
//! [`Tool`]s callable from the code as Python functions.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use serde_json::{Map, Value};

use super::error::CodeError;
use super::worker::{self, Answer, Event, Job, Outcome};
use crate::error::ModuleError;
use crate::tool::Tool;

/// How long the host waits past the time limit for the interpreter to stop
/// by itself before it gives the session up ([`CodeError::TimeLimit`]).
const HOST_GRACE: Duration = Duration::from_secs(2);

/// The resource limits of every snippet a [`PythonSandbox`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxLimits {
    /// Execution time of one snippet (time inside tools does not count).
    pub time_limit: Duration,
    /// Memory of the interpreter's heap in bytes (approximate: the engine's
    /// accounting of its objects), over the whole session (variables kept
    /// from earlier snippets count); also the most output a snippet may print.
    pub memory_limit: usize,
    /// Deepest call nesting.
    pub max_recursion_depth: usize,
    /// Most tool calls in one snippet.
    pub max_tool_calls: usize,
}

impl Default for SandboxLimits {
    /// 5 s, 64 MiB, 200 nested calls, 100 tool calls.
    fn default() -> Self {
        Self {
            time_limit: Duration::from_secs(5),
            memory_limit: 64 * 1024 * 1024,
            max_recursion_depth: 200,
            max_tool_calls: 100,
        }
    }
}

impl SandboxLimits {
    /// Builder: the execution time of one snippet.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }

    /// Builder: the heap (and printed output) limit in bytes.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Builder: the deepest call nesting.
    pub fn max_recursion_depth(mut self, depth: usize) -> Self {
        self.max_recursion_depth = depth;
        self
    }

    /// Builder: the most tool calls in one snippet.
    pub fn max_tool_calls(mut self, calls: usize) -> Self {
        self.max_tool_calls = calls;
        self
    }
}

/// What a snippet produced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Execution {
    /// The value of the last expression (`null` for `None` or a statement).
    pub value: Value,
    /// What the code printed.
    pub stdout: String,
    /// What the code passed to `SUBMIT(...)` (`{"output": x}` for
    /// `SUBMIT(x)`, as DSPy), if it called it; the run ended there.
    pub submitted: Option<Value>,
}

impl Execution {
    /// The output as DSPy's interpreter reports it: the `SUBMIT`ted value,
    /// else the last expression's value unless it is `None`, else what the
    /// code printed.
    pub fn output(&self) -> Value {
        match (&self.submitted, &self.value) {
            (Some(submitted), _) => submitted.clone(),
            (None, Value::Null) => Value::String(self.stdout.clone()),
            (None, value) => value.clone(),
        }
    }
}

/// A Python session for model-written code: Monty, a Python bytecode VM
/// written in Rust, run on a thread of its own. The code has no file system,
/// network, environment or clock (such calls stop it with
/// [`CodeError::Forbidden`]; `socket`, `subprocess` and the like do not
/// exist); it is stopped by [`SandboxLimits`]; it reaches the host only
/// through the [`Tool`]s passed to [`PythonSandbox::execute`] and `SUBMIT`.
///
/// Variables persist from one [`execute`](Self::execute) to the next, as in
/// DSPy's `PythonInterpreter`. Dropping the sandbox ends its thread.
#[derive(Debug)]
pub struct PythonSandbox {
    jobs: Option<std_mpsc::Sender<Job>>,
    limits: SandboxLimits,
    broken: Option<String>,
}

impl PythonSandbox {
    /// A session with the default limits.
    pub fn new() -> Result<Self, CodeError> {
        Self::with_limits(SandboxLimits::default())
    }

    /// A session with these limits.
    pub fn with_limits(limits: SandboxLimits) -> Result<Self, CodeError> {
        let jobs = worker::spawn("python", &limits)
            .map_err(|e| CodeError::Unavailable { message: format!("cannot start the interpreter thread: {e}") })?;
        Ok(Self { jobs: Some(jobs), limits, broken: None })
    }

    /// The limits of every snippet.
    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// Run a snippet. `tools` are callable from it by name, with keyword or
    /// positional arguments (in the order of the tool's arguments); a tool's
    /// error is raised in the code as a `RuntimeError`.
    ///
    /// Errors: the snippet's own failure ([`CodeError`]); a session whose
    /// interpreter overran the host's deadline is given up and answers
    /// [`CodeError::Unavailable`] from then on.
    pub async fn execute(&mut self, code: &str, tools: &[Tool]) -> Result<Execution, CodeError> {
        if let Some(message) = &self.broken {
            return Err(CodeError::Unavailable { message: message.clone() });
        }
        let Some(jobs) = &self.jobs else {
            return Err(CodeError::Unavailable { message: "the session is closed".into() });
        };
        let (events_tx, mut events) = mpsc::unbounded();
        let job = Job {
            code: code.to_string(),
            functions: tools.iter().map(|t| t.name().to_string()).collect(),
            limits: self.limits.clone(),
            events: events_tx,
        };
        if jobs.send(job).is_err() {
            return Err(self.give_up("the interpreter thread has stopped"));
        }
        let deadline = self.limits.time_limit.saturating_add(HOST_GRACE);
        loop {
            let event = match tokio::time::timeout(deadline, events.next()).await {
                Ok(Some(event)) => event,
                Ok(None) => return Err(self.give_up("the interpreter thread has stopped")),
                Err(_) => {
                    self.give_up("an earlier snippet overran the time limit and was abandoned");
                    return Err(CodeError::TimeLimit { limit: self.limits.time_limit });
                }
            };
            match event {
                Event::Done(result) => {
                    return result.map(|Outcome { value, stdout, submitted }| Execution { value, stdout, submitted });
                }
                Event::Call { name, args, kwargs, reply } => {
                    let answer = call_tool(tools, &name, args, kwargs).await;
                    // The thread waits for this answer; if it is gone, the next event says so.
                    let _ = reply.send(answer);
                }
            }
        }
    }

    fn give_up(&mut self, message: &str) -> CodeError {
        self.broken = Some(message.to_string());
        self.jobs = None;
        CodeError::Unavailable { message: message.to_string() }
    }
}

/// Call the tool the code called.
async fn call_tool(tools: &[Tool], name: &str, args: Vec<Value>, kwargs: Map<String, Value>) -> Answer {
    let Some(tool) = tools.iter().find(|t| t.name() == name) else {
        return Answer::NotFound;
    };
    match call_args(tool, name, args, kwargs) {
        Ok(call_args) => match tool.call(call_args).await {
            Ok(value) => Answer::Value(value),
            Err(ModuleError::ToolArgs { message, .. } | ModuleError::ToolFailed { message, .. }) => {
                Answer::Failed(message)
            }
            Err(other) => Answer::Failed(other.to_string()),
        },
        Err(message) => Answer::Failed(message),
    }
}

/// Positional arguments named in the order of the tool's arguments, then
/// the keyword arguments.
fn call_args(
    tool: &Tool,
    name: &str,
    args: Vec<Value>,
    kwargs: Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let names: Vec<&String> = tool.args().keys().collect();
    if args.len() > names.len() {
        return Err(format!("{name}() takes {} positional argument(s) but {} were given", names.len(), args.len()));
    }
    let mut call_args = Map::new();
    for (arg_name, value) in names.into_iter().zip(args) {
        call_args.insert(arg_name.clone(), value);
    }
    for (key, value) in kwargs {
        if call_args.contains_key(&key) {
            return Err(format!("{name}() got multiple values for argument '{key}'"));
        }
        call_args.insert(key, value);
    }
    Ok(call_args)
}
