//! The simulated LM: a deterministic function from a Chat/JSON adapter
//! request to a reply, served by the testkit's mock server over the real
//! OpenAI HTTP path. It measures the framework (provider, cache, retries,
//! concurrency, optimizers' bookkeeping), not model quality; every report
//! says "simulated".
//!
//! Rules, for each non-`reasoning` output field, first that applies:
//!
//! 1. **Memorized**: a demo has exactly the current inputs → its value.
//! 2. **Arithmetic**: an input is a generated word problem
//!    ([`super::arithmetic`]) → the true answer when
//!    `u < accuracy`, else a plausible wrong number (true answer ± 1..10).
//!    `accuracy = 0.40 + 0.10 × min(q, 4) (+ 0.05 when reasoning is asked
//!    for)`, where `q` counts complete demos as 1 and demos with fields
//!    "Not supplied" (labeled demos of a ChainOfThought, which lack the
//!    reasoning) as 0.5, at most 4 of them: 40 % zero-shot Predict, 45 %
//!    zero-shot ChainOfThought, 80 % / 85 % with 4+ complete demos, and
//!    65 % for a ChainOfThought with only labeled demos. `u ∈ [0, 1)` comes from a SHA-256 of the inputs, every
//!    demo and the temperature, so a different demo set (another candidate
//!    program) or a later bootstrap round (temperature 1.0) rolls again, but
//!    the same request always gets the same reply.
//! 3. **Choice** (`Literal` / enum outputs): the label of the demo sharing
//!    the most words with the inputs (Jaccard; ties to the earlier demo), or
//!    the option whose name shares the most words with the inputs, whichever
//!    is more similar (the demo on ties); with no overlap, the first option.
//! 4. **Guess**: int/float fields and "how many/much" questions → the last
//!    number in the inputs (or 0); yes/no questions → yes or no by the hash;
//!    otherwise the first capitalized phrase after the first word, else
//!    `unknown`.
//!
//! `reasoning` (ChainOfThought) explains the rule used: for arithmetic the
//! step-by-step computation (with the slip on a wrong answer). Replies use
//! the `[[ ## field ## ]]` format, or a JSON object when the request asks
//! for JSON. Tokens are counted by the mock server as words.

use kestrel_lm::LmRequest;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::arithmetic::Problem;
use super::prompt::{OutputField, PromptView};
use super::text::{capitalized_phrase, jaccard, last_number, word_set};

/// Accuracy on arithmetic with no demos and no reasoning.
pub const ZERO_SHOT_ACCURACY: f64 = 0.40;
/// Accuracy added per demo (complete demos count 1, incomplete 0.5).
pub const PER_DEMO: f64 = 0.10;
/// Demos beyond this many add nothing.
pub const DEMO_CAP: f64 = 4.0;
/// Weight of a demo with fields not supplied (at most [`DEMO_CAP`] of them
/// count).
pub const INCOMPLETE_DEMO_WEIGHT: f64 = 0.5;
/// Accuracy added when the signature asks for `reasoning`.
pub const REASONING_BONUS: f64 = 0.05;

/// The model name the simulated LM is served as (`openai/simulated`).
pub const MODEL: &str = "simulated";

/// Answer one request (the mock server's responder). An `Err` (a request
/// that is not an adapter prompt) becomes a 500 from the server.
pub fn respond(request: &LmRequest) -> Result<String, String> {
    let view = PromptView::parse(request)?;
    let values = answer(&view, request.temperature);
    Ok(render(&view, &values))
}

/// The arithmetic accuracy for this prompt (rule 2).
pub fn accuracy(view: &PromptView) -> f64 {
    let complete = view.demos.iter().filter(|d| d.complete).count();
    let incomplete = (view.demos.len() - complete) as f64;
    let q = complete as f64 + INCOMPLETE_DEMO_WEIGHT * incomplete.min(DEMO_CAP);
    let reasoning = if view.wants_reasoning() { REASONING_BONUS } else { 0.0 };
    ZERO_SHOT_ACCURACY + PER_DEMO * q.min(DEMO_CAP) + reasoning
}

