//! The **simulated LM**: a deterministic function from a Chat/JSON adapter
//! request to a reply, for benchmarks, examples and tests that need a
//! "model" whose answers depend on the prompt the way a real model's do. It
//! is not a model: its accuracy is the set of rules below, and every report
//! built on it says "simulated".
//!
//! Serve it over HTTP with the mock server ([`SimulatedLm`] converts into a
//! [`Responder`]), or call [`respond`] / [`SimulatedLm::respond`] directly.
//! Requests are read with [`PromptView`] (core's adapters parse the
//! `[[ ## field ## ]]` sections) and replies written by the adapters' own
//! demo formatting.
//!
//! # Rules
//!
//! For each output field other than `reasoning`, the first rule that
//! applies:
//!
//! 1. **Memorized** — a demo has exactly the current inputs: its value
//!    ([`PromptView::matching_demo`], the same rule as the scripted LM's
//!    follow-the-demos mode).
//! 2. **Arithmetic** — an input is a generated word problem ([`problems`]):
//!    the true answer when `draw < p`, else a plausible wrong number (true
//!    answer ± 1..10, never negative), where
//!    - `p = σ(BIAS + skill − difficulty)` (σ the logistic),
//!    - `difficulty = 0.9 × (steps − 1) + jitter`, the jitter in
//!      `[−1, 1)` from a SHA-256 of the question: hidden, fixed per question;
//!    - `skill` is the sum of
//!      - **reasoning**: +1.0 when the signature asks for `reasoning`
//!        (ChainOfThought) and the problem has 2+ steps;
//!      - **instructions**: +0.5 when they say "step by step" and the
//!        problem has 2+ steps; +0.3 for each operation of the problem they
//!        name (addition: add, adding, addition, plus, sum; subtraction:
//!        subtract, subtracting, subtraction, minus, difference;
//!        multiplication: multiply, multiplying, multiplication, times,
//!        product — whole words, any case);
//!      - **demos**: a demo helps only when it is a generated problem, its
//!        answer is right, and it is *similar*: similarity 1 for the same
//!        template (the same operations in the same order), 0.5 for the same
//!        set of operations, else 0. A right demo adds `1.2 × similarity`
//!        (× 0.35 when some outputs are "not supplied", as in a labeled demo
//!        of a ChainOfThought, which has no reasoning); only the two most
//!        helpful count. A wrong demo of a similar problem costs
//!        `0.6 × similarity`. Dissimilar demos do nothing.
//!    - `draw ∈ [0, 1)` is a SHA-256 of the inputs, the temperature and the
//!      rollout id — never of the demos or instructions, so for one question
//!      a prompt with more skill is right whenever a prompt with less is
//!      (the same request always gets the same reply; another temperature or
//!      rollout id draws again).
//! 3. **Choice** (`Literal` / enum outputs): the label of the demo sharing
//!    the most words with the inputs (Jaccard over lower-cased words of 3+
//!    letters, stop words removed), or the option whose name shares the most
//!    words with the inputs, whichever is more similar (the demo on ties);
//!    with no overlap, the first option.
//! 4. **Guess**: `int`/`float` fields and "how many / how much" questions:
//!    the last number in the inputs (or 0); `bool` fields and yes/no
//!    questions: by the draw; otherwise the first capitalized phrase after
//!    the first word, else `unknown`.
//!
//! 5. **Proposal** — a request whose outputs include one of
//!    [`propose::PROPOSAL_OUTPUTS`] (COPRO's and MIPROv2's prompt-model
//!    signatures) is answered by [`propose`] instead of rules 1–4: a
//!    proposed instruction is an opener (or the best-scoring attempt's
//!    instruction, when the prompt lists scored attempts) plus fragments
//!    from two fixed pools — task-relevant ones (one per operation, naming
//!    it, and "step by step") and irrelevant ones — each relevant with
//!    probability [`propose::relevance`]: 0.25, plus 0.35 when the prompt
//!    names or shows operations, 0.1 for "step by step" or reasoning, 0.1
//!    for a tip and 0.15 for scored attempts, at most 0.9; prefixes come
//!    from a fixed pool (or the best attempt's);
//!    observations, summaries and program / module descriptions name the
//!    operations the examples show. Every draw is a SHA-256 of all message
//!    text, the temperature, the rollout id and the **choice index**, so
//!    the same bytes get the same reply from any client and the `n` choices
//!    of one request differ (choice `i` skips instructions of choices
//!    `0..i`).
//!
//! 6. **Reflection** — GEPA's reflection prompt (DSPy's
//!    `ProposeInstruction`: output `new_instruction`, input
//!    `examples_with_feedback`) is answered by [`reflect`]: the current
//!    instruction plus the relevant fragment of every operation that the
//!    feedback of a *wrong* answer names and the instruction does not yet
//!    (and "step by step" when that feedback says so), else one irrelevant
//!    fragment. With the benchmark's feedback metric
//!    ([`skill::feedback`]: the operations a problem needs) GEPA can learn
//!    the instruction rule of rule 2; with DSPy's default feedback text it
//!    cannot.
//! 7. **Advice** — SIMBA's rule prompt (its `OfferFeedback`: output
//!    `module_advice`, input `worse_program_trajectory`) is answered by
//!    [`advise`]: when the better run outscored the worse one, each module
//!    gets the relevant fragment of every operation the problem shows that
//!    its instructions do not name yet (and "step by step" on multi-step
//!    problems), else one irrelevant fragment — so SIMBA's rules can learn
//!    rule 2's instruction bonus from runs that disagree.
//!
//! `reasoning` explains the rule used; for arithmetic it is the step-by-step
//! computation (with the slip in the last step when the answer is wrong).
//!
//! With these constants ([`skill`]) a bare Predict answers about 36 % of
//! generated problems right and a bare ChainOfThought about 49 % (both
//! unit-tested); what demos add depends on how many questions share their
//! templates. [`SimulatedLm::oracle`] answers every generated problem right
//! (framework benchmarks that check a 100 % score). [`SimulatedLm`] is also
//! an in-process [`kestrel_lm::Lm`] with the same replies.
//!
//! [`Responder`]: crate::mock::Responder

