//! Reading a ChatAdapter or JSONAdapter request back into fields, as the
//! simulated LM needs them: the input and output field names (with their
//! types and, for `Literal` / enum outputs, the allowed values), the demos
//! (user/assistant pairs before the last message) and the current inputs.

use kestrel_core::Role;
use kestrel_lm::LmRequest;
use serde_json::Value;

/// What DSPy writes in place of a demo field that was not supplied.
pub const NOT_SUPPLIED: &str = "Not supplied for this particular example.";
const INCOMPLETE_DEMO: &str = "This is an example of the task, though some input or output fields are not supplied.";
const JSON_OUTPUTS: &str = "Outputs will be a JSON object";

/// One output field of the signature.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputField {
    /// The field name.
    pub name: String,
    /// The Python type text (`str`, `int`, `Literal['a', 'b']`).
    pub ty: String,
    /// The allowed values of a `Literal` / enum field; empty for others.
    pub options: Vec<String>,
}

/// One demo: a user turn (inputs) and the assistant turn (outputs).
#[derive(Debug, Clone, PartialEq)]
pub struct Demo {
    /// Input field values, in prompt order.
    pub inputs: Vec<(String, String)>,
    /// Output field values, in prompt order (`NOT_SUPPLIED` kept as is).
    pub outputs: Vec<(String, String)>,
    /// True when every input and output field was supplied.
    pub complete: bool,
}

impl Demo {
    /// The supplied value of an output field.
    pub fn output(&self, name: &str) -> Option<&str> {
        lookup(&self.outputs, name).filter(|v| *v != NOT_SUPPLIED)
    }
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptView {
    /// Input field names, in signature order.
    pub input_names: Vec<String>,
    /// Output fields, in signature order.
    pub outputs: Vec<OutputField>,
    /// True when the reply must be a JSON object (JSONAdapter).
    pub json: bool,
    /// The demos, in prompt order.
    pub demos: Vec<Demo>,
    /// The inputs of the current call.
    pub inputs: Vec<(String, String)>,
}

impl PromptView {
    /// Parse a request built by Kestrel's (or DSPy's) Chat or JSON adapter.
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
        let (input_names, mut outputs) = field_lists(&system.content)?;
        for field in &mut outputs {
            field.options = options_of(&system.content, &field.name);
        }
        let outputs_named: Vec<&str> = outputs.iter().map(|f| f.name.as_str()).collect();
        let json = request.response_format.is_some() || system.content.contains(JSON_OUTPUTS);
        let mut demos = Vec::with_capacity(history.len() / 2);
        for pair in history.chunks(2) {
            let [user, assistant] = pair else {
                return Err("the demos are not user/assistant pairs".to_string());
            };
            let incomplete = user.content.starts_with(INCOMPLETE_DEMO);
            let inputs = sections(&user.content);
            let outputs = if json { json_fields(&assistant.content) } else { sections(&assistant.content) };
            let mut demo = Demo { inputs, outputs, complete: false };
            demo.complete = !incomplete && outputs_named.iter().all(|name| demo.output(name).is_some());
            demos.push(demo);
        }
        let text = match current.content.rfind("\n\nRespond with") {
            Some(end) => &current.content[..end],
            None => current.content.as_str(),
        };
        Ok(PromptView { input_names, outputs, json, demos, inputs: sections(text) })
    }

    /// The value of a current input field.
    #[cfg(test)]
    pub fn input(&self, name: &str) -> Option<&str> {
        lookup(&self.inputs, name)
    }

    /// True when the signature asks for a `reasoning` output
    /// (ChainOfThought).
    pub fn wants_reasoning(&self) -> bool {
        self.outputs.iter().any(|f| f.name == "reasoning")
    }