/// Which rule produced a value.
#[derive(Debug, Clone, PartialEq)]
enum Basis {
    Memorized,
    Arithmetic { problem: Problem, given: i64 },
    NearestDemo(String),
    ClosestOption(String),
    Guess,
}

/// The value of every output field, in signature order.
pub fn answer(view: &PromptView, temperature: Option<f32>) -> Vec<(String, String)> {
    let roll = Roll::new(view, temperature);
    let mut first_basis = None;
    let mut values: Vec<(String, String)> = Vec::with_capacity(view.outputs.len());
    for field in view.outputs.iter().filter(|f| f.name != "reasoning") {
        let (value, basis) = decide(view, field, &roll);
        first_basis.get_or_insert(basis);
        values.push((field.name.clone(), value));
    }
    let mut out = Vec::with_capacity(view.outputs.len());
    for field in &view.outputs {
        if field.name == "reasoning" {
            out.push((field.name.clone(), reasoning(first_basis.as_ref(), &values)));
        } else if let Some(pos) = values.iter().position(|(n, _)| *n == field.name) {
            out.push(values.swap_remove(pos));
        }
    }
    out
}

fn decide(view: &PromptView, field: &OutputField, roll: &Roll) -> (String, Basis) {
    let same_inputs = |d: &&super::prompt::Demo| {
        !d.inputs.is_empty() && view.inputs.iter().all(|(k, v)| d.inputs.iter().any(|(dk, dv)| dk == k && dv == v))
    };
    if let Some(value) = view.demos.iter().filter(same_inputs).find_map(|d| d.output(&field.name)) {
        return (value.to_string(), Basis::Memorized);
    }
    if let Some(problem) = view.inputs.iter().find_map(|(_, v)| Problem::parse(v)) {
        let truth = problem.answer();
        let given = if roll.unit() < accuracy(view) { truth } else { roll.wrong(truth) };
        return (given.to_string(), Basis::Arithmetic { problem, given });
    }
    if !field.options.is_empty() {
        return choose_option(view, field);
    }
    (guess(view, field, roll), Basis::Guess)
}

/// Rule 3: the label of the nearest demo or the nearest option name,
/// whichever shares more words with the inputs (a demo on ties).
fn choose_option(view: &PromptView, field: &OutputField) -> (String, Basis) {
    let words = word_set(&view.input_text());
    let mut demo: Option<(f64, &str)> = None;
    for d in &view.demos {
        let Some(label) = d.output(&field.name).filter(|l| field.options.iter().any(|o| o == l)) else { continue };
        let text: Vec<&str> = d.inputs.iter().map(|(_, v)| v.as_str()).collect();
        let similarity = jaccard(&words, &word_set(&text.join(" ")));
        if similarity > 0.0 && demo.is_none_or(|(s, _)| similarity > s) {
            demo = Some((similarity, label));
        }
    }
    let mut option = (0.0, field.options[0].as_str());
    for o in &field.options {
        let similarity = jaccard(&words, &word_set(o));
        if similarity > option.0 {
            option = (similarity, o.as_str());
        }
    }
    match demo {
        Some((similarity, label)) if similarity >= option.0 => {
            (label.to_string(), Basis::NearestDemo(label.to_string()))
        }
        _ => (option.1.to_string(), Basis::ClosestOption(option.1.to_string())),
    }
}

/// Rule 4: a deterministic guess shaped by the field type and question.
fn guess(view: &PromptView, field: &OutputField, roll: &Roll) -> String {
    let text = view.input_text();
    let lower = text.to_lowercase();
    let ty = field.ty.as_str();
    if ty == "bool" {
        return if roll.bit() { "True" } else { "False" }.to_string();
    }
    if ty == "int" || ty == "float" || lower.contains("how many") || lower.contains("how much") {
        return last_number(&text).unwrap_or_else(|| "0".to_string());
    }
    const YES_NO: &[&str] =
        &["is", "are", "was", "were", "do", "does", "did", "can", "could", "has", "have", "had", "will", "would"];
    let first = lower.split_whitespace().next().unwrap_or_default();
    if YES_NO.contains(&first) {
        return if roll.bit() { "yes" } else { "no" }.to_string();
    }
    capitalized_phrase(&text).unwrap_or_else(|| "unknown".to_string())
}

