//! [`PromptView`]: a Chat or JSON adapter request read back into fields —
//! the signature's field lists and instructions from the system message,
//! the demos (user/assistant pairs) and the current inputs — and
//! [`PromptView::render`], the reply for chosen output values.
//!
//! Reading and writing `[[ ## field ## ]]` sections is core's job, not this
//! file's: user turns and assistant turns are parsed with
//! [`ChatAdapter::parse`] (or [`JsonAdapter::parse`] for JSON demo replies)
//! against a signature rebuilt from the system message, and replies are
//! written by the adapter's own demo formatting ([`Adapter::format`]), so
//! the simulated LM and the scripted LM's follow-the-demos mode read and
//! write exactly what Kestrel's adapters do.

use kestrel_core::{Adapter, ChatAdapter, Example, FieldSpec, FieldType, JsonAdapter, Role, SignatureSpec};
use kestrel_lm::LmRequest;
use serde_json::Value;

/// What DSPy writes in place of a demo field that was not supplied
/// (stripped).
pub const NOT_SUPPLIED: &str = "Not supplied for this particular example.";
const INCOMPLETE_DEMO: &str = "This is an example of the task, though some input or output fields are not supplied.";
const JSON_OUTPUTS: &str = "Outputs will be a JSON object";
const OBJECTIVE: &str = "In adhering to this structure, your objective is: ";

/// One output field of the signature.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputField {
    /// The field name.
    pub name: String,
    /// The type, read back from the field list (`str` when it does not parse,
    /// e.g. a model class name).
    pub ty: FieldType,
    /// The allowed values of a `Literal` / enum field; empty for others.
    pub options: Vec<String>,
}

/// One demo: a user turn (inputs) and the assistant turn (outputs).
#[derive(Debug, Clone, PartialEq)]
pub struct Demo {
    /// Input field values as text, in signature order (missing ones left out).
    pub inputs: Vec<(String, String)>,
    /// Output field values as text, in signature order (missing ones and
    /// [`NOT_SUPPLIED`] left out).
    pub outputs: Vec<(String, String)>,
    /// True when every output was supplied and DSPy did not mark the demo
    /// incomplete.
    pub complete: bool,
    /// The assistant turn as sent.
    pub reply: String,
}

impl Demo {
    /// The supplied value of an output field.
    pub fn output(&self, name: &str) -> Option<&str> {
        lookup(&self.outputs, name)
    }

    /// The value of an input field.
    pub fn input(&self, name: &str) -> Option<&str> {
        lookup(&self.inputs, name)
    }
}

/// A parsed adapter request.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptView {
    /// The signature rebuilt from the system message (input types are
    /// `str`; instructions as shown).
    pub signature: SignatureSpec,
    /// Output fields, in signature order.
    pub outputs: Vec<OutputField>,
    /// The instructions (the task description of the system message).
    pub instructions: String,
    /// True when the reply must be a JSON object (JSONAdapter).
    pub json: bool,
    /// The demos, in prompt order.
    pub demos: Vec<Demo>,
    /// The inputs of the current call, in signature order.
    pub inputs: Vec<(String, String)>,
}

