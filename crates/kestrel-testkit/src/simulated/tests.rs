//! Unit tests of the simulated LM's rules, on prompts written by core's
//! adapters.

use kestrel_core::{Adapter, ChatAdapter, Example, JsonAdapter, SignatureSpec};

use super::*;

fn request(signature: &SignatureSpec, demos: &[Example], question: &str) -> LmRequest {
    let inputs = Example::from_pairs([("question", question)]);
    LmRequest::new(ChatAdapter.format(signature, demos, &inputs).unwrap())
}

fn predict() -> SignatureSpec {
    SignatureSpec::parse("question -> answer").unwrap()
}

fn cot() -> SignatureSpec {
    SignatureSpec::parse("question -> reasoning, answer").unwrap()
}

fn answer_of(signature: &SignatureSpec, reply: &str) -> String {
    let fields = ChatAdapter.parse(signature, reply).unwrap();
    fields["answer"].as_str().unwrap().to_string()
}

fn demo(problem: &Problem, answer: i64) -> Example {
    Example::from_pairs([("question", problem.render()), ("answer", answer.to_string())])
}

/// Which of `problems` the LM answers right under this signature and demos.
fn right(lm: SimulatedLm, signature: &SignatureSpec, demos: &[Example], problems: &[Problem]) -> Vec<bool> {
    problems
        .iter()
        .map(|p| {
            let reply = lm.respond(&request(signature, demos, &p.render())).unwrap();
            answer_of(signature, &reply) == p.answer().to_string()
        })
        .collect()
}

fn rate(hits: &[bool]) -> f64 {
    hits.iter().filter(|h| **h).count() as f64 / hits.len() as f64
}

/// Problems with exactly this template, and demos of the same template.
fn of_template(seed: u64, ops: &[Operation], count: usize) -> Vec<Problem> {
    generate(seed, 20_000).into_iter().filter(|p| p.operations() == ops).take(count).collect()
}

/// For each question, more skill is never worse: the hits of `worse` are a
/// subset of the hits of `better`.
fn dominates(better: &[bool], worse: &[bool]) -> bool {
    better.iter().zip(worse).all(|(b, w)| *b || !*w)
}

#[test]
fn correct_demos_of_the_same_template_help_and_others_do_not() {
    let ops = [Operation::Addition, Operation::Multiplication];
    let questions = of_template(1, &ops, 300);
    let same: Vec<Example> = of_template(2, &ops, 2).iter().map(|p| demo(p, p.answer())).collect();
    let other: Vec<Example> =
        of_template(2, &[Operation::Subtraction], 2).iter().map(|p| demo(p, p.answer())).collect();
    let lm = SimulatedLm::new();
    let zero = right(lm, &predict(), &[], &questions);
    let with_same = right(lm, &predict(), &same, &questions);
    let with_other = right(lm, &predict(), &other, &questions);
    assert_eq!(with_other, zero, "dissimilar demos change nothing");
    assert!(dominates(&with_same, &zero));
    assert!(rate(&with_same) > rate(&zero) + 0.2, "{} vs {}", rate(&with_same), rate(&zero));
}

#[test]
fn wrong_demos_do_not_help() {
    let ops = [Operation::Subtraction, Operation::Addition];
    let questions = of_template(3, &ops, 300);
    let shown = of_template(4, &ops, 2);
    let wrong: Vec<Example> = shown.iter().map(|p| demo(p, p.answer() + 3)).collect();
    let right_demos: Vec<Example> = shown.iter().map(|p| demo(p, p.answer())).collect();
    let lm = SimulatedLm::new();
    let zero = right(lm, &predict(), &[], &questions);
    let with_wrong = right(lm, &predict(), &wrong, &questions);
    let with_right = right(lm, &predict(), &right_demos, &questions);
    assert!(dominates(&zero, &with_wrong), "wrong demos never turn a wrong answer right");
    assert!(rate(&with_wrong) < rate(&zero), "{} vs {}", rate(&with_wrong), rate(&zero));
    assert!(rate(&with_right) > rate(&zero));
}

#[test]
fn instruction_keywords_help_and_plain_words_do_not() {
    let questions: Vec<Problem> = generate(5, 400).into_iter().filter(|p| p.steps.len() >= 2).collect();
    let lm = SimulatedLm::new();
    let plain = right(lm, &predict(), &[], &questions);
    let chatty = predict().with_instructions("Answer the question about the items carefully.");
    assert_eq!(right(lm, &chatty, &[], &questions), plain);
    let tuned = predict()
        .with_instructions("Solve the word problem step by step: add, subtract or multiply the counts in order.");
    let with_keywords = right(lm, &tuned, &[], &questions);
    assert!(dominates(&with_keywords, &plain));
    assert!(rate(&with_keywords) > rate(&plain) + 0.15, "{} vs {}", rate(&with_keywords), rate(&plain));
}

#[test]
fn reasoning_helps_on_multi_step_problems_only() {
    let problems = generate(6, 600);
    let (multi, single): (Vec<Problem>, Vec<Problem>) = problems.into_iter().partition(|p| p.steps.len() >= 2);
    let lm = SimulatedLm::new();
    // The draw depends on the inputs only, so the same question gets the same draw in both programs.
    assert_eq!(right(lm, &cot(), &[], &single), right(lm, &predict(), &[], &single));
    let cot_multi = right(lm, &cot(), &[], &multi);
    let predict_multi = right(lm, &predict(), &[], &multi);
    assert!(dominates(&cot_multi, &predict_multi));
    assert!(rate(&cot_multi) > rate(&predict_multi) + 0.1);
}