    /// The current inputs as one text (for token overlap).
    pub fn input_text(&self) -> String {
        self.inputs.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(" ")
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The `Your input fields are:` / `Your output fields are:` lists of the
/// system message: `1. \`name\` (type): description`.
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
                    Some(false) => outputs.push(OutputField { name, ty, options: Vec::new() }),
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

/// `2. \`answer\` (int): ...` → (`answer`, `int`).
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

/// The allowed values DSPy's structure section states for `name`:
/// `{name}        # note: the value you produce must ... one of: a; b`.
fn options_of(system: &str, name: &str) -> Vec<String> {
    let placeholder = format!("{{{name}}}");
    system
        .lines()
        .filter(|line| line.starts_with(&placeholder) && line.contains("# note:"))
        .find_map(|line| line.split_once("one of: "))
        .map(|(_, list)| list.split("; ").map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect())
        .unwrap_or_default()
}

/// The `[[ ## name ## ]]` sections of a message, values trimmed
/// (`completed` excluded).
pub fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    let flush = |current: Option<(String, Vec<&str>)>, out: &mut Vec<(String, String)>| {
        if let Some((name, lines)) = current
            && name != "completed"
        {
            out.push((name, lines.join("\n").trim().to_string()));
        }
    };
    for line in text.lines() {
        let header = line.trim().strip_prefix("[[ ## ").and_then(|l| l.strip_suffix(" ## ]]"));
        match header {
            Some(name) => {
                flush(current.take(), &mut out);
                current = Some((name.trim().to_string(), Vec::new()));
            }
            None => {
                if let Some((_, lines)) = current.as_mut() {
                    lines.push(line);
                }
            }
        }
    }
    flush(current, &mut out);
    out
}

/// The fields of a JSON object reply, values as text (strings unquoted).
fn json_fields(text: &str) -> Vec<(String, String)> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text.trim()) else { return Vec::new() };
    map.into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use kestrel_core::Message;

    use super::*;

    fn system(outputs: &str, structure: &str) -> Message {
        Message::system(format!(
            "Your input fields are:\n1. `question` (str):\nYour output fields are:\n{outputs}\nAll interactions will be \
             structured in the following way, with the appropriate values filled in.\n\n[[ ## question ## ]]\n\
             {{question}}\n\n{structure}\n\n[[ ## completed ## ]]\nIn adhering to this structure, your objective is: \n\
             \x20       Given the fields `question`, produce the fields `answer`."
        ))
    }

    #[test]
    fn reads_fields_demos_and_inputs() {
        let request = LmRequest::new(vec![
            system(
                "1. `reasoning` (str): \n2. `answer` (str):",
                "[[ ## reasoning ## ]]\n{reasoning}\n\n[[ ## answer ## ]]\n{answer}",
            ),
            Message::user(format!("{INCOMPLETE_DEMO}\n\n[[ ## question ## ]]\nWhat is 5 + 5?")),
            Message::assistant(format!(
                "[[ ## reasoning ## ]]\n{NOT_SUPPLIED} \n\n[[ ## answer ## ]]\n10\n\n[[ ## completed ## ]]\n"
            )),
            Message::user("[[ ## question ## ]]\nWhat is 12 / 4?"),
            Message::assistant(
                "[[ ## reasoning ## ]]\nTwelve in fours.\n\n[[ ## answer ## ]]\n3\n\n[[ ## completed ## ]]\n",
            ),
            Message::user(
                "[[ ## question ## ]]\nWhat is 9 * 9?\n\nRespond with the corresponding output fields, starting with \
                 the field `[[ ## reasoning ## ]]`, then `[[ ## answer ## ]]`, and then ending with the marker for \
                 `[[ ## completed ## ]]`.",
            ),
        ]);
        let view = PromptView::parse(&request).unwrap();
        assert_eq!(view.input_names, ["question"]);
        assert_eq!(view.outputs.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["reasoning", "answer"]);
        assert!(view.wants_reasoning() && !view.json);
        assert_eq!(view.demos.len(), 2);
        assert!(!view.demos[0].complete && view.demos[1].complete);
        assert_eq!(view.demos[0].output("reasoning"), None);
        assert_eq!(view.demos[0].output("answer"), Some("10"));
        assert_eq!(view.demos[1].inputs, [("question".to_string(), "What is 12 / 4?".to_string())]);
        assert_eq!(view.input("question"), Some("What is 9 * 9?"));
    }

    #[test]
    fn reads_literal_options_and_json_mode() {
        let mut request = LmRequest::new(vec![
            system(
                "1. `label` (Literal['SUPPORTED', 'NOT_SUPPORTED']):",
                "Outputs will be a JSON object with the following fields.\n\n{\n  \"label\": \"{label}\"        # note: \
                 the value you produce must exactly match (no extra characters) one of: SUPPORTED; NOT_SUPPORTED\n}",
            ),
            Message::user("[[ ## question ## ]]\nIs it?"),
            Message::assistant("{\"label\": \"SUPPORTED\"}"),
            Message::user(
                "[[ ## question ## ]]\nIs it not?\n\nRespond with a JSON object in the following order of fields: `label`.",
            ),
        ]);
        request.response_format = Some(serde_json::json!({"type": "json_object"}));
        let view = PromptView::parse(&request).unwrap();
        assert!(view.json);
        assert_eq!(view.outputs[0].ty, "Literal['SUPPORTED', 'NOT_SUPPORTED']");
        assert_eq!(view.demos[0].output("label"), Some("SUPPORTED"));
        assert_eq!(view.input("question"), Some("Is it not?"));
    }

    #[test]
    fn chat_structure_notes_give_options() {
        let text = "Your output fields are:\n1. `tone` (Literal['a', 'b']):\nAll interactions will be structured\n\n\
                    [[ ## tone ## ]]\n{tone}        # note: the value you produce must exactly match (no extra \
                    characters) one of: a; b";
        assert_eq!(options_of(text, "tone"), ["a", "b"]);
        assert!(options_of(text, "other").is_empty());
    }

    #[test]
    fn rejects_what_is_not_an_adapter_prompt() {
        assert!(PromptView::parse(&LmRequest::new(vec![Message::user("hi")])).is_err());
        assert!(PromptView::parse(&LmRequest::new(vec![Message::system("be brief"), Message::user("hi")])).is_err());
    }
}