impl PromptView {
    /// Read a request built by Kestrel's (or DSPy's) Chat or JSON adapter.
    /// Anything else is an `Err` saying what is missing.
    pub fn parse(request: &LmRequest) -> Result<PromptView, String> {
        let messages = &request.messages;
        let (system, rest) = messages.split_first().ok_or("the request has no messages")?;
        if system.role != Role::System {
            return Err("the first message is not a system message listing the fields".to_string());
        }
        let (current, history) = rest.split_last().ok_or("the request has no user message")?;
        if current.role != Role::User {
            return Err("the last message is not a user message".to_string());
        }
        let (input_names, outputs) = field_lists(&system.content)?;
        let instructions = instructions_of(&system.content);
        let signature = rebuild(&input_names, &outputs, &instructions)?;
        let json = request.response_format.is_some() || system.content.contains(JSON_OUTPUTS);
        let input_reader = text_signature(&input_names, FieldType::Str)?;
        let output_names: Vec<String> = outputs.iter().map(|f| f.name.clone()).collect();
        let output_reader = text_signature(&output_names, if json { FieldType::Any } else { FieldType::Str })?;

        let mut demos = Vec::with_capacity(history.len() / 2);
        for pair in history.chunks(2) {
            let [user, assistant] = pair else {
                return Err("the demos are not user/assistant pairs".to_string());
            };
            let inputs = read_sections(&ChatAdapter, &input_reader, &user.content);
            let outputs = if json {
                read_sections(&JsonAdapter, &output_reader, &assistant.content)
            } else {
                read_sections(&ChatAdapter, &output_reader, &assistant.content)
            };
            let complete = !user.content.starts_with(INCOMPLETE_DEMO) && outputs.len() == output_names.len();
            demos.push(Demo { inputs, outputs, complete, reply: assistant.content.clone() });
        }
        let text = match current.content.rfind("\n\nRespond with") {
            Some(end) => &current.content[..end],
            None => current.content.as_str(),
        };
        let inputs = read_sections(&ChatAdapter, &input_reader, text);
        Ok(PromptView { signature, outputs, instructions, json, demos, inputs })
    }

    /// The value of a current input field.
    pub fn input(&self, name: &str) -> Option<&str> {
        lookup(&self.inputs, name)
    }

    /// True when the signature asks for a `reasoning` output
    /// (ChainOfThought).
    pub fn wants_reasoning(&self) -> bool {
        self.outputs.iter().any(|f| f.name == "reasoning")
    }

    /// The current inputs as one text.
    pub fn input_text(&self) -> String {
        self.inputs.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(" ")
    }

    /// The first demo whose inputs are exactly the current inputs (DSPy's
    /// `DummyLM(follow_examples=True)` rule, and the simulated LM's
    /// "memorized" rule).
    pub fn matching_demo(&self) -> Option<&Demo> {
        if self.inputs.is_empty() {
            return None;
        }
        self.demos.iter().find(|d| d.inputs == self.inputs)
    }

