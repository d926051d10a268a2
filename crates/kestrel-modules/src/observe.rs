//! Module and tool calls as callback events and `tracing` spans
//! ([`kestrel_lm::callback`]): the helpers the built-in modules, [`Tool`](crate::Tool)
//! and [`ModuleExt`](crate::ModuleExt) run their calls through.

use std::future::Future;

use futures::future::{BoxFuture, Either};
use kestrel_core::{Example, Prediction};
use kestrel_lm::callback::{CallKind, observer};
use serde::Serialize;
use serde_json::Value;

use crate::error::ModuleError;

/// `value` as JSON for an event (`null` if it cannot be).
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Run a built-in module's `forward_example` as a `module` event named
/// `name`, with the example's fields as inputs and the prediction as outputs.
///
/// Unobserved, the call's own future is returned as is; observed, it is
/// boxed, so that instrumenting a deeply nested program (ReAct → ChainOfThought
/// → Predict → LM) does not multiply the size of its futures.
pub(crate) fn module_call<'a, Fut>(
    name: &'a str,
    inputs: &'a Example,
    future: Fut,
) -> Either<Fut, BoxFuture<'a, Result<Prediction, ModuleError>>>
where
    Fut: Future<Output = Result<Prediction, ModuleError>> + Send + 'a,
{
    let Some(mut observer) = observer(CallKind::Module) else { return Either::Left(future) };
    Either::Right(Box::pin(async move {
        observer.start(name, || to_json(inputs))?;
        let result = observer.run(future).await;
        observer.finish(result, to_json)
    }))
}

/// A type's name without module paths: `my_app::Rag<kestrel_modules::Predict<my_app::Qa>>`
/// becomes `Rag<Predict<Qa>>` (the name of a user module's events).
pub(crate) fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut word = String::new();
    for c in full.chars() {
        if c.is_alphanumeric() || matches!(c, '_' | ':' | '{' | '}') {
            word.push(c);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(&word));
            word.clear();
            out.push(c);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or(&word));
    out
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn paths_are_dropped_from_every_segment() {
        assert_eq!(short_type_name("a::b::Rag<kestrel_modules::Predict<x::Qa>, u32>"), "Rag<Predict<Qa>, u32>");
        assert_eq!(short_type_name("Plain"), "Plain");
        assert_eq!(short_type_name("(a::B, &c::D)"), "(B, &D)");
        assert_eq!(short_type_name("tests::a_test::{{closure}}::Local"), "Local");
    }
}
