//! [`Tool`]: a named async function an agent ([`ReAct`](crate::ReAct)) can
//! call, described to the LM as DSPy's `dspy.Tool` is — a name, a
//! description and a JSON schema per argument.
//!
//! A typed tool takes a serde args struct deriving `JsonSchema` +
//! `Deserialize`; its argument schemas come from the struct. A dynamic tool
//! takes the argument object as a [`serde_json::Value`] and declares its
//! schemas by hand. Either way the arguments are checked as DSPy checks them
//! before the function runs, and failures are typed
//! ([`ModuleError::ToolArgs`], [`ModuleError::ToolFailed`]).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::{BoxFuture, ready};
use kestrel_core::types::python_literal_repr;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use kestrel_lm::callback::{CallKind, observer};

use crate::error::ModuleError;
use crate::tool_schema::{args_schema_of, parse_args, validate_args};

type ToolFn = dyn Fn(Map<String, Value>) -> BoxFuture<'static, Result<Value, ModuleError>> + Send + Sync;

/// A tool: name, description, argument schemas and the async function.
///
/// Cloning is cheap (shared). `Display` is the line DSPy's ReAct puts in its
/// instructions: `name, whose description is <desc>...</desc>. It takes
/// arguments {...}.`
///
/// ```
/// use kestrel_modules::Tool;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct WeatherArgs {
///     city: String,
/// }
///
/// let tool = Tool::infallible("get_weather", "Get the current weather for a city.", |args: WeatherArgs| async move {
///     format!("It is sunny in {}.", args.city)
/// });
/// assert_eq!(
///     tool.to_string(),
///     "get_weather, whose description is <desc>Get the current weather for a city.</desc>. \
///      It takes arguments {'city': {'type': 'string'}}."
/// );
/// ```
#[derive(Clone)]
pub struct Tool {
    inner: Arc<ToolInner>,
}

#[derive(Clone)]
struct ToolInner {
    name: String,
    desc: String,
    args: Map<String, Value>,
    extra_args: bool,
    run: Arc<ToolFn>,
}