pub mod advise;
mod lm;
pub mod problems;
pub mod prompt;
pub mod propose;
pub mod reflect;
pub mod skill;
pub mod text;

use kestrel_core::FieldType;
use kestrel_lm::LmRequest;
use serde_json::Value;

use crate::mock::Responder;
pub use problems::{Operation, Problem, Step, generate};
pub use prompt::{Demo, OutputField, PromptView};
pub use skill::Skill;
use text::{capitalized_phrase, jaccard, last_number, word_set};

/// The model name the simulated LM is served as.
pub const MODEL: &str = "simulated";

/// The simulated LM (see the module docs for its rules).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SimulatedLm {
    oracle: bool,
    finetune_skill: f64,
}

/// Answer one request with the default [`SimulatedLm`]. An `Err` (a request
/// that is not an adapter prompt) is what the mock server sends as a 500.
pub fn respond(request: &LmRequest) -> Result<String, String> {
    SimulatedLm::new().respond(request)
}

/// Answer choice `index` of one request with the default [`SimulatedLm`].
pub fn respond_choice(request: &LmRequest, index: u32) -> Result<String, String> {
    SimulatedLm::new().respond_choice(request, index)
}

impl SimulatedLm {
    /// The simulated LM with the documented rules.
    pub fn new() -> Self {
        SimulatedLm { oracle: false, finetune_skill: 0.0 }
    }

    /// The simulated LM as a model fine-tuned on `records` training records
    /// (rule 8: [`skill::finetune_skill`] added to rule 2's skill).
    pub fn finetuned(records: usize) -> Self {
        SimulatedLm { oracle: false, finetune_skill: skill::finetune_skill(records) }
    }

    /// A simulated LM that answers every generated problem right (rule 2
    /// with `p = 1`); the other rules are unchanged.
    pub fn oracle() -> Self {
        SimulatedLm { oracle: true, finetune_skill: 0.0 }
    }

    /// The reply text for `request` (its first choice).
    pub fn respond(&self, request: &LmRequest) -> Result<String, String> {
        self.respond_choice(request, 0)
    }

    /// The reply text of choice `index` of `request`. Task prompts give
    /// every choice the same reply; proposal prompts (rule 5) give each
    /// choice its own.
    pub fn respond_choice(&self, request: &LmRequest, index: u32) -> Result<String, String> {
        let view = PromptView::parse(request)?;
        let values = if reflect::is_reflection(&view) {
            reflect::answer(&view, request)
        } else if advise::is_advice(&view) {
            advise::answer(&view, request)
        } else if propose::is_proposal(&view) {
            propose::answer(&view, request, index)
        } else {
            self.answer(&view, request)
        };
        view.render(&values)
    }

    /// The value of every output field, in signature order.
    pub fn answer(&self, view: &PromptView, request: &LmRequest) -> Vec<(String, Value)> {
        let draw = Draw::new(view, request);
        let mut first_basis = None;
        let mut values: Vec<(String, Value)> = Vec::with_capacity(view.outputs.len());
        for field in view.outputs.iter().filter(|f| f.name != "reasoning") {
            let (value, basis) = self.decide(view, field, &draw);
            first_basis.get_or_insert(basis);
            values.push((field.name.clone(), typed(&field.ty, &value)));
        }
        let first_value = values.first().map(|(_, v)| text_of(v)).unwrap_or_else(|| "unknown".to_string());
        if view.wants_reasoning() {
            values.push(("reasoning".to_string(), Value::String(reasoning(first_basis.as_ref(), &first_value))));
        }
        values
    }