#[test]
fn labeled_demos_without_reasoning_help_a_chain_of_thought_less() {
    let ops = [Operation::Multiplication, Operation::Addition];
    let questions = of_template(7, &ops, 300);
    let shown = of_template(8, &ops, 2);
    let labeled: Vec<Example> = shown.iter().map(|p| demo(p, p.answer())).collect();
    let with_reasoning: Vec<Example> =
        labeled.iter().map(|d| d.clone().with("reasoning", "Worked out one step at a time.")).collect();
    let lm = SimulatedLm::new();
    let zero = rate(&right(lm, &cot(), &[], &questions));
    let incomplete = rate(&right(lm, &cot(), &labeled, &questions));
    let complete = rate(&right(lm, &cot(), &with_reasoning, &questions));
    assert!(zero < incomplete && incomplete < complete, "{zero} {incomplete} {complete}");
}

#[test]
fn zero_shot_rates_are_as_documented() {
    let problems = generate(9, 2000);
    let lm = SimulatedLm::new();
    let bare = rate(&right(lm, &predict(), &[], &problems));
    let reasoning = rate(&right(lm, &cot(), &[], &problems));
    assert!((bare - 0.36).abs() < 0.04, "{bare}");
    assert!((reasoning - 0.49).abs() < 0.04, "{reasoning}");
    assert_eq!(rate(&right(SimulatedLm::oracle(), &predict(), &[], &problems)), 1.0);
}

#[test]
fn replies_are_deterministic_and_draw_again_at_another_temperature() {
    let problems = generate(10, 200);
    let lm = SimulatedLm::new();
    let mut differs = 0;
    for p in &problems {
        let req = request(&cot(), &[], &p.render());
        let reply = lm.respond(&req).unwrap();
        assert_eq!(reply, lm.respond(&req).unwrap());
        assert!(reply.starts_with("[[ ## reasoning ## ]]\n") && reply.ends_with("[[ ## completed ## ]]\n"), "{reply}");
        let mut hot = req.clone();
        hot.temperature = Some(1.0);
        differs += usize::from(lm.respond(&hot).unwrap() != reply);
    }
    assert!(differs > 20, "{differs}");
}

#[test]
fn memorizes_a_demo_with_the_same_inputs_even_when_wrong() {
    let p = &generate(11, 1)[0];
    let demos = [demo(p, p.answer() + 5)];
    let reply = SimulatedLm::oracle().respond(&request(&predict(), &demos, &p.render())).unwrap();
    assert_eq!(answer_of(&predict(), &reply), (p.answer() + 5).to_string());
}

#[test]
fn chooses_labels_and_answers_json_requests() {
    let sig = SignatureSpec::parse("claim -> label: Literal['SUPPORTED', 'NOT_SUPPORTED']").unwrap();
    let demos = [Example::from_pairs([("claim", "The tower stands in Paris."), ("label", "NOT_SUPPORTED")])];
    let inputs = Example::from_pairs([("claim", "The tower stands in Rome.")]);
    let mut req = LmRequest::new(JsonAdapter.format(&sig, &demos, &inputs).unwrap());
    req.response_format = JsonAdapter.response_format(&sig);
    let reply = respond(&req).unwrap();
    assert_eq!(JsonAdapter.parse(&sig, &reply).unwrap()["label"], "NOT_SUPPORTED");
}

#[test]
fn feedback_names_what_the_rules_reward() {
    let p =
        Problem { name: "Ava".into(), items: "apples".into(), start: 12, steps: vec![Step::Add(7), Step::Times(2)] };
    let text = skill::feedback(&p, Some("40"));
    assert_eq!(
        text,
        "The answer 40 is wrong; the right answer is 38. The problem takes 2 steps using addition and \
         multiplication; work through it step by step."
    );
    // An instruction written from that feedback earns the instruction skill.
    assert!(skill::instruction_skill(&text, &p) > 0.9);
}

#[test]
fn a_finetuned_model_gains_skill_with_its_training_records() {
    assert_eq!(skill::finetune_skill(0), 0.0);
    assert_eq!(skill::finetune_skill(32), 0.75);
    assert_eq!(skill::finetune_skill(64), skill::FINETUNED);
    assert_eq!(skill::finetune_skill(10_000), skill::FINETUNED);
    let questions: Vec<Problem> = generate(5, 400);
    let base = right(SimulatedLm::new(), &predict(), &[], &questions);
    let half = right(SimulatedLm::finetuned(32), &predict(), &[], &questions);
    let full = right(SimulatedLm::finetuned(64), &predict(), &[], &questions);
    assert!(dominates(&half, &base) && dominates(&full, &half));
    assert!(rate(&base) < rate(&half) && rate(&half) < rate(&full), "{} {} {}", rate(&base), rate(&half), rate(&full));
    assert_eq!(SimulatedLm::finetuned(0), SimulatedLm::new());
}
