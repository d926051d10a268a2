//! Rule 7 (SIMBA's rule prompt): advice names what a contrasted problem
//! needs and the instructions lack; without a contrast it says nothing
//! useful.

use kestrel_core::{Adapter, ChatAdapter, Example, FieldSpec, FieldType, SignatureSpec};
use kestrel_lm::LmRequest;
use serde_json::{Value, json};

use super::SimulatedLm;
use super::advise::ADVICE_OUTPUT;
use super::propose::{IRRELEVANT, RELEVANT, STEP_BY_STEP};

/// The fields of SIMBA's `OfferFeedback` the rule reads.
fn offer_feedback() -> SignatureSpec {
    let input = |name: &str| FieldSpec::input(name, FieldType::Str);
    SignatureSpec::new(
        vec![
            input("modules_defn"),
            input("program_inputs"),
            input("worse_program_trajectory"),
            input("worse_reward_value"),
            input("better_reward_value"),
            input("module_names"),
            FieldSpec::output("discussion", FieldType::Str),
            FieldSpec::output(ADVICE_OUTPUT, FieldType::Dict(Box::new(FieldType::Str), Box::new(FieldType::Str))),
        ],
        Some("Offer feedback.".into()),
    )
    .unwrap()
}

fn advice(instructions: &str, better: &str, worse: &str) -> Value {
    let defn = format!("{d}\nModule self\n\tOriginal Instructions: \n\t\t{instructions}\n{d}", d = "-".repeat(80));
    let question = "Ana has 3 apples. She buys 4 more apples. Then she gives away 2 apples. How many apples now?";
    let inputs = Example::from_pairs([
        ("modules_defn", defn),
        ("program_inputs", json!({"question": question}).to_string()),
        ("worse_program_trajectory", "[]".to_string()),
        ("worse_reward_value", worse.to_string()),
        ("better_reward_value", better.to_string()),
        ("module_names", "[\n  \"self\"\n]".to_string()),
    ]);
    let request = LmRequest::new(ChatAdapter.format(&offer_feedback(), &[], &inputs).unwrap());
    let reply = SimulatedLm::new().respond(&request).unwrap();
    let after = reply.split("[[ ## module_advice ## ]]\n").nth(1).unwrap();
    serde_json::from_str(after.split("\n\n").next().unwrap()).unwrap()
}

#[test]
fn a_contrast_teaches_the_operations_the_instructions_lack() {
    let got = advice("Answer the question.", "1.0", "0.0");
    let want = format!("{} {} {STEP_BY_STEP}", RELEVANT[1], RELEVANT[2]);
    assert_eq!(got, json!({"self": want}));
    // Operations already named are not advised again.
    let got = advice("Add them step by step.", "1.0", "0.0");
    assert_eq!(got, json!({"self": RELEVANT[2]}));
    // A bool metric's rewards, as DSPy writes them.
    assert_eq!(advice("Add them step by step.", "true", "false"), json!({"self": RELEVANT[2]}));
}

#[test]
fn without_a_contrast_the_advice_is_irrelevant() {
    for (better, worse) in [("N/A", "0.0"), ("1.0", "1.0"), ("true", "true")] {
        let got = advice("Answer the question.", better, worse);
        let text = got["self"].as_str().unwrap();
        assert!(IRRELEVANT.contains(&text), "{text}");
    }
}
