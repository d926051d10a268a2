//! [`ModuleError`]: errors of module calls, predictor access and saved
//! program state.

use std::path::PathBuf;

use kestrel_core::CoreError;
use kestrel_lm::LmError;

/// Errors of `kestrel-modules`.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleError {
    /// The LM layer failed (no LM, provider error, unparsable reply...).
    #[error(transparent)]
    Lm(#[from] LmError),
    /// A core error (missing inputs, conversion...).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A stream listener's field cannot be tied to one predictor.
    #[error("stream listener for field `{field}`: the field {message}")]
    StreamListener {
        /// The field listened to.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// An MCP server could not be started or reached, or refused the
    /// MCP handshake.
    #[error("cannot connect to MCP server `{server}`: {message}")]
    McpConnect {
        /// The command or URL.
        server: String,
        /// What went wrong.
        message: String,
    },
    /// An MCP server went away (its process ended, its connection closed).
    #[error("MCP server `{server}` is gone: {message}")]
    McpDisconnected {
        /// The command or URL.
        server: String,
        /// What went wrong.
        message: String,
    },
    /// An MCP request failed otherwise (a JSON-RPC error from the server,
    /// e.g. an unknown tool; a timeout; an unexpected reply).
    #[error("MCP server `{server}`: {message}")]
    McpRequest {
        /// The command or URL.
        server: String,
        /// What went wrong.
        message: String,
    },
    /// An MCP tool answered with an error result (`isError`); the message is
    /// its text contents, as DSPy's `RuntimeError` shows them.
    #[error("Failed to call a MCP tool: {message}")]
    McpToolError {
        /// The tool.
        tool: String,
        /// The result's text contents.
        message: String,
    },
    /// A callback in scope failed under
    /// [`kestrel_lm::CallbackErrorPolicy::Fail`].
    #[error(transparent)]
    Callback(#[from] kestrel_lm::CallbackError),
    /// No predictor at this path.
    #[error("no predictor at path `{path}`; the program has {available:?}")]
    UnknownPredictor {
        /// The path asked for.
        path: String,
        /// The paths the program has.
        available: Vec<String>,
    },
    /// A new signature for a predictor does not have the same fields.
    #[error("signature for `{path}` does not match: expected fields {expected:?}, got {got:?}")]
    SignatureMismatch {
        /// The predictor's path.
        path: String,
        /// Its current field names.
        expected: Vec<String>,
        /// The field names given.
        got: Vec<String>,
    },
    /// A saved state's predictors are not the program's: `missing` are the
    /// program's paths the state lacks, `unexpected` the state's paths the
    /// program does not have.
    #[error("{}", crate::state::describe_path_mismatch(.missing, .unexpected, .program))]
    StatePredictors {
        /// Program paths absent from the state.
        missing: Vec<String>,
        /// State paths absent from the program.
        unexpected: Vec<String>,
        /// Every predictor path of the program, in order.
        program: Vec<String>,
    },
    /// A saved signature has a different number of fields than the
    /// predictor's signature.
    #[error("saved signature of `{path}` has {saved} fields, the predictor's has {expected} ({fields:?})")]
    StateFieldCount {
        /// The predictor's path.
        path: String,
        /// Number of fields in the saved state.
        saved: usize,
        /// Number of fields of the predictor's signature.
        expected: usize,
        /// The predictor's field names, in order.
        fields: Vec<String>,
    },
    /// A saved state is malformed at `at` (a location such as
    /// `polish.demos[1]` or `signature.fields[0].prefix`; empty for the whole
    /// document).
    #[error("saved state{}: {message}", crate::state::describe_location(.at))]
    State {
        /// Where in the state document.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing a state file failed.
    #[error("cannot {action} `{}`: {message}", file.display())]
    StateIo {
        /// The file.
        file: PathBuf,
        /// `read` or `write`.
        action: &'static str,
        /// The I/O error kind.
        kind: std::io::ErrorKind,
        /// The I/O error's message.
        message: String,
    },
    /// A state file is not valid JSON.
    #[error("`{}` is not valid JSON: {message} (line {line}, column {column})", file.display())]
    StateJson {
        /// The file.
        file: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A module-specific failure (the module names itself in the message).
    #[error("{module}: {message}")]
    Module {
        /// The module's name.
        module: String,
        /// What went wrong.
        message: String,
    },
    /// A tool was called with arguments that do not fit its schema. The
    /// message is worded as DSPy words it (`Arg city is not in the tool's
    /// args.`); ReAct shows it to the LM as `Execution error in {tool}: ...`.
    #[error("tool `{tool}`: {message}")]
    ToolArgs {
        /// The tool's name.
        tool: String,
        /// What is wrong with the arguments.
        message: String,
    },
    /// A tool ran and returned an error; `message` is that error's text.
    #[error("tool `{tool}` failed: {message}")]
    ToolFailed {
        /// The tool's name.
        tool: String,
        /// The tool's error, as text.
        message: String,
    },
    /// No tool has this name.
    #[error("no tool named `{name}`; the tools are {available:?}")]
    UnknownTool {
        /// The name asked for.
        name: String,
        /// The tools' names.
        available: Vec<String>,
    },
    /// Every attempt of a `BestOfN` / `Refine` call failed without the
    /// failure budget running out first.
    #[error("{module}: all {attempts} attempt(s) failed; the last error: {last}")]
    AttemptsFailed {
        /// `BestOfN` or `Refine`.
        module: &'static str,
        /// Attempts made.
        attempts: usize,
        /// The last attempt's error.
        last: Box<ModuleError>,
    },
    /// Model-written code could not be made to run (ProgramOfThought after
    /// `max_iters` attempts), or the sandbox itself is unusable.
    #[cfg(feature = "code")]
    #[error("{module}: no working code after {attempts} attempt(s); the last error: {error}")]
    Code {
        /// `ProgramOfThought` or `CodeAct`.
        module: &'static str,
        /// Attempts made.
        attempts: usize,
        /// The last attempt's error.
        error: crate::code::CodeError,
    },
    /// A batch stopped because `max_errors` items failed.
    #[error("batch stopped after {errors} failed item(s) (max_errors = {max_errors}); the first error: {first}")]
    TooManyErrors {
        /// Items that failed before the batch stopped.
        errors: usize,
        /// The budget that was reached.
        max_errors: usize,
        /// The first failure, in input order.
        first: Box<ModuleError>,
    },
}
