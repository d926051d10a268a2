//! Native function calling (DSPy's `use_native_function_calling=True`): a
//! signature with a `list[Tool]` input and a `ToolCalls` output sends the
//! tools through the provider's tool-calling API instead of the prompt, and
//! the tool calls in the reply fill the `ToolCalls` output.
//!
//! As DSPy 3.4.1's `Adapter._call_preprocess` / `_call_postprocess`:
//!
//! - both tool fields leave the signature the prompt is formatted with (the
//!   instructions stay as they are);
//! - each tool goes into [`LmRequest::tools`] as its
//!   `format_as_litellm_function_call()` entry;
//! - a completion with tool calls has its text parsed leniently (a text
//!   that does not parse gives no fields), one without has its text parsed
//!   as usual (a failure is a parse error, and the ChatAdapter retries with
//!   JSONAdapter, again natively); the outputs it lacks take their defaults,
//!   else `null`;
//! - an LM without [`crate::LmCapabilities::function_calling`] is called in
//!   text mode (the fields stay in the prompt, `ToolCalls` parsed from the
//!   text), and a `ToolCalls` output without a tools input is an error.

use kestrel_core::{
    Adapter, AdapterParseError, ChatAdapter, CoreError, CustomType, Example, FieldType, Fields, JsonAdapter,
    Prediction, SignatureSpec, ToolCalls, ToolSpec, Usage, XmlAdapter,
};
use serde_json::Value;

use crate::adapter_call::{AdapterCallOutput, AdapterChoice, call_with_adapter, over_lm_defaults};
use crate::error::LmError;
use crate::lm::SharedLm;
use crate::request::{CallConfig, Completion, LmRequest};

/// The fields native function calling takes over: (tools input, tool calls
/// output), when the signature has a `ToolCalls` output.
pub fn native_tool_fields(signature: &SignatureSpec) -> Option<(Option<&str>, &str)> {
    let calls = signature.output_fields().find(|f| f.ty == FieldType::Custom(CustomType::ToolCalls))?;
    let tool = FieldType::Custom(CustomType::Tool);
    let tools = signature
        .input_fields()
        .find(|f| f.ty == tool || f.ty == FieldType::List(Box::new(tool.clone())))
        .map(|f| f.name.as_str());
    Some((tools, calls.name.as_str()))
}

/// [`call_with_adapter`] with native function calling: the tools of the
/// signature's `list[Tool]` input go to the provider's tool-calling API and
/// its tool calls come back in the `ToolCalls` output (see the module
/// docs). A signature without a `ToolCalls` output is called as usual.
pub async fn call_with_native_tools(
    lm: &SharedLm,
    choice: AdapterChoice,
    signature: &SignatureSpec,
    demos: &[Example],
    inputs: &Example,
    config: &CallConfig,
) -> Result<AdapterCallOutput, LmError> {
    let Some((tools_field, calls_field)) = native_tool_fields(signature) else {
        return call_with_adapter(lm, choice, signature, demos, inputs, config).await;
    };
    let Some(tools_field) = tools_field else {
        return Err(CoreError::InvalidSignature(format!(
            "You provided an output field {calls_field} to receive the tool calls information, but did not provide \
             any tools as the input. Please provide a list of tools as the input by adding an input field with type \
             `list[dspy.Tool]`."
        ))
        .into());
    };
    if !lm.capabilities().function_calling {
        return call_with_adapter(lm, choice, signature, demos, inputs, config).await;
    }
    signature.check_inputs(inputs)?;
    let tools = ToolSpec::list_from_value(inputs.get(tools_field).unwrap_or(&Value::Null))?;
    let processed = signature.clone().delete(calls_field)?.delete(tools_field)?;
    let config: &CallConfig = &over_lm_defaults(lm, config);
    let call = NativeCall {
        lm,
        original: signature,
        processed: &processed,
        calls_field,
        demos,
        inputs,
        config,
        tools: tools.iter().map(ToolSpec::function_json).collect(),
    };
    match choice {
        AdapterChoice::Json => call.run(&JsonAdapter).await.map_err(|(e, _)| e),
        AdapterChoice::Chat { json_fallback } => call.run_with_fallback(&ChatAdapter, json_fallback).await,
        AdapterChoice::Xml { json_fallback } => call.run_with_fallback(&XmlAdapter, json_fallback).await,
        // The two-step adapter has no native tool calls: its main LM answers in text.
        AdapterChoice::TwoStep(_) => call_with_adapter(lm, choice, signature, demos, inputs, config).await,
    }
}