    /// The reply carrying `values` (output name → value, any order): the
    /// adapter's own rendering of an assistant turn (`[[ ## field ## ]]`
    /// sections and the completion marker, or a JSON object). Outputs
    /// without a value are written as DSPy's "not supplied" text.
    pub fn render(&self, values: &[(String, Value)]) -> Result<String, String> {
        let mut inputs = Example::new();
        for (name, value) in &self.inputs {
            inputs.insert(name.clone(), Value::String(value.clone()));
        }
        // The inputs make the demo complete, so the adapter writes it as is.
        let mut demo = inputs.clone();
        for (name, value) in values {
            demo.insert(name.clone(), value.clone());
        }
        let adapter: &dyn Adapter = if self.json { &JsonAdapter } else { &ChatAdapter };
        let messages = adapter.format(&self.signature, &[demo], &inputs).map_err(|e| e.to_string())?;
        messages
            .into_iter()
            .find(|m| m.role == Role::Assistant)
            .map(|m| m.content)
            .ok_or_else(|| "the adapter wrote no assistant turn for the reply".to_string())
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A signature whose outputs are `names`, each `Optional[ty]`: reading a
/// turn with it gives every section present, and `null` for the others.
fn text_signature(names: &[String], ty: FieldType) -> Result<SignatureSpec, String> {
    let fields = names.iter().map(|n| FieldSpec::output(n.clone(), FieldType::optional(ty.clone()))).collect();
    SignatureSpec::new(fields, Some(String::new())).map_err(|e| format!("the field names do not form a signature: {e}"))
}

/// The sections of `text` named in `reader`'s outputs, as text, in signature
/// order; absent and not-supplied fields left out. A turn the adapter cannot
/// read gives no fields.
fn read_sections(adapter: &dyn Adapter, reader: &SignatureSpec, text: &str) -> Vec<(String, String)> {
    let Ok(fields) = adapter.parse(reader, text) else { return Vec::new() };
    fields
        .into_iter()
        .filter_map(|(name, value)| {
            let text = match value {
                Value::Null => return None,
                Value::String(s) => s,
                other => other.to_string(),
            };
            (text.trim() != NOT_SUPPLIED).then_some((name, text))
        })
        .collect()
}

/// The `Your input fields are:` / `Your output fields are:` lists of the
/// system message: ``1. `name` (type): description``.
fn field_lists(system: &str) -> Result<(Vec<String>, Vec<OutputField>), String> {
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut side = None;
    for line in system.lines() {
        match line {
            "Your input fields are:" => side = Some(true),
            "Your output fields are:" => side = Some(false),
            _ if line.starts_with("All interactions will be structured") => break,
            _ => {
                let Some((name, ty)) = field_line(line) else { continue };
                match side {
                    Some(true) => inputs.push(name),
                    Some(false) => {
                        let ty_parsed = parse_type(&ty);
                        let mut options = literal_options(&ty_parsed);
                        if options.is_empty() {
                            options = note_options(system, &name);
                        }
                        outputs.push(OutputField { name, ty: ty_parsed, options });
                    }
                    None => {}
                }
            }
        }
    }
    if outputs.is_empty() {
        return Err("the system message lists no output fields (not a Chat/JSON adapter prompt)".to_string());
    }
    Ok((inputs, outputs))
}

/// ``2. `answer` (int): ...`` → (`answer`, `int`).
fn field_line(line: &str) -> Option<(String, String)> {
    let (number, rest) = line.split_once(". `")?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (name, rest) = rest.split_once("` (")?;
    let ty = match rest.find("):") {
        Some(end) => &rest[..end],
        None => rest.strip_suffix(')')?,
    };
    Some((name.to_string(), ty.to_string()))
}

/// A Python type annotation through core's signature parser; `str` for what
/// it does not know (a model or enum class name).
fn parse_type(text: &str) -> FieldType {
    SignatureSpec::parse(&format!("x -> y: {text}"))
        .ok()
        .and_then(|s| s.output_fields().next().map(|f| f.ty.clone()))
        .unwrap_or(FieldType::Str)
}

fn literal_options(ty: &FieldType) -> Vec<String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match ty {
        FieldType::Literal(values) => values.iter().map(text).collect(),
        FieldType::Enum { members, .. } => members.iter().map(|(_, v)| text(v)).collect(),
        _ => Vec::new(),
    }
}

/// The allowed values the structure section's note states for `name`
/// (`{name}        # note: the value you produce must be one of: a; b`), for
/// enum classes the field list shows only by name.
fn note_options(system: &str, name: &str) -> Vec<String> {
    let placeholder = format!("{{{name}}}");
    system
        .lines()
        .filter(|line| line.contains(&placeholder) && line.contains("# note:"))
        .find_map(|line| line.split_once("one of: "))
        .map(|(_, list)| list.split("; ").map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect())
        .unwrap_or_default()
}

/// The task description: the lines after DSPy's "your objective is:",
/// without their indentation.
fn instructions_of(system: &str) -> String {
    let Some((_, rest)) = system.split_once(OBJECTIVE) else { return String::new() };
    rest.lines().map(str::trim).collect::<Vec<_>>().join("\n").trim().to_string()
}

/// The signature the prompt was made from, as far as the system message
/// tells: inputs as `str`, outputs with their types.
fn rebuild(inputs: &[String], outputs: &[OutputField], instructions: &str) -> Result<SignatureSpec, String> {
    let mut fields: Vec<FieldSpec> = inputs.iter().map(|n| FieldSpec::input(n.clone(), FieldType::Str)).collect();
    fields.extend(outputs.iter().map(|f| FieldSpec::output(f.name.clone(), f.ty.clone())));
    SignatureSpec::new(fields, Some(instructions.to_string()))
        .map_err(|e| format!("the field lists do not form a signature: {e}"))
}

#[cfg(test)]
mod tests {
    use kestrel_core::Message;

    use super::*;

    fn chat_request(signature: &str, demos: &[Example], inputs: &Example) -> LmRequest {
        let sig = SignatureSpec::parse(signature).unwrap();
        LmRequest::new(ChatAdapter.format(&sig, demos, inputs).unwrap())
    }

