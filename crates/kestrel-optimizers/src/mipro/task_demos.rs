//! The proposer's `task_demos` / `program_example` text (DSPy 3.4.1's
//! `GenerateModuleInstruction.forward`): up to `num_demos_in_context`
//! *augmented* (bootstrapped) demos, gathered from the demo set being
//! proposed for, then the sets after it, then the sets before it; each
//! written as `Prefix: value` lines over every field of the predictor's
//! signature (`create_example_string`), joined by blank lines and followed
//! by one. Demo set 0, or no demo gathered, gives "No task demos provided.".

use kestrel_core::{Example, SignatureSpec};

use super::pyrepr::python_str;

/// The text shown when there are no demos (and always for demo set 0).
pub(crate) const NO_TASK_DEMOS: &str = "No task demos provided.";

/// DSPy's `create_example_string`: `"{prefix} {str(value)}"` per field of
/// the signature, in order, `None` for a field the demo lacks.
pub(crate) fn example_string(signature: &SignatureSpec, demo: &Example) -> String {
    let lines: Vec<String> = signature
        .fields()
        .map(|f| {
            let value = demo.get(&f.name).map_or_else(|| "None".to_string(), python_str);
            format!("{} {value}", f.prefix)
        })
        .collect();
    lines.join("\n")
}

/// The `task_demos` text for demo set `set` of one predictor whose demo
/// sets are `sets` (`None`: task demos are off or there are no sets).
pub(crate) fn task_demos(
    signature: &SignatureSpec,
    sets: Option<&[Vec<Example>]>,
    set: usize,
    num_demos_in_context: usize,
) -> String {
    let Some(sets) = sets else {
        return NO_TASK_DEMOS.to_string();
    };
    if set == 0 {
        return NO_TASK_DEMOS.to_string();
    }
    let order = sets.get(set..).into_iter().flatten().chain(sets.get(..set).into_iter().flatten());
    let gathered: Vec<String> = order
        .flatten()
        .filter(|demo| demo.contains_key("augmented"))
        // DSPy checks the count after taking a demo: 0 still takes one.
        .take(num_demos_in_context.max(1))
        .map(|demo| example_string(signature, demo))
        .collect();
    if gathered.is_empty() {
        return NO_TASK_DEMOS.to_string();
    }
    format!("{}\n\n", gathered.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn demo(v: serde_json::Value) -> Example {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn augmented_demos_come_from_this_set_then_the_next_then_the_earlier_ones() {
        let signature = SignatureSpec::parse("question -> answer").unwrap();
        let sets = vec![
            vec![demo(json!({"augmented": true, "question": "q0", "answer": "a0"}))],
            vec![demo(json!({"question": "labeled", "answer": "x"}))],
            vec![demo(json!({"augmented": true, "question": "q2", "answer": 2}))],
            vec![demo(json!({"augmented": true, "question": "q3"}))],
        ];
        assert_eq!(task_demos(&signature, Some(&sets), 0, 3), NO_TASK_DEMOS);
        assert_eq!(
            task_demos(&signature, Some(&sets), 2, 3),
            "Question: q2\nAnswer: 2\n\nQuestion: q3\nAnswer: None\n\nQuestion: q0\nAnswer: a0\n\n"
        );
        assert_eq!(task_demos(&signature, Some(&sets), 3, 1), "Question: q3\nAnswer: None\n\n");
        assert_eq!(task_demos(&signature, None, 2, 3), NO_TASK_DEMOS);
        let labeled_only = vec![Vec::new(), vec![demo(json!({"question": "q", "answer": "a"}))]];
        assert_eq!(task_demos(&signature, Some(&labeled_only), 1, 3), NO_TASK_DEMOS);
    }
}