/// One native call's parts.
struct NativeCall<'a> {
    lm: &'a SharedLm,
    original: &'a SignatureSpec,
    processed: &'a SignatureSpec,
    calls_field: &'a str,
    demos: &'a [Example],
    inputs: &'a Example,
    config: &'a CallConfig,
    tools: Vec<Value>,
}

impl NativeCall<'_> {
    /// A round with `adapter`; on a parse failure, one JSON round when
    /// `json_fallback` (DSPy's ChatAdapter and XMLAdapter fallback).
    async fn run_with_fallback(
        &self,
        adapter: &dyn Adapter,
        json_fallback: bool,
    ) -> Result<AdapterCallOutput, LmError> {
        match self.run(adapter).await {
            Ok(out) => Ok(out),
            Err((LmError::Parse(_), spent)) if json_fallback => {
                let out = self.run(&JsonAdapter).await.map_err(|(e, _)| e)?;
                Ok(out.after_failed_chat_round(spent))
            }
            Err((e, _)) => Err(e),
        }
    }

    /// One adapter round; on error also returns the usage already spent.
    async fn run(&self, adapter: &dyn Adapter) -> Result<AdapterCallOutput, (LmError, Usage)> {
        let messages =
            adapter.format(self.processed, self.demos, self.inputs).map_err(|e| (e.into(), Usage::default()))?;
        let mut request = LmRequest::new(messages).with_config(self.config);
        if self.lm.capabilities().structured_outputs {
            request.response_format = adapter.response_format(self.processed);
        }
        request.tools.clone_from(&self.tools);
        let response = self.lm.call(request).await.map_err(|e| (e, Usage::default()))?;
        if response.completions.is_empty() {
            return Err((LmError::EmptyResponse { model: response.model }, response.usage));
        }
        let mut completions = Vec::with_capacity(response.completions.len());
        for completion in &response.completions {
            let fields = self.parse(adapter, completion).map_err(|e| (LmError::from(e), response.usage))?;
            completions.push(fields);
        }
        Ok(AdapterCallOutput {
            prediction: Prediction::from_completions(completions).with_usage(response.usage),
            lm_calls: 1,
            json_fallback: false,
            cache_hit: response.cache_hit,
        })
    }

    /// DSPy's `_call_postprocess` for one completion.
    fn parse(&self, adapter: &dyn Adapter, completion: &Completion) -> Result<Fields, AdapterParseError> {
        let text = completion.text.as_str();
        let has_calls = !completion.tool_calls.is_empty();
        let parsed = if !text.is_empty() && !has_calls {
            adapter.parse(self.processed, text)?
        } else if has_calls {
            let has_outputs = self.processed.output_fields().next().is_some();
            if !text.is_empty() && has_outputs {
                adapter.parse(self.processed, text).unwrap_or_default()
            } else {
                Fields::default()
            }
        } else {
            return Err(AdapterParseError {
                adapter_name: adapter.name().to_string(),
                expected_fields: self.original.output_names(),
                parsed_fields: None,
                lm_response: String::new(),
                detail: Some("The LM returned an empty or null response.".into()),
            });
        };
        let mut fields = Fields::with_capacity(self.original.output_fields().count());
        for field in self.original.output_fields() {
            let value = if field.name == self.calls_field && has_calls {
                ToolCalls { tool_calls: completion.tool_calls.clone() }.to_value()
            } else {
                parsed.get(&field.name).cloned().or_else(|| field.default.clone()).unwrap_or(Value::Null)
            };
            fields.insert(field.name.clone(), value);
        }
        Ok(fields)
    }
}
