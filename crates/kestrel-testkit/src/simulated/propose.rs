//! The simulated LM as a *prompt model*: deterministic, plausible replies to
//! the instruction optimizers' proposal prompts — COPRO's
//! `BasicGenerateInstruction` and `GenerateInstructionGivenAttempts`, and
//! MIPROv2's `DatasetDescriptor`, `DatasetDescriptorWithPriorObservations`,
//! `ObservationSummarizer`, `DescribeProgram`, `DescribeModule` and
//! `GenerateSingleModuleInstruction` — recognised by their output fields
//! ([`PROPOSAL_OUTPUTS`]). The rules are stated in the module docs of
//! [`super`] and in `docs/BENCH_COMPILE.md`; in short:
//!
//! - a proposed instruction is an opener (or, given scored attempts, the
//!   best-scoring attempt's instruction) plus fragments from two documented
//!   pools: [`RELEVANT`] fragments name an operation of the generated
//!   problems or say "step by step" (the task rules reward them),
//!   [`IRRELEVANT`] ones do not;
//! - each fragment is relevant with probability [`relevance`], which rises
//!   with the evidence in the prompt (operations named or shown, "step by
//!   step" or reasoning, a tip); relevant fragments name the operations the
//!   evidence shows when it shows any;
//! - every draw is a SHA-256 of the whole request text (every message), the
//!   temperature, the rollout id, the choice index and a retry counter, so the
//!   same bytes always get the same reply (from Kestrel or from Python DSPy
//!   over `serve-sim`) and the `n` choices of one request all differ.

use kestrel_lm::LmRequest;
use serde_json::Value;

use super::problems::Operation;
use super::prompt::PromptView;
use super::skill;

/// Output fields that make a request a proposal prompt.
pub const PROPOSAL_OUTPUTS: &[&str] = &[
    "proposed_instruction",
    "proposed_prefix_for_output_field",
    "observations",
    "summary",
    "program_description",
    "module_description",
];

/// Fragment saying "step by step" (relevant on multi-step problems).
pub const STEP_BY_STEP: &str = "Work through the problem step by step.";

/// The task-relevant fragments: "step by step", then one per operation (in
/// [`Operation::ALL`] order), each naming it.
pub const RELEVANT: [&str; 4] = [
    STEP_BY_STEP,
    "Add the items that are bought to the running count.",
    "Subtract the items that are given away.",
    "Multiply the count when it grows a number of times over.",
];

/// Fragments that do not touch the task rules.
pub const IRRELEVANT: [&str; 8] = [
    "Be concise and precise.",
    "Write in a friendly tone.",
    "Check the output format before answering.",
    "Read every input field carefully.",
    "Give only the final value in the answer field.",
    "Think like a careful expert.",
    "Avoid unnecessary commentary.",
    "Use plain language.",
];

/// First sentences of a fresh proposal.
pub const OPENERS: [&str; 4] = [
    "Read the question and produce the answer.",
    "Solve the given task accurately.",
    "You are a helpful assistant answering questions.",
    "Answer the question using the information given.",
];

/// Proposed output prefixes.
pub const PREFIXES: [&str; 5] = ["Answer:", "Final Answer:", "Result:", "Solution:", "Let's compute the answer:"];

/// Chance that a fragment is relevant with no evidence at all.
pub const BASE_RELEVANCE: f64 = 0.25;
/// Added when the prompt names or shows operations of the problems.
pub const OPERATIONS_EVIDENCE: f64 = 0.35;
/// Added when the prompt says "step by step" or mentions reasoning.
pub const STEPS_EVIDENCE: f64 = 0.1;
/// Added when the prompt carries a `tip`.
pub const TIP_EVIDENCE: f64 = 0.1;
/// Added when the prompt lists scored attempts (COPRO's later depths).
pub const ATTEMPTS_EVIDENCE: f64 = 0.15;
/// Upper bound of the relevance.
pub const MAX_RELEVANCE: f64 = 0.9;