impl Tool {
    /// A tool from a fallible async function of a typed args struct. The
    /// function's `Ok` value becomes the observation (through serde: a
    /// `String` stays text, a number stays a number); its `Err` is reported
    /// as [`ModuleError::ToolFailed`] with the error's `Display` text.
    pub fn new<A, T, E, F, Fut>(name: impl Into<String>, desc: impl Into<String>, f: F) -> Self
    where
        A: JsonSchema + DeserializeOwned + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Serialize,
        E: fmt::Display,
    {
        let name = name.into();
        let (args, extra_args) = args_schema_of::<A>();
        let tool_name = name.clone();
        let run = move |raw: Map<String, Value>| -> BoxFuture<'static, Result<Value, ModuleError>> {
            match parse_args::<A>(&tool_name, raw) {
                Err(e) => ready(Err(e)).boxed(),
                Ok(parsed) => {
                    let running = f(parsed);
                    let tool_name = tool_name.clone();
                    async move { observation(&tool_name, running.await) }.boxed()
                }
            }
        };
        Self::from_parts(name, desc.into(), args, extra_args, Arc::new(run))
    }

    /// A tool from an async function of a typed args struct that cannot
    /// fail. (Give a function returning `Result` to [`Tool::new`]: here a
    /// `Result` would be serialized as `{"Ok": ...}`.)
    pub fn infallible<A, T, F, Fut>(name: impl Into<String>, desc: impl Into<String>, f: F) -> Self
    where
        A: JsonSchema + DeserializeOwned + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Serialize + 'static,
    {
        Self::new(name, desc, move |args: A| f(args).map(Ok::<T, Infallible>))
    }

    /// A tool whose arguments are given as DSPy's schema map (argument name
    /// → JSON schema, e.g. `{"city": {"type": "string"}}`) and passed to `f`
    /// as one JSON object. Names and `type`s are checked before `f` runs.
    pub fn dynamic<E, F, Fut>(name: impl Into<String>, desc: impl Into<String>, args: Map<String, Value>, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, E>> + Send + 'static,
        E: fmt::Display,
    {
        let name = name.into();
        let tool_name = name.clone();
        let run = move |raw: Map<String, Value>| -> BoxFuture<'static, Result<Value, ModuleError>> {
            let running = f(Value::Object(raw));
            let tool_name = tool_name.clone();
            async move { observation(&tool_name, running.await) }.boxed()
        };
        Self::from_parts(name, desc.into(), args, false, Arc::new(run))
    }

    /// A dynamic tool whose function's errors are already typed (kept as
    /// they are, not wrapped in [`ModuleError::ToolFailed`]).
    #[cfg(feature = "mcp")]
    pub(crate) fn dynamic_typed_errors<F, Fut>(
        name: impl Into<String>,
        desc: impl Into<String>,
        args: Map<String, Value>,
        f: F,
    ) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ModuleError>> + Send + 'static,
    {
        let run = move |raw: Map<String, Value>| -> BoxFuture<'static, Result<Value, ModuleError>> {
            f(Value::Object(raw)).boxed()
        };
        Self::from_parts(name.into(), desc.into(), args, false, Arc::new(run))
    }

    fn from_parts(name: String, desc: String, args: Map<String, Value>, extra_args: bool, run: Arc<ToolFn>) -> Self {
        Self { inner: Arc::new(ToolInner { name, desc, args, extra_args, run }) }
    }

    /// Builder: describe one argument (DSPy's `arg_desc`); the text goes in
    /// the argument's schema as `description`. Unknown names are ignored.
    pub fn arg_desc(mut self, arg: &str, desc: impl Into<String>) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        if let Some(Value::Object(schema)) = inner.args.get_mut(arg) {
            schema.insert("description".into(), Value::String(desc.into()));
        }
        self
    }

    /// Builder: accept arguments the schema does not list (DSPy's tools with
    /// `**kwargs`); a dynamic tool rejects them by default.
    pub fn accept_extra_args(mut self, accept: bool) -> Self {
        Arc::make_mut(&mut self.inner).extra_args = accept;
        self
    }

    /// The tool's name (what the LM writes as `next_tool_name`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The description shown to the LM.
    pub fn desc(&self) -> &str {
        &self.inner.desc
    }

    /// Argument name → JSON schema, in order (DSPy's `Tool.args`).
    pub fn args(&self) -> &Map<String, Value> {
        &self.inner.args
    }

    /// The tool as an LM sees it (name, description, argument schemas): the
    /// value of a `Tool` / `list[Tool]` signature input, and what native
    /// function calling sends as a provider `tools` entry.
    pub fn spec(&self) -> kestrel_core::ToolSpec {
        kestrel_core::ToolSpec { name: self.name().into(), desc: self.desc().into(), args: self.args().clone() }
    }

    /// Check `args` as DSPy does, then run the tool. Returns the
    /// observation as JSON. The callbacks in scope see a `tool` call named
    /// after the tool (inputs: the arguments; outputs: the observation).
    pub async fn call(&self, args: Map<String, Value>) -> Result<Value, ModuleError> {
        let Some(mut observer) = observer(CallKind::Tool) else { return self.call_unobserved(args).await };
        observer.start(&self.inner.name, || Value::Object(args.clone()))?;
        let result = observer.run(Box::pin(self.call_unobserved(args))).await;
        observer.finish(result, Value::clone)
    }

    async fn call_unobserved(&self, args: Map<String, Value>) -> Result<Value, ModuleError> {
        validate_args(&self.inner.name, &self.inner.args, self.inner.extra_args, &args)?;
        (self.inner.run)(args).await
    }

    /// [`Tool::call`] with the arguments as any JSON value; anything but an
    /// object is a [`ModuleError::ToolArgs`].
    pub async fn call_value(&self, args: Value) -> Result<Value, ModuleError> {
        match args {
            Value::Object(map) => self.call(map).await,
            other => Err(ModuleError::ToolArgs {
                tool: self.inner.name.clone(),
                message: format!("the arguments must be a JSON object, got {}", python_literal_repr(&other)),
            }),
        }
    }
}

/// A tool function's result as an observation.
fn observation<T: Serialize, E: fmt::Display>(tool: &str, result: Result<T, E>) -> Result<Value, ModuleError> {
    match result {
        Ok(value) => serde_json::to_value(value)
            .map_err(|e| ModuleError::ToolFailed { tool: tool.to_string(), message: e.to_string() }),
        Err(e) => Err(ModuleError::ToolFailed { tool: tool.to_string(), message: e.to_string() }),
    }
}

impl fmt::Display for Tool {
    /// DSPy's `str(tool)`: newlines in the description part become two
    /// spaces, and the arguments are Python's `repr` of the schema map.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let desc = if self.inner.desc.is_empty() {
            ".".to_string()
        } else {
            format!(", whose description is <desc>{}</desc>.", self.inner.desc).replace('\n', "  ")
        };
        let args = python_literal_repr(&Value::Object(self.inner.args.clone()));
        write!(f, "{}{desc} It takes arguments {args}.", self.inner.name)
    }
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.inner.name)
            .field("desc", &self.inner.desc)
            .field("args", &self.inner.args)
            .field("extra_args", &self.inner.extra_args)
            .finish_non_exhaustive()
    }
}
