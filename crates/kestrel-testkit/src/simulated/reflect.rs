//! The simulated LM as GEPA's *reflection LM*: DSPy's `ProposeInstruction`
//! prompt (`current_instruction`, `examples_with_feedback ->
//! new_instruction`, recognised by its output [`REFLECTION_OUTPUT`]) is
//! answered by reading the feedback, as a careful model would:
//!
//! - only examples whose feedback says the answer was wrong count (the
//!   benchmark's feedback metric, [`super::skill::feedback`], starts with
//!   "The answer N is wrong" or "No number was given");
//! - every operation such feedback names (addition, subtraction,
//!   multiplication) that the current instruction does not name yet adds
//!   that operation's fragment of [`RELEVANT`] (which names it), and "step
//!   by step" in such feedback adds [`STEP_BY_STEP`] when the instruction
//!   lacks it — exactly what the task rules reward (+0.3 skill per named
//!   operation of a problem, +0.5 for "step by step" on multi-step ones);
//! - when the feedback teaches nothing new (no wrong answers, or only
//!   DSPy's default "This trajectory got a score of …" text), one
//!   [`IRRELEVANT`] fragment not in the instruction yet is appended (picked
//!   by a SHA-256 of the request), which changes nothing.
//!
//! So a metric that explains its verdicts lets GEPA climb; a bare score
//! does not. The reply is a pure function of the request bytes.

use kestrel_lm::LmRequest;
use serde_json::Value;

use super::problems::Operation;
use super::prompt::PromptView;
use super::propose::{IRRELEVANT, RELEVANT, STEP_BY_STEP, operations_in, request_digest};
use super::skill::word;

/// The output field of DSPy's `ProposeInstruction`.
pub const REFLECTION_OUTPUT: &str = "new_instruction";

/// True when `view` is GEPA's reflection prompt.
pub fn is_reflection(view: &PromptView) -> bool {
    view.outputs.iter().any(|f| f.name == REFLECTION_OUTPUT) && view.input("examples_with_feedback").is_some()
}

/// The feedback texts of the examples whose answer was wrong.
fn wrong_feedback(examples: &str) -> Vec<String> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(examples) else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| item.get("Feedback").and_then(Value::as_str))
        .filter(|f| f.contains(" is wrong") || f.starts_with("No number was given"))
        .map(str::to_string)
        .collect()
}

/// The new instruction for `current` given the reflective dataset text.
pub fn new_instruction(current: &str, examples: &str, request: &LmRequest) -> String {
    let lower_current = current.to_lowercase();
    let named = operations_in(&lower_current);
    let mut added: Vec<&str> = Vec::new();
    let feedback = wrong_feedback(examples).join(" ").to_lowercase();
    for op in operations_in(&feedback) {
        let shown_only = !op.names().iter().any(|name| feedback.contains(name));
        if shown_only || named.contains(&op) {
            continue;
        }
        if let Some(i) = Operation::ALL.iter().position(|o| *o == op) {
            added.push(RELEVANT[i + 1]);
        }
    }
    if feedback.contains("step by step") && !lower_current.contains("step by step") {
        added.insert(0, STEP_BY_STEP);
    }
    if added.is_empty() {
        let start = (word(&request_digest(request), 0) % IRRELEVANT.len() as u64) as usize;
        let fresh =
            (0..IRRELEVANT.len()).map(|k| IRRELEVANT[(start + k) % IRRELEVANT.len()]).find(|f| !current.contains(f));
        added.push(fresh.unwrap_or("Revise the answer once more."));
    }
    let base = current.trim_end();
    if base.is_empty() { added.join(" ") } else { format!("{base} {}", added.join(" ")) }
}

/// The reply values of a reflection prompt.
pub fn answer(view: &PromptView, request: &LmRequest) -> Vec<(String, Value)> {
    let current = view.input("current_instruction").unwrap_or_default();
    let examples = view.input("examples_with_feedback").unwrap_or_default();
    let instruction = new_instruction(current, examples, request);
    view.outputs
        .iter()
        .map(|field| {
            let text =
                if field.name == REFLECTION_OUTPUT { instruction.clone() } else { "Not applicable.".to_string() };
            (field.name.clone(), Value::String(text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> LmRequest {
        LmRequest::new(vec![kestrel_core::Message::user("x")])
    }

    #[test]
    fn wrong_answers_feedback_names_the_operations_to_add() {
        let examples = serde_json::json!([
            {"Inputs": {"question": "q1"}, "Generated Outputs": {"answer": "3"},
             "Feedback": "The answer 3 is wrong; the right answer is 5. The problem takes 2 steps using addition and multiplication; work through it step by step."},
            {"Inputs": {"question": "q2"}, "Generated Outputs": {"answer": "4"},
             "Feedback": "The answer 4 is right. The problem takes one step of subtraction."}
        ])
        .to_string();
        let got = new_instruction("Solve it.", &examples, &request());
        assert_eq!(got, format!("Solve it. {STEP_BY_STEP} {} {}", RELEVANT[1], RELEVANT[3]));
        // Already named: nothing relevant left, so an irrelevant fragment.
        let again = new_instruction(&got, &examples, &request());
        assert!(again.starts_with(&got) && IRRELEVANT.iter().any(|f| again.ends_with(f)), "{again}");
    }

    #[test]
    fn default_feedback_teaches_nothing() {
        let examples = serde_json::json!([
            {"Inputs": {"question": "Sam buys 3 more apples"}, "Generated Outputs": {"answer": "3"},
             "Feedback": "This trajectory got a score of 0.0."}
        ])
        .to_string();
        let got = new_instruction("Solve it.", &examples, &request());
        assert!(IRRELEVANT.iter().any(|f| got == format!("Solve it. {f}")), "{got}");
    }
}