/// How many fresh fragments a proposal adds (after its opener); one when it
/// builds on an attempt.
const FRESH_FRAGMENTS: usize = 2;
/// Retries per choice before a proposal gets one more fragment.
const TRIES_PER_LENGTH: usize = 12;
/// Hard bound on retries (then the choice number is appended).
const MAX_TRIES: usize = 96;

/// True when `view` is a proposal prompt (it has an output of
/// [`PROPOSAL_OUTPUTS`]).
pub fn is_proposal(view: &PromptView) -> bool {
    view.outputs.iter().any(|f| PROPOSAL_OUTPUTS.contains(&f.name.as_str()))
}

/// What a proposal prompt shows about the task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    /// Operations named (an operation word) or shown (a generated problem's
    /// phrase: "buys … more", "gives away", "times as many") in the inputs.
    pub operations: Vec<Operation>,
    /// The inputs say "step by step" or mention reasoning.
    pub steps: bool,
    /// The prompt has a non-empty `tip` input.
    pub tip: bool,
    /// The best-scoring attempt of an `attempted_instructions` input.
    pub best_attempt: Option<Attempt>,
}

/// One scored attempt of COPRO's `attempted_instructions`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The instruction tried.
    pub instruction: String,
    /// Its output prefix.
    pub prefix: String,
    /// Its score.
    pub score: f64,
}

impl Evidence {
    /// The evidence in the inputs of `view`.
    pub fn of(view: &PromptView) -> Evidence {
        let mut text = String::new();
        for (_, value) in &view.inputs {
            text.push_str(value);
            text.push('\n');
        }
        let lower = text.to_lowercase();
        Evidence {
            operations: operations_in(&lower),
            steps: lower.contains("step by step") || lower.contains("reasoning"),
            tip: view.input("tip").is_some_and(|t| !t.trim().is_empty()),
            best_attempt: view.input("attempted_instructions").and_then(best_attempt),
        }
    }
}

/// The chance that one fragment of a proposal is relevant under `evidence`.
pub fn relevance(evidence: &Evidence) -> f64 {
    let mut p = BASE_RELEVANCE;
    if !evidence.operations.is_empty() {
        p += OPERATIONS_EVIDENCE;
    }
    if evidence.steps {
        p += STEPS_EVIDENCE;
    }
    if evidence.tip {
        p += TIP_EVIDENCE;
    }
    if evidence.best_attempt.is_some() {
        p += ATTEMPTS_EVIDENCE;
    }
    p.min(MAX_RELEVANCE)
}

/// The operations named or shown in `lower` (lower-cased text), in
/// [`Operation::ALL`] order.
pub fn operations_in(lower: &str) -> Vec<Operation> {
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    Operation::ALL
        .into_iter()
        .filter(|op| {
            let shown = match op {
                Operation::Addition => lower.contains(" buys ") && lower.contains(" more"),
                Operation::Subtraction => lower.contains("gives away"),
                Operation::Multiplication => lower.contains("times as many"),
            };
            shown || op.names().iter().any(|name| words.contains(name))
        })
        .collect()
}

/// The best-scoring attempt of COPRO's attempts text (`Instruction #i: …`,
/// `Prefix #i: …`, `Resulting Score #i: …`); on ties the later one (DSPy
/// lists attempts in increasing score order).
pub fn best_attempt(text: &str) -> Option<Attempt> {
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut field = None;
    for line in text.lines() {
        if let Some(rest) = labelled(line, "Instruction #") {
            attempts.push(Attempt { instruction: rest.to_string(), prefix: String::new(), score: f64::NAN });
            field = Some(true);
        } else if let Some(rest) = labelled(line, "Prefix #") {
            if let Some(a) = attempts.last_mut() {
                a.prefix = rest.to_string();
            }
            field = Some(false);
        } else if let Some(rest) = labelled(line, "Resulting Score #") {
            if let Some(a) = attempts.last_mut() {
                a.score = rest.trim().parse().unwrap_or(f64::NAN);
            }
            field = None;
        } else if let (Some(is_instruction), Some(a)) = (field, attempts.last_mut()) {
            let target = if is_instruction { &mut a.instruction } else { &mut a.prefix };
            target.push('\n');
            target.push_str(line);
        }
    }
    let mut best: Option<Attempt> = None;
    for a in attempts.into_iter().filter(|a| !a.score.is_nan()) {
        if best.as_ref().is_none_or(|b| a.score >= b.score) {
            best = Some(a);
        }
    }
    best.map(|mut a| {
        a.instruction = a.instruction.trim().to_string();
        a.prefix = a.prefix.trim().to_string();
        a
    })
}

