//! Modules whose model writes code (feature `code`): [`ProgramOfThought`]
//! and [`CodeAct`], with DSPy 3.4.1's prompts, and the [`PythonSandbox`]
//! they run the code in (pydantic's Monty: a Python bytecode VM written in
//! Rust, with no file system, network or environment, stopped by
//! [`SandboxLimits`]; see docs/MODULES.md for why this engine).

mod code_act;
mod error;
mod parse;
mod program_of_thought;
mod sandbox;
mod values;
mod worker;

pub use code_act::{CodeAct, WithCodeTrajectory};
pub use error::CodeError;
pub use program_of_thought::ProgramOfThought;
pub use sandbox::{Execution, PythonSandbox, SandboxLimits};