fn reasoning(basis: Option<&Basis>, values: &[(String, String)]) -> String {
    let answer = values.first().map(|(_, v)| v.as_str()).unwrap_or("unknown");
    match basis {
        Some(Basis::Memorized) => {
            format!("This is one of the examples I was shown, so the answer is the same: {answer}.")
        }
        Some(Basis::Arithmetic { problem, given }) => {
            let mut count = problem.start;
            let mut text = format!("{} starts with {} {}.", problem.name, count, problem.items);
            for (i, step) in problem.steps.iter().enumerate() {
                let next = if i + 1 == problem.steps.len() { *given } else { step.apply(count) };
                text.push_str(&format!(" {} = {next}.", step.expression(count)));
                count = next;
            }
            text.push_str(&format!(" So the answer is {given}."));
            text
        }
        Some(Basis::NearestDemo(label)) => format!("The most similar example I was shown is labelled {label}."),
        Some(Basis::ClosestOption(option)) => format!("The wording is closest to {option}."),
        Some(Basis::Guess) | None => format!("I cannot work this out exactly; my best guess is {answer}."),
    }
}

/// The reply text: `[[ ## field ## ]]` sections, or a JSON object.
pub fn render(view: &PromptView, values: &[(String, String)]) -> String {
    if view.json {
        let mut object = Map::new();
        for (name, value) in values {
            let ty = view.outputs.iter().find(|f| f.name == *name).map(|f| f.ty.as_str()).unwrap_or("str");
            object.insert(name.clone(), typed_json(ty, value));
        }
        return Value::Object(object).to_string();
    }
    let mut text = String::new();
    for (name, value) in values {
        text.push_str(&format!("[[ ## {name} ## ]]\n{value}\n\n"));
    }
    text.push_str("[[ ## completed ## ]]");
    text
}

fn typed_json(ty: &str, value: &str) -> Value {
    let number = match ty {
        "int" => value.parse::<i64>().ok().map(Value::from),
        "float" => value.parse::<f64>().ok().map(Value::from),
        "bool" => Some(Value::Bool(value == "True")),
        _ => None,
    };
    number.unwrap_or_else(|| Value::String(value.to_string()))
}

/// The hash every random-looking choice of one request comes from.
struct Roll([u8; 32]);

impl Roll {
    fn new(view: &PromptView, temperature: Option<f32>) -> Roll {
        let mut hasher = Sha256::new();
        let mut feed = |pairs: &[(String, String)]| {
            for (k, v) in pairs {
                hasher.update(k.as_bytes());
                hasher.update([0]);
                hasher.update(v.as_bytes());
                hasher.update([0]);
            }
            hasher.update([1]);
        };
        feed(&view.inputs);
        for demo in &view.demos {
            feed(&demo.inputs);
            feed(&demo.outputs);
        }
        hasher.update(temperature.map_or(u32::MAX, f32::to_bits).to_le_bytes());
        Roll(hasher.finalize().into())
    }