/// `Instruction #3: text` → `text` for the label `Instruction #`.
fn labelled<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(label)?;
    let (number, text) = rest.split_once(':')?;
    (!number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())).then(|| text.strip_prefix(' ').unwrap_or(text))
}

/// A SHA-256 of what makes a proposal request itself: every message's role
/// and text, the temperature and the rollout id (not `n`). Servers that
/// number repeats of one request (`cargo xtask serve-sim`) key them by it.
pub fn request_digest(request: &LmRequest) -> [u8; 32] {
    let temperature = request.temperature.map_or_else(|| "default".to_string(), |t| t.to_string());
    let rollout = request.rollout_id.map_or_else(|| "none".to_string(), |r| r.to_string());
    let mut parts: Vec<&str> = vec!["request", &temperature, &rollout];
    for message in &request.messages {
        parts.push(message.role.as_str());
        parts.push(&message.content);
    }
    skill::digest(&parts)
}

/// The per-choice randomness: a SHA-256 of every message, the temperature,
/// the rollout id, the choice index and the retry counter.
struct ProposalDraw([u8; 32]);

impl ProposalDraw {
    fn new(request: &LmRequest, choice: u32, attempt: usize) -> ProposalDraw {
        let temperature = request.temperature.map_or_else(|| "default".to_string(), |t| t.to_string());
        let rollout = request.rollout_id.map_or_else(|| "none".to_string(), |r| r.to_string());
        let (choice, attempt) = (choice.to_string(), attempt.to_string());
        let mut parts: Vec<&str> = vec!["propose", &temperature, &rollout, &choice, &attempt];
        for message in &request.messages {
            parts.push(message.role.as_str());
            parts.push(&message.content);
        }
        ProposalDraw(skill::digest(&parts))
    }

    /// The `i`-th uniform number in `[0, 1)` (a fresh hash per index).
    fn unit(&self, i: usize) -> f64 {
        let label = i.to_string();
        let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        skill::unit(&["unit", &hex, &label])
    }

    /// An index below `len`, from the `i`-th number.
    fn pick(&self, i: usize, len: usize) -> usize {
        ((self.unit(i) * len as f64) as usize).min(len.saturating_sub(1))
    }
}

/// The value of every output of the proposal prompt `view`, for choice
/// `choice` of `request`.
pub fn answer(view: &PromptView, request: &LmRequest, choice: u32) -> Vec<(String, Value)> {
    let evidence = Evidence::of(view);
    let (instruction, prefix) = proposal(request, &evidence, choice);
    view.outputs
        .iter()
        .map(|field| {
            let text = match field.name.as_str() {
                "proposed_instruction" => instruction.clone(),
                "proposed_prefix_for_output_field" => prefix.clone(),
                "observations" => observations(view, &evidence),
                "summary" => summary(&evidence),
                "program_description" => program_description(&evidence),
                "module_description" => module_description(&evidence),
                "reasoning" => "I read the inputs and drafted a proposal from them.".to_string(),
                _ => "Not applicable.".to_string(),
            };
            (field.name.clone(), Value::String(text))
        })
        .collect()
}

/// The (instruction, prefix) of choice `choice`: choices `0..choice` are
/// drawn first, and each takes the first draw (retry 0, 1, …) whose
/// instruction no earlier choice has, so the `n` choices differ.
pub fn proposal(request: &LmRequest, evidence: &Evidence, choice: u32) -> (String, String) {
    let mut taken: Vec<String> = Vec::new();
    let mut last = (String::new(), String::new());
    for c in 0..=choice {
        let mut found = None;
        for attempt in 0..MAX_TRIES {
            let draw = ProposalDraw::new(request, c, attempt);
            let candidate = draw_proposal(&draw, evidence, attempt / TRIES_PER_LENGTH);
            if !taken.contains(&candidate.0) {
                found = Some(candidate);
                break;
            }
        }
        let (instruction, prefix) = found.unwrap_or_else(|| {
            let (i, p) = draw_proposal(&ProposalDraw::new(request, c, MAX_TRIES), evidence, 0);
            (format!("{i} (Variant {}.)", c + 1), p)
        });
        taken.push(instruction.clone());
        last = (instruction, prefix);
    }
    last
}

