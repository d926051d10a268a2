//! ReAct's prompt pieces, worded exactly as DSPy 3.4.1 words them: the agent
//! instructions listing the tools, the `react` and `extract` signatures, the
//! built-in `finish` tool, and the [`Trajectory`] with its prompt rendering
//! and truncation.

use kestrel_core::adapter::format_user_message_content;
use kestrel_core::{Example, FieldSpec, FieldType, Fields, SignatureSpec};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::ModuleError;
use crate::tool::Tool;

/// The name of DSPy's built-in tool that ends the loop.
pub const FINISH: &str = "finish";

/// `` `a`, `b` `` for a list of field names.
fn backticked<'a>(names: impl Iterator<Item = &'a FieldSpec>) -> String {
    names.map(|f| format!("`{}`", f.name)).collect::<Vec<_>>().join(", ")
}

/// DSPy's `finish` tool: no arguments, observation `Completed.`.
pub(crate) fn finish_tool(signature: &SignatureSpec) -> Tool {
    let outputs = backticked(signature.output_fields());
    Tool::dynamic(
        FINISH,
        format!(
            "Marks the task as complete. That is, signals that all information for producing the outputs, i.e. {outputs}, are now available to be extracted."
        ),
        Map::new(),
        |_| async { Ok::<_, std::convert::Infallible>(Value::String("Completed.".into())) },
    )
}

/// The `react` predictor's instructions: the signature's own, then the agent
/// description, then one `(i) tool` line per tool (`finish` last).
pub(crate) fn react_instructions(signature: &SignatureSpec, tools: &[Tool]) -> String {
    let inputs = backticked(signature.input_fields());
    let outputs = backticked(signature.output_fields());
    let mut lines: Vec<String> = Vec::with_capacity(tools.len() + 8);
    if !signature.instructions().is_empty() {
        lines.push(format!("{}\n", signature.instructions()));
    }
    lines.push(format!(
        "You are an Agent. In each episode, you will be given the fields {inputs} as input. And you can see your past trajectory so far."
    ));
    lines.push(format!(
        "Your goal is to use one or more of the supplied tools to collect any necessary information for producing {outputs}.\n"
    ));
    lines.push(
        "To do this, you will interleave next_thought, next_tool_name, and next_tool_args in each turn, and also when finishing the task."
            .into(),
    );
    lines.push(
        "After each tool call, you receive a resulting observation, which gets appended to your trajectory.\n".into(),
    );
    lines.push(
        "When writing next_thought, you may reason about the current situation and plan for future steps.".into(),
    );
    lines.push("When selecting the next_tool_name and its next_tool_args, the tool must be one of:\n".into());
    for (i, tool) in tools.iter().enumerate() {
        lines.push(format!("({}) {tool}", i + 1));
    }
    lines.push("When providing `next_tool_args`, the value inside the field must be in JSON format".into());
    lines.join("\n")
}

/// The `react` signature: the inputs, `trajectory`, then `next_thought`,
/// `next_tool_name` (a Literal of the tool names) and `next_tool_args`.
pub(crate) fn react_signature(signature: &SignatureSpec, tools: &[Tool]) -> Result<SignatureSpec, ModuleError> {
    let inputs: Vec<FieldSpec> = signature.input_fields().cloned().collect();
    let names: Vec<Value> = tools.iter().map(|t| Value::String(t.name().to_string())).collect();
    let spec = SignatureSpec::new(inputs, Some(react_instructions(signature, tools)))?
        .append(FieldSpec::input("trajectory", FieldType::Str))?
        .append(FieldSpec::output("next_thought", FieldType::Str))?
        .append(FieldSpec::output("next_tool_name", FieldType::Literal(names)))?
        .append(FieldSpec::output(
            "next_tool_args",
            FieldType::Dict(Box::new(FieldType::Str), Box::new(FieldType::Any)),
        ))?;
    Ok(spec)
}

/// The `extract` signature (before ChainOfThought adds `reasoning`): the
/// original signature with a `trajectory` input.
pub(crate) fn extract_signature(signature: &SignatureSpec) -> Result<SignatureSpec, ModuleError> {
    Ok(signature.clone().append(FieldSpec::input("trajectory", FieldType::Str))?)
}

/// One turn of the agent: what it thought, which tool it called with which
/// arguments, and what came back.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolStep {
    /// `next_thought`.
    pub thought: String,
    /// `next_tool_name`.
    pub tool_name: String,
    /// `next_tool_args` (a JSON object).
    pub tool_args: Value,
    /// The tool's result, or `Execution error in {tool}: ...`.
    pub observation: Value,
}

/// The agent's turns so far. Serialized as DSPy's flat dict
/// (`thought_0`, `tool_name_0`, `tool_args_0`, `observation_0`, `thought_1`,
/// ...). After a truncation the numbering starts above 0, as in DSPy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trajectory {
    first: usize,
    steps: Vec<ToolStep>,
}

impl Trajectory {
    /// The steps, oldest first.
    pub fn steps(&self) -> &[ToolStep] {
        &self.steps
    }

