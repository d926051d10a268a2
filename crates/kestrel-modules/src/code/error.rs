//! [`CodeError`]: how a piece of model-written code can fail in the sandbox.
//! Every escape attempt and every resource limit ends here, typed, rather
//! than in a hang or a crash of the host.

use std::time::Duration;

/// Why running code in a [`PythonSandbox`](super::PythonSandbox) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// The model's `generated_code` holds no usable code (DSPy's
    /// `Error: Empty code after parsing.` / `Error: Code format is not correct.`).
    #[error("{message}")]
    Unparsable {
        /// DSPy's message.
        message: String,
    },
    /// The code does not parse (or compile) as the Python the sandbox runs.
    #[error("SyntaxError: {message}")]
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// The code raised an exception it did not catch (this includes
    /// `ModuleNotFoundError` for modules the sandbox does not have, such as
    /// `socket`, `subprocess` or `urllib`).
    #[error("{kind}: {message}")]
    Exception {
        /// The exception's type (`ZeroDivisionError`, `NameError`...).
        kind: String,
        /// Its message (may be empty).
        message: String,
        /// The Python-style traceback.
        traceback: String,
    },
    /// The code asked for the file system, the environment or the clock
    /// (`open`, `pathlib.Path`, `os.getenv`, `os.environ`, `datetime.now`):
    /// the sandbox has none of them, and the run is stopped.
    #[error("PermissionError: the sandbox has no access to the operating system (`{operation}` was called)")]
    Forbidden {
        /// The operation, as the engine names it (`open`, `os.getenv`, `Path.read_text`...).
        operation: String,
    },
    /// The code ran longer than the time limit (execution time only: time
    /// spent in the host's tools does not count).
    #[error("TimeoutError: the code ran longer than the sandbox's time limit of {limit:?}")]
    TimeLimit {
        /// The limit.
        limit: Duration,
    },
    /// The code's heap (or its printed output) grew past the memory limit.
    #[error("MemoryError: the code used more than the sandbox's memory limit of {limit} bytes")]
    MemoryLimit {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The code's calls nested deeper than the recursion limit.
    #[error("RecursionError: maximum recursion depth of {limit} exceeded")]
    RecursionLimit {
        /// The limit.
        limit: usize,
    },
    /// The code called host functions (tools) more often than allowed.
    #[error("the code made more than {limit} tool calls")]
    TooManyToolCalls {
        /// The limit.
        limit: usize,
    },
    /// The sandbox cannot run code any more: its interpreter thread stopped
    /// (an earlier run overran the host's deadline, or the engine failed).
    #[error("the sandbox is unusable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
    },
}