/// One draw: the opener (or the best attempt) and its fragments, and the
/// prefix.
fn draw_proposal(draw: &ProposalDraw, evidence: &Evidence, extra: usize) -> (String, String) {
    let p = relevance(evidence);
    let relevant: Vec<&str> = if evidence.operations.is_empty() {
        RELEVANT.to_vec()
    } else {
        let mut r = vec![STEP_BY_STEP];
        for op in &evidence.operations {
            if let Some(i) = Operation::ALL.iter().position(|o| o == op) {
                r.push(RELEVANT[i + 1]);
            }
        }
        r
    };
    let (mut text, count, prefix) = match &evidence.best_attempt {
        Some(best) => {
            let prefix = if draw.unit(0) < 0.5 && !best.prefix.is_empty() {
                best.prefix.clone()
            } else {
                PREFIXES[draw.pick(1, PREFIXES.len())].to_string()
            };
            (best.instruction.clone(), 1 + extra, prefix)
        }
        None => (
            OPENERS[draw.pick(0, OPENERS.len())].to_string(),
            FRESH_FRAGMENTS + extra,
            PREFIXES[draw.pick(1, PREFIXES.len())].to_string(),
        ),
    };
    let mut slot = 2;
    for _ in 0..count {
        // A few tries per slot to find a fragment not already in the text.
        for _ in 0..4 {
            let pool: &[&str] = if draw.unit(slot) < p { &relevant } else { &IRRELEVANT };
            let fragment = pool[draw.pick(slot + 1, pool.len())];
            slot += 2;
            if !text.contains(fragment) {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(fragment);
                break;
            }
        }
    }
    (text, prefix)
}

fn op_list(operations: &[Operation]) -> String {
    let names: Vec<&str> = operations.iter().map(|o| o.name()).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// `observations`: what the examples show; `COMPLETE` when prior
/// observations already name every operation shown.
fn observations(view: &PromptView, evidence: &Evidence) -> String {
    let examples = view.input("examples").unwrap_or_default().to_lowercase();
    let shown = operations_in(&examples);
    if let Some(prior) = view.input("prior_observations") {
        let known = operations_in(&prior.to_lowercase());
        if shown.iter().all(|op| known.contains(op)) {
            return "COMPLETE".to_string();
        }
    }
    if shown.is_empty() && evidence.operations.is_empty() {
        return "The examples are short questions, each paired with a brief answer. The answers are single values \
rather than explanations."
            .to_string();
    }
    let ops = if shown.is_empty() { &evidence.operations } else { &shown };
    format!(
        "The examples are arithmetic word problems: a person starts with some items and the count changes over one \
or more steps. The steps use {}. Each answer is a whole number.",
        op_list(ops)
    )
}

/// `summary`: the observations in two sentences, keeping the operations
/// they name.
fn summary(evidence: &Evidence) -> String {
    if evidence.operations.is_empty() {
        return "The dataset pairs short questions with brief answers. Answers are single values.".to_string();
    }
    format!(
        "The dataset holds arithmetic word problems whose steps use {}. Each answer is the final whole-number count.",
        op_list(&evidence.operations)
    )
}

/// `program_description`.
fn program_description(evidence: &Evidence) -> String {
    let mut text = "The program answers a question with one language model call.".to_string();
    if evidence.steps {
        text.push_str(" It writes out its reasoning step by step before giving the answer.");
    }
    text
}

/// `module_description`.
fn module_description(evidence: &Evidence) -> String {
    let mut text = "This module turns the program's inputs into the final answer; it is the only step.".to_string();
    if evidence.steps {
        text.push_str(" It reasons step by step first.");
    }
    text
}