    /// The probability that rule 2 answers `problem` right under `view`
    /// (1 for the oracle).
    pub fn p_correct(&self, view: &PromptView, problem: &Problem, answer_field: &str) -> f64 {
        if self.oracle {
            return 1.0;
        }
        let question = view.input_text();
        let skill = skill::skill(view, problem, answer_field).total() + self.finetune_skill;
        skill::p_correct(skill, skill::difficulty(&question, problem))
    }

    fn decide(&self, view: &PromptView, field: &OutputField, draw: &Draw) -> (String, Basis) {
        if let Some(value) = view.matching_demo().and_then(|d| d.output(&field.name)) {
            return (value.to_string(), Basis::Memorized);
        }
        if let Some(problem) = view.inputs.iter().find_map(|(_, v)| Problem::parse(v)) {
            let truth = problem.answer();
            let given =
                if draw.unit() < self.p_correct(view, &problem, &field.name) { truth } else { draw.wrong(truth) };
            return (given.to_string(), Basis::Arithmetic { problem, given });
        }
        if !field.options.is_empty() {
            return choose_option(view, field);
        }
        (guess(view, field, draw), Basis::Guess)
    }
}

impl From<SimulatedLm> for Responder {
    fn from(lm: SimulatedLm) -> Self {
        Responder::from_choice_fn(move |request, index| lm.respond_choice(request, index))
    }
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
fn guess(view: &PromptView, field: &OutputField, draw: &Draw) -> String {
    let text = view.input_text();
    let lower = text.to_lowercase();
    match field.ty {
        FieldType::Bool => return if draw.bit() { "True" } else { "False" }.to_string(),
        FieldType::Int | FieldType::Float => return last_number(&text).unwrap_or_else(|| "0".to_string()),
        _ => {}
    }
    if lower.contains("how many") || lower.contains("how much") {
        return last_number(&text).unwrap_or_else(|| "0".to_string());
    }
    const YES_NO: &[&str] =
        &["is", "are", "was", "were", "do", "does", "did", "can", "could", "has", "have", "had", "will", "would"];
    let first = lower.split_whitespace().next().unwrap_or_default();
    if YES_NO.contains(&first) {
        return if draw.bit() { "yes" } else { "no" }.to_string();
    }
    capitalized_phrase(&text).unwrap_or_else(|| "unknown".to_string())
}

fn reasoning(basis: Option<&Basis>, answer: &str) -> String {
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

/// The value of a field of type `ty` from its text (numbers and booleans as
/// JSON numbers and booleans when they parse, else the text).
fn typed(ty: &FieldType, text: &str) -> Value {
    let value = match ty {
        FieldType::Int => text.parse::<i64>().ok().map(Value::from),
        FieldType::Float => text.parse::<f64>().ok().map(Value::from),
        FieldType::Bool => Some(Value::Bool(text == "True")),
        _ => None,
    };
    value.unwrap_or_else(|| Value::String(text.to_string()))
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The per-request randomness: a SHA-256 of the inputs, the temperature and
/// the rollout id (not of the demos or instructions).
struct Draw([u8; 32]);

impl Draw {
    fn new(view: &PromptView, request: &LmRequest) -> Draw {
        let temperature = request.temperature.map_or_else(|| "default".to_string(), |t| t.to_string());
        let rollout = request.rollout_id.map_or_else(|| "none".to_string(), |r| r.to_string());
        let mut parts: Vec<&str> = vec!["draw", &temperature, &rollout];
        for (name, value) in &view.inputs {
            parts.push(name);
            parts.push(value);
        }
        Draw(skill::digest(&parts))
    }

    /// Uniform in `[0, 1)`.
    fn unit(&self) -> f64 {
        skill::unit_of(&self.0)
    }

    fn bit(&self) -> bool {
        skill::word(&self.0, 1) & 1 == 1
    }

    /// `truth` ± 1..=10, never negative and never `truth`.
    fn wrong(&self, truth: i64) -> i64 {
        let w = skill::word(&self.0, 2);
        let delta = 1 + (w % 10) as i64;
        if w & (1 << 32) != 0 && truth - delta >= 0 { truth - delta } else { truth + delta }
    }
}

#[cfg(test)]
mod advise_tests;
#[cfg(test)]
mod propose_tests;
#[cfg(test)]
mod tests;
