//! Unit tests of the simulated LM's proposal rule (rule 5), on COPRO's and
//! MIPROv2's prompt-model signatures written by core's ChatAdapter.

use kestrel_core::{Adapter, ChatAdapter, Example, FieldSpec, FieldType, SignatureSpec};
use kestrel_lm::{Lm, LmRequest};

use super::propose::{self, IRRELEVANT, RELEVANT};
use super::*;
use crate::mock::Responder;

const BASIC: &str = "Given the fields `question`, produce the fields `answer`.";

fn sig(inputs: &[&str], outputs: &[&str], instructions: &str) -> SignatureSpec {
    let mut fields: Vec<FieldSpec> = inputs.iter().map(|n| FieldSpec::input(*n, FieldType::Str)).collect();
    fields.extend(outputs.iter().map(|n| FieldSpec::output(*n, FieldType::Str)));
    SignatureSpec::new(fields, Some(instructions.to_string())).unwrap()
}

fn copro_basic() -> SignatureSpec {
    sig(
        &["basic_instruction"],
        &["proposed_instruction", "proposed_prefix_for_output_field"],
        "You are an instruction optimizer for large language models.",
    )
}

fn copro_attempts() -> SignatureSpec {
    sig(
        &["attempted_instructions"],
        &["proposed_instruction", "proposed_prefix_for_output_field"],
        "You are an instruction optimizer for large language models. I will give some task instructions I've tried.",
    )
}

fn req(signature: &SignatureSpec, inputs: &[(&str, &str)], temperature: f32, rollout: Option<u64>) -> LmRequest {
    let inputs = Example::from_pairs(inputs.iter().map(|(k, v)| (*k, v.to_string())));
    let mut request = LmRequest::new(ChatAdapter.format(signature, &[], &inputs).unwrap());
    request.temperature = Some(temperature);
    request.rollout_id = rollout;
    request
}

fn field(signature: &SignatureSpec, reply: &str, name: &str) -> String {
    let fields = ChatAdapter.parse(signature, reply).unwrap();
    fields[name].as_str().unwrap().to_string()
}

fn relevant_count(instruction: &str) -> usize {
    RELEVANT.iter().filter(|f| instruction.contains(*f)).count()
}

#[test]
fn the_same_request_gets_the_same_proposal_and_the_draw_depends_on_temperature_and_rollout() {
    let s = copro_basic();
    let a = req(&s, &[("basic_instruction", BASIC)], 1.4, None);
    assert_eq!(SimulatedLm::new().respond_choice(&a, 3), SimulatedLm::new().respond_choice(&a, 3));
    let differs = (0..8u64).any(|r| {
        let other = req(&s, &[("basic_instruction", BASIC)], 1.4, Some(r));
        respond_choice(&other, 0) != respond_choice(&a, 0)
    });
    assert!(differs, "the rollout id takes part in the draw");
}

#[test]
fn n_choices_differ_and_parse_with_the_chat_adapter() {
    let s = copro_basic();
    let request = req(&s, &[("basic_instruction", BASIC)], 1.4, None);
    let mut seen = Vec::new();
    for index in 0..9 {
        let reply = respond_choice(&request, index).unwrap();
        let instruction = field(&s, &reply, "proposed_instruction");
        let prefix = field(&s, &reply, "proposed_prefix_for_output_field");
        assert!(!instruction.is_empty() && propose::PREFIXES.contains(&prefix.as_str()), "{reply}");
        // Every sentence after the opener comes from the two pools.
        assert!(propose::OPENERS.iter().any(|o| instruction.starts_with(o)), "{instruction}");
        assert!(!seen.contains(&instruction), "choice {index} repeats an earlier one: {instruction}");
        seen.push(instruction);
    }
}

#[tokio::test]
async fn the_in_process_lm_and_the_responder_give_each_choice_its_own_reply() {
    let s = copro_basic();
    let mut request = req(&s, &[("basic_instruction", BASIC)], 1.4, None);
    request.n = 5;
    let response = SimulatedLm::new().call(request.clone()).await.unwrap();
    let texts: Vec<&str> = response.completions.iter().map(|c| c.text.as_str()).collect();
    let responder = Responder::from(SimulatedLm::new());
    for (index, text) in texts.iter().enumerate() {
        assert_eq!(responder.reply_choice(&request, index as u32).unwrap(), *text);
        assert!(!texts[..index].contains(text));
    }
}

#[test]
fn evidence_raises_the_share_of_relevant_fragments() {
    let s = copro_basic();
    let count = |basic: &str| -> usize {
        (0..150u64)
            .map(|r| {
                let reply = respond_choice(&req(&s, &[("basic_instruction", basic)], 1.4, Some(r)), 0).unwrap();
                relevant_count(&field(&s, &reply, "proposed_instruction"))
            })
            .sum()
    };
    let bare = count(BASIC);
    let with_ops = count("Solve the word problem; the steps use addition and multiplication.");
    assert!(with_ops as f64 > 1.5 * bare as f64, "bare {bare}, with operations {with_ops}");
}