    #[test]
    fn reads_fields_demos_and_inputs_written_by_the_chat_adapter() {
        let sig = "question -> reasoning, answer: int";
        let demos = [
            Example::from_pairs([("question", "What is 5 + 5?"), ("answer", "10")]),
            Example::from_pairs([("question", "What is 12 / 4?"), ("reasoning", "Twelve in fours."), ("answer", "3")]),
        ];
        let request = chat_request(sig, &demos, &Example::from_pairs([("question", "What is 9 * 9?")]));
        let view = PromptView::parse(&request).unwrap();
        assert_eq!(view.signature.input_names(), ["question"]);
        assert_eq!(view.outputs.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["reasoning", "answer"]);
        assert_eq!(view.outputs[1].ty, FieldType::Int);
        assert!(view.wants_reasoning() && !view.json);
        assert_eq!(view.instructions, "Given the fields `question`, produce the fields `reasoning`, `answer`.");
        assert_eq!(view.demos.len(), 2);
        // DSPy puts incomplete demos first.
        assert!(!view.demos[0].complete && view.demos[1].complete);
        assert_eq!(view.demos[0].output("reasoning"), None);
        assert_eq!(view.demos[0].output("answer"), Some("10"));
        assert_eq!(view.demos[1].input("question"), Some("What is 12 / 4?"));
        assert_eq!(view.input("question"), Some("What is 9 * 9?"));
        assert!(view.matching_demo().is_none());
    }

    #[test]
    fn reads_literal_options_and_json_mode() {
        let sig = SignatureSpec::parse("claim -> label: Literal['SUPPORTED', 'NOT_SUPPORTED']").unwrap();
        let demo = Example::from_pairs([("claim", "Is it?"), ("label", "SUPPORTED")]);
        let mut request = LmRequest::new(
            JsonAdapter
                .format(&sig, std::slice::from_ref(&demo), &Example::from_pairs([("claim", "Is it not?")]))
                .unwrap(),
        );
        request.response_format = Some(serde_json::json!({"type": "json_object"}));
        let view = PromptView::parse(&request).unwrap();
        assert!(view.json);
        assert_eq!(view.outputs[0].options, ["SUPPORTED", "NOT_SUPPORTED"]);
        assert_eq!(view.demos[0].output("label"), Some("SUPPORTED"));
        assert_eq!(view.input("claim"), Some("Is it not?"));
        // The reply is the JSON adapter's own demo rendering, and parses back.
        let reply = view.render(&[("label".into(), "NOT_SUPPORTED".into())]).unwrap();
        let parsed = JsonAdapter.parse(&sig, &reply).unwrap();
        assert_eq!(parsed["label"], "NOT_SUPPORTED");
    }

    #[test]
    fn renders_what_core_parses_and_finds_the_matching_demo() {
        let sig = SignatureSpec::parse("question -> reasoning, answer: int").unwrap();
        let demo = Example::from_pairs([("question", "Q1"), ("reasoning", "r"), ("answer", "7")]);
        let request =
            chat_request("question -> reasoning, answer: int", &[demo], &Example::from_pairs([("question", "Q1")]));
        let view = PromptView::parse(&request).unwrap();
        assert_eq!(view.matching_demo().map(|d| d.output("answer")), Some(Some("7")));
        let reply = view.render(&[("answer".into(), 42.into()), ("reasoning".into(), "six sevens".into())]).unwrap();
        assert_eq!(reply, "[[ ## reasoning ## ]]\nsix sevens\n\n[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]\n");
        let parsed = ChatAdapter.parse(&sig, &reply).unwrap();
        assert_eq!(parsed["answer"], 42);
    }

    #[test]
    fn rejects_what_is_not_an_adapter_prompt() {
        assert!(PromptView::parse(&LmRequest::new(vec![Message::user("hi")])).is_err());
        assert!(PromptView::parse(&LmRequest::new(vec![Message::system("be brief"), Message::user("hi")])).is_err());
    }
}