    /// The number of the oldest step kept (0 unless truncated).
    pub fn first_index(&self) -> usize {
        self.first
    }

    /// Number of steps kept.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// True when no step is kept.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The number the next step will get.
    pub fn next_index(&self) -> usize {
        self.first + self.steps.len()
    }

    /// Add a step.
    pub fn push(&mut self, step: ToolStep) {
        self.steps.push(step);
    }

    /// The flat dict DSPy keeps.
    pub fn to_fields(&self) -> Fields {
        let mut fields = Fields::with_capacity(self.steps.len() * 4);
        for (i, step) in self.steps.iter().enumerate() {
            let n = self.first + i;
            fields.insert(format!("thought_{n}"), Value::String(step.thought.clone()));
            fields.insert(format!("tool_name_{n}"), Value::String(step.tool_name.clone()));
            fields.insert(format!("tool_args_{n}"), step.tool_args.clone());
            fields.insert(format!("observation_{n}"), step.observation.clone());
        }
        fields
    }

    /// The `trajectory` input as the prompt shows it: one `[[ ## key ## ]]`
    /// block per entry (DSPy's `format_user_message_content` over a
    /// signature of the keys).
    pub fn render(&self) -> String {
        if self.steps.is_empty() {
            return String::new();
        }
        let fields = self.to_fields();
        let inputs: Vec<FieldSpec> = fields.keys().map(|k| FieldSpec::input(k.as_str(), FieldType::Str)).collect();
        let signature = SignatureSpec::new(inputs, Some(String::new()))
            .and_then(|s| s.append(FieldSpec::output("x", FieldType::Str)));
        match signature {
            Ok(signature) => format_user_message_content(&signature, &Example::from_fields(fields)),
            // Keys are always identifiers; keep the text anyway if not.
            Err(_) => String::new(),
        }
    }

    /// Drop the oldest step (DSPy's `truncate_trajectory`). Returns false,
    /// changing nothing, when one step or none is left.
    pub fn truncate_oldest(&mut self) -> bool {
        if self.steps.len() <= 1 {
            return false;
        }
        self.steps.remove(0);
        self.first += 1;
        true
    }
}

impl Serialize for Trajectory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_fields().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Trajectory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = Fields::deserialize(deserializer)?;
        let mut indices: Vec<usize> = Vec::new();
        for key in fields.keys() {
            let n = ["thought_", "tool_name_", "tool_args_", "observation_"]
                .iter()
                .find_map(|prefix| key.strip_prefix(prefix).and_then(|n| n.parse::<usize>().ok()))
                .ok_or_else(|| D::Error::custom(format!("unexpected trajectory key `{key}`")))?;
            if !indices.contains(&n) {
                indices.push(n);
            }
        }
        indices.sort_unstable();
        let first = indices.first().copied().unwrap_or(0);
        let mut steps = Vec::with_capacity(indices.len());
        for (i, n) in indices.iter().enumerate() {
            if *n != first + i {
                return Err(D::Error::custom(format!("trajectory step {} is missing", first + i)));
            }
            let get = |name: &str| {
                fields
                    .get(&format!("{name}_{n}"))
                    .cloned()
                    .ok_or_else(|| D::Error::custom(format!("missing `{name}_{n}`")))
            };
            let text = |v: Value| match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            steps.push(ToolStep {
                thought: text(get("thought")?),
                tool_name: text(get("tool_name")?),
                tool_args: get("tool_args")?,
                observation: get("observation")?,
            });
        }
        Ok(Trajectory { first, steps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(n: i64) -> ToolStep {
        ToolStep {
            thought: format!("t{n}"),
            tool_name: "add".into(),
            tool_args: json!({"a": n}),
            observation: json!(n),
        }
    }

    #[test]
    fn renders_blocks_and_round_trips_after_truncation() {
        let mut t = Trajectory::default();
        assert_eq!(t.render(), "");
        t.push(step(0));
        t.push(step(1));
        assert_eq!(
            t.render(),
            "[[ ## thought_0 ## ]]\nt0\n\n[[ ## tool_name_0 ## ]]\nadd\n\n[[ ## tool_args_0 ## ]]\n{\"a\": 0}\n\n\
             [[ ## observation_0 ## ]]\n0\n\n[[ ## thought_1 ## ]]\nt1\n\n[[ ## tool_name_1 ## ]]\nadd\n\n\
             [[ ## tool_args_1 ## ]]\n{\"a\": 1}\n\n[[ ## observation_1 ## ]]\n1"
        );
        assert!(t.truncate_oldest());
        assert!(!t.truncate_oldest());
        assert_eq!((t.first_index(), t.next_index()), (1, 2));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json, json!({"thought_1": "t1", "tool_name_1": "add", "tool_args_1": {"a": 1}, "observation_1": 1}));
        let back: Trajectory = serde_json::from_value(json).unwrap();
        assert_eq!(back, t);
        assert!(serde_json::from_value::<Trajectory>(json!({"thought_0": "x"})).is_err());
        assert!(serde_json::from_value::<Trajectory>(json!({"other": 1})).is_err());
    }
}