#[test]
fn proposals_given_attempts_build_on_the_best_scoring_one() {
    let s = copro_attempts();
    let attempts = "Instruction #1: Use plain language.\nPrefix #1: Answer:\nResulting Score #1: 31.0\n\n\
Instruction #2: Solve the given task accurately. Work through the problem step by step.\nPrefix #2: Result:\n\
Resulting Score #2: 55.5\n\nInstruction #3: Be concise and precise.\nPrefix #3: Answer:\nResulting Score #3: 40.0";
    let best = propose::best_attempt(attempts).unwrap();
    assert_eq!(best.instruction, "Solve the given task accurately. Work through the problem step by step.");
    assert_eq!((best.prefix.as_str(), best.score), ("Result:", 55.5));
    let request = req(&s, &[("attempted_instructions", attempts)], 1.4, None);
    let mut seen = Vec::new();
    for index in 0..9 {
        let instruction = field(&s, &respond_choice(&request, index).unwrap(), "proposed_instruction");
        assert!(instruction.starts_with(&best.instruction) && instruction.len() > best.instruction.len());
        assert!(!seen.contains(&instruction));
        seen.push(instruction);
    }
}

#[test]
fn fragments_are_what_the_task_rules_reward_or_ignore() {
    let p = Problem {
        name: "Ava".into(),
        items: "apples".into(),
        start: 3,
        steps: vec![Step::Add(2), Step::Remove(1), Step::Times(2)],
    };
    for fragment in RELEVANT {
        assert!(skill::instruction_skill(fragment, &p) > 0.0, "{fragment}");
    }
    for text in IRRELEVANT.iter().chain(propose::OPENERS.iter()) {
        assert_eq!(skill::instruction_skill(text, &p), 0.0, "{text}");
    }
}

#[test]
fn mipro_prompts_get_replies_that_parse_and_carry_the_operations() {
    let data = generate(5, 6).iter().map(|p| format!("question: {}", p.render())).collect::<Vec<_>>().join("\n");
    let descriptor = sig(&["examples"], &["observations"], "Given several examples from a dataset ...");
    let reply = respond(&req(&descriptor, &[("examples", &data)], 0.7, None)).unwrap();
    let observations = field(&descriptor, &reply, "observations");
    assert!(observations.contains("arithmetic word problems"), "{observations}");

    let prior = sig(&["examples", "prior_observations"], &["observations"], "Given several examples ...");
    let reply = respond(&req(&prior, &[("examples", &data), ("prior_observations", &observations)], 0.7, None));
    assert_eq!(field(&prior, &reply.unwrap(), "observations"), "COMPLETE");

    let summarizer = sig(&["observations"], &["summary"], "Given a series of observations ...");
    let summary = field(
        &summarizer,
        &respond(&req(&summarizer, &[("observations", &observations)], 0.7, None)).unwrap(),
        "summary",
    );
    assert!(summary.contains("word problems"), "{summary}");

    let program = sig(&["program_code", "program_example"], &["program_description"], "Below is some pseudo-code");
    let code = "class ChainOfThought: question -> reasoning, answer";
    let reply = respond(&req(&program, &[("program_code", code), ("program_example", "")], 0.7, None)).unwrap();
    assert!(field(&program, &reply, "program_description").contains("step by step"));

    let module = sig(
        &["program_code", "program_example", "program_description", "module"],
        &["module_description"],
        "Below is some pseudo-code",
    );
    let reply = respond(&req(
        &module,
        &[("program_code", code), ("program_example", ""), ("program_description", "x"), ("module", "m")],
        0.7,
        None,
    ))
    .unwrap();
    assert!(!field(&module, &reply, "module_description").is_empty());

    let generate_instruction = sig(
        &["dataset_description", "task_demos", "basic_instruction", "tip"],
        &["proposed_instruction"],
        "Use the information below to learn about a task",
    );
    let inputs = [
        ("dataset_description", summary.as_str()),
        ("task_demos", &data),
        ("basic_instruction", BASIC),
        ("tip", "Be creative."),
    ];
    let relevant: usize = (0..40u64)
        .map(|r| {
            let reply = respond_choice(&req(&generate_instruction, &inputs, 1.0, Some(r)), 0).unwrap();
            relevant_count(&field(&generate_instruction, &reply, "proposed_instruction"))
        })
        .sum();
    // Relevance 0.7 under this evidence (operations, a tip): about 56 of the
    // 80 fragments; 0.25 (about 20) without any.
    assert!(relevant >= 44, "{relevant} relevant fragments of 80");
}
