//! DSPy's custom field types (`dspy.Type` subclasses) that Kestrel knows:
//! [`CustomType`] names them inside [`crate::FieldType::Custom`], and the
//! markers with which DSPy embeds a value's content parts in prompt text.
//!
//! | type | Python annotation | input value | how it reaches the LM |
//! |---|---|---|---|
//! | [`CustomType::History`] | `dspy.History` | [`crate::History`] | prior user/assistant turns |
//! | [`CustomType::Image`] | `dspy.Image` | [`crate::Image`] | an image content part |
//! | [`CustomType::Tool`] | `dspy.Tool` | [`crate::ToolSpec`] | its text, or the provider's `tools` |
//! | [`CustomType::ToolCalls`] | `dspy.ToolCalls` | (output) [`crate::ToolCalls`] | JSON text, or native tool calls |

use serde_json::{Value, json};

/// DSPy's `CUSTOM_TYPE_START_IDENTIFIER`: opens a value's content parts
/// (a JSON list) inside prompt text.
pub const CUSTOM_TYPE_START: &str = "<<CUSTOM-TYPE-START-IDENTIFIER>>";

/// DSPy's `CUSTOM_TYPE_END_IDENTIFIER`.
pub const CUSTOM_TYPE_END: &str = "<<CUSTOM-TYPE-END-IDENTIFIER>>";

/// A DSPy custom type a signature field can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CustomType {
    /// `dspy.History`: earlier turns of the conversation.
    History,
    /// `dspy.Image`: a URL or a data URL.
    Image,
    /// `dspy.Tool`: a callable the LM may ask for.
    Tool,
    /// `dspy.ToolCalls`: the tool calls an LM asks for.
    ToolCalls,
}

impl CustomType {
    /// The class name DSPy shows in prompts.
    pub fn name(self) -> &'static str {
        match self {
            CustomType::History => "History",
            CustomType::Image => "Image",
            CustomType::Tool => "Tool",
            CustomType::ToolCalls => "ToolCalls",
        }
    }

    /// The type named `name` (`History` or `dspy.History`...).
    pub fn from_name(name: &str) -> Option<CustomType> {
        match name.strip_prefix("dspy.").unwrap_or(name) {
            "History" => Some(CustomType::History),
            "Image" => Some(CustomType::Image),
            "Tool" => Some(CustomType::Tool),
            "ToolCalls" => Some(CustomType::ToolCalls),
            _ => None,
        }
    }

    /// DSPy's `Type.description()`, shown under the field in the system
    /// message when not empty.
    pub(crate) fn description(self) -> &'static str {
        match self {
            CustomType::ToolCalls => TOOL_CALLS_DESCRIPTION,
            _ => "",
        }
    }
}

/// `ToolCalls.description()`.
const TOOL_CALLS_DESCRIPTION: &str = "Tool calls must be a JSON object with `tool_calls`, a list of calls. Each call \
must include `name` and `args`. Example: {\"tool_calls\": [{\"name\": \"search\", \"args\": {\"query\": \"cats\"}}]}";

/// The reminder's type note for a `ToolCalls` output.
pub(crate) const TOOL_CALLS_TYPE_INFO: &str =
    " (must be a JSON object like {\"tool_calls\": [{\"name\": \"...\", \"args\": {...}}]})";

/// pydantic's JSON schema of `dspy.ToolCalls` (the call `id` and the
/// `tool_call_results` left out, as DSPy leaves them out).
pub(crate) fn tool_calls_schema() -> Value {
    json!({
        "$defs": {"ToolCall": {
            "properties": {
                "name": {"title": "Name", "type": "string"},
                "args": {"additionalProperties": true, "title": "Args", "type": "object"},
            },
            "required": ["name", "args"],
            "title": "ToolCall",
            "type": "object",
        }},
        "properties": {"tool_calls": {"items": {"$ref": "#/$defs/ToolCall"}, "title": "Tool Calls", "type": "array"}},
        "required": ["tool_calls"],
        "title": "ToolCalls",
        "type": "object",
    })
}

/// `value` wrapped in DSPy's custom-type markers: `parts` as compact JSON
/// (Python's `json.dumps(.., ensure_ascii=False)`).
pub(crate) fn marked(parts: &Value) -> String {
    let mut out = String::from(CUSTOM_TYPE_START);
    out.push_str(&crate::adapter::python_json_dumps(parts));
    out.push_str(CUSTOM_TYPE_END);
    out
}