    fn word(&self, i: usize) -> u64 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&self.0[i * 8..i * 8 + 8]);
        u64::from_le_bytes(bytes)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&self) -> f64 {
        (self.word(0) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn bit(&self) -> bool {
        self.word(1) & 1 == 1
    }

    /// `truth` ± 1..=10, never negative and never `truth`.
    fn wrong(&self, truth: i64) -> i64 {
        let w = self.word(2);
        let delta = 1 + (w % 10) as i64;
        if w & (1 << 32) != 0 && truth - delta >= 0 { truth - delta } else { truth + delta }
    }
}

#[cfg(test)]
mod tests {
    use kestrel_core::Message;

    use super::*;
    use crate::bench_compile::arithmetic::generate;

    const INSTRUCTIONS: &str = "All interactions will be structured in the following way, with the appropriate \
                                values filled in.\n\n";

    fn system(outputs: &[&str]) -> Message {
        let list: Vec<String> = outputs.iter().enumerate().map(|(i, o)| format!("{}. `{o}` (str):", i + 1)).collect();
        let structure: Vec<String> = outputs.iter().map(|o| format!("[[ ## {o} ## ]]\n{{{o}}}")).collect();
        Message::system(format!(
            "Your input fields are:\n1. `question` (str):\nYour output fields are:\n{}\n{INSTRUCTIONS}[[ ## question \
             ## ]]\n{{question}}\n\n{}\n\n[[ ## completed ## ]]",
            list.join("\n"),
            structure.join("\n\n")
        ))
    }

    fn demo(question: &str, answer: &str) -> [Message; 2] {
        [
            Message::user(format!("[[ ## question ## ]]\n{question}")),
            Message::assistant(format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]\n")),
        ]
    }

    fn request(outputs: &[&str], demos: &[[Message; 2]], question: &str) -> LmRequest {
        let mut messages = vec![system(outputs)];
        for pair in demos {
            messages.extend(pair.iter().cloned());
        }
        messages.push(Message::user(format!("[[ ## question ## ]]\n{question}\n\nRespond with the fields.")));
        LmRequest::new(messages)
    }

    fn answer_of(reply: &str) -> String {
        super::super::prompt::sections(reply).into_iter().find(|(k, _)| k == "answer").map(|(_, v)| v).unwrap()
    }

    /// Share of `problems` answered correctly with these demos.
    fn hit_rate(outputs: &[&str], demos: &[[Message; 2]], seed: u64) -> f64 {
        let problems = generate(seed, 1000);
        let right = problems
            .iter()
            .filter(|p| {
                let reply = respond(&request(outputs, demos, &p.render())).unwrap();
                answer_of(&reply) == p.answer().to_string()
            })
            .count();
        right as f64 / problems.len() as f64
    }

    #[test]
    fn accuracy_rises_with_demos_and_reasoning() {
        let demos: Vec<[Message; 2]> =
            generate(99, 6).iter().map(|p| demo(&p.render(), &p.answer().to_string())).collect();
        let zero = hit_rate(&["answer"], &[], 1);
        let two = hit_rate(&["answer"], &demos[..2], 1);
        let four = hit_rate(&["answer"], &demos[..4], 1);
        let six = hit_rate(&["answer"], &demos, 1);
        let cot = hit_rate(&["reasoning", "answer"], &[], 1);
        // Demos without reasoning are incomplete for a ChainOfThought: 0.5 each, at most 4 count.
        let cot_labeled = hit_rate(&["reasoning", "answer"], &demos, 1);
        assert!((zero - 0.40).abs() < 0.05, "{zero}");
        assert!((two - 0.60).abs() < 0.05, "{two}");
        assert!((four - 0.80).abs() < 0.05, "{four}");
        assert!((six - 0.80).abs() < 0.05, "{six}");
        assert!((cot - 0.45).abs() < 0.05, "{cot}");
        assert!((cot_labeled - 0.65).abs() < 0.05, "{cot_labeled}");
    }

    #[test]
    fn replies_are_deterministic_and_complete() {
        let p = &generate(5, 1)[0];
        let req = request(&["reasoning", "answer"], &[], &p.render());
        let reply = respond(&req).unwrap();
        assert_eq!(reply, respond(&req).unwrap());
        let fields: Vec<String> = super::super::prompt::sections(&reply).into_iter().map(|(k, _)| k).collect();
        assert_eq!(fields, ["reasoning", "answer"]);
        assert!(reply.ends_with("[[ ## completed ## ]]"));
        let reasoning = &super::super::prompt::sections(&reply)[0].1;
        assert!(reasoning.contains(&format!("So the answer is {}.", answer_of(&reply))), "{reasoning}");
    }

    #[test]
    fn temperature_rolls_again() {
        // Over many problems, some answers change between temperature unset
        // and 1.0 (a later bootstrap round), but each stays deterministic.
        let changed = generate(11, 200)
            .iter()
            .filter(|p| {
                let mut req = request(&["answer"], &[], &p.render());
                let cold = respond(&req).unwrap();
                req.temperature = Some(1.0);
                cold != respond(&req).unwrap()
            })
            .count();
        assert!(changed > 20, "{changed}");
    }

    #[test]
    fn wrong_answers_are_plausible() {
        for p in generate(13, 300) {
            let reply = respond(&request(&["answer"], &[], &p.render())).unwrap();
            let given: i64 = answer_of(&reply).parse().unwrap();
            assert!(given >= 0 && (given - p.answer()).abs() <= 10, "{given} vs {}", p.answer());
        }
    }

    #[test]
    fn memorized_demos_are_copied() {
        let demos = [demo("Who wrote Hamlet?", "Shakespeare")];
        let reply = respond(&request(&["answer"], &demos, "Who wrote Hamlet?")).unwrap();
        assert_eq!(answer_of(&reply), "Shakespeare");
    }

    #[test]
    fn guesses_follow_the_question() {
        let ask = |q: &str| answer_of(&respond(&request(&["answer"], &[], q)).unwrap());
        assert_eq!(ask("Tom had 3 pens and bought 1,250 more. How many pens does he have?"), "1250");
        assert!(["yes", "no"].contains(&ask("Were Scott Derrickson and Ed Wood of the same nationality?").as_str()));
        assert_eq!(ask("What city hosted the Summer Olympics in 1992?"), "Summer Olympics");
        assert_eq!(ask("which one?"), "unknown");
    }

    #[test]
    fn choices_use_the_nearest_demo_then_the_option_words() {
        let choice_system = Message::system(format!(
            "Your input fields are:\n1. `text` (str):\nYour output fields are:\n1. `label` \
             (Literal['card_arrival', 'lost_or_stolen_card']):\n{INSTRUCTIONS}[[ ## label ## ]]\n{{label}}        # \
             note: the value you produce must exactly match (no extra characters) one of: card_arrival; \
             lost_or_stolen_card\n\n[[ ## completed ## ]]"
        ));
        let ask = |demos: &[(&str, &str)], text: &str| {
            let mut messages = vec![choice_system.clone()];
            for (t, l) in demos {
                messages.push(Message::user(format!("[[ ## text ## ]]\n{t}")));
                messages.push(Message::assistant(format!("[[ ## label ## ]]\n{l}\n\n[[ ## completed ## ]]")));
            }
            messages.push(Message::user(format!("[[ ## text ## ]]\n{text}")));
            let reply = respond(&LmRequest::new(messages)).unwrap();
            super::super::prompt::sections(&reply)[0].1.clone()
        };
        assert_eq!(ask(&[], "I lost my card, it was stolen"), "lost_or_stolen_card");
        assert_eq!(ask(&[], "Hello there"), "card_arrival");
        let demos =
            [("When will my new card arrive?", "card_arrival"), ("My wallet was stolen", "lost_or_stolen_card")];
        assert_eq!(ask(&demos, "My wallet got stolen yesterday"), "lost_or_stolen_card");
        assert_eq!(ask(&demos, "Has my new card shipped? When does it arrive?"), "card_arrival");
    }

    #[test]
    fn json_requests_get_json_objects() {
        let p = &generate(17, 1)[0];
        let mut req = request(&["reasoning", "answer"], &[], &p.render());
        req.response_format = Some(serde_json::json!({"type": "json_object"}));
        let reply: Value = serde_json::from_str(&respond(&req).unwrap()).unwrap();
        let keys: Vec<&String> = reply.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["reasoning", "answer"]);
    }
}
