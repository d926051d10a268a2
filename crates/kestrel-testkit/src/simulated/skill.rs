//! The simulated LM's arithmetic rules: a question's hidden difficulty, the
//! skill a prompt gives the model on that question (from its instructions,
//! its demos and whether it asks for reasoning), and the draw that decides
//! whether the answer is right. The numbers are the constants below; the
//! rules are stated in the module docs of [`super`] and in
//! `docs/BENCH_COMPILE.md`.

use sha2::{Digest, Sha256};

use super::problems::{Operation, Problem};
use super::prompt::{Demo, PromptView};

/// Offset of the logistic: a 1-step question of average difficulty is
/// answered right with probability σ(BIAS) by a bare prompt.
pub const BIAS: f64 = 0.2;
/// Difficulty added per step after the first.
pub const STEP_DIFFICULTY: f64 = 0.9;
/// Width of the per-question difficulty jitter (uniform, centred on 0).
pub const DIFFICULTY_JITTER: f64 = 2.0;
/// Skill a `reasoning` output (ChainOfThought) adds on multi-step questions.
pub const REASONING: f64 = 1.0;
/// Skill an instruction saying "step by step" adds on multi-step questions.
pub const STEP_BY_STEP: f64 = 0.5;
/// Skill added per operation of the question the instruction names.
pub const NAMED_OPERATION: f64 = 0.3;
/// Skill a correct demo of the same template adds (scaled by similarity and
/// completeness).
pub const DEMO: f64 = 1.2;
/// How many of the helpful demos count (the most helpful ones).
pub const HELPFUL_DEMOS: usize = 2;
/// Weight of a demo with outputs not supplied (a labeled demo of a
/// ChainOfThought, which has no reasoning).
pub const INCOMPLETE_DEMO: f64 = 0.35;
/// Similarity of a demo with the question's template (same operations in
/// the same order).
pub const SAME_TEMPLATE: f64 = 1.0;
/// Similarity of a demo with the same set of operations in another order or
/// number.
pub const SAME_OPERATIONS: f64 = 0.5;
/// A wrong demo of a similar problem costs this share of what a right one
/// would add.
pub const WRONG_DEMO_PENALTY: f64 = 0.5;

/// The hidden difficulty of a question: [`STEP_DIFFICULTY`] per step after
/// the first, plus a jitter in `±DIFFICULTY_JITTER / 2` from a hash of the
/// question text.
pub fn difficulty(question: &str, problem: &Problem) -> f64 {
    let steps = problem.steps.len().saturating_sub(1) as f64;
    STEP_DIFFICULTY * steps + DIFFICULTY_JITTER * (unit(&["difficulty", question]) - 0.5)
}

/// How much one demo is like the question: [`SAME_TEMPLATE`],
/// [`SAME_OPERATIONS`] or 0 (a demo that is not a generated problem is
/// never similar).
pub fn similarity(problem: &Problem, demo: &Problem) -> f64 {
    if demo.operations() == problem.operations() {
        SAME_TEMPLATE
    } else if demo.operation_set() == problem.operation_set() {
        SAME_OPERATIONS
    } else {
        0.0
    }
}

/// Rule 8: the skill a fine-tuned model gains with a full training set.
pub const FINETUNED: f64 = 1.5;

/// Rule 8: training records for the full [`FINETUNED`] gain (fewer give a
/// proportional share).
pub const FINETUNE_FULL_RECORDS: usize = 64;

/// Rule 8: the skill a model fine-tuned on `records` records gains on every
/// generated problem: `FINETUNED × min(1, records / FINETUNE_FULL_RECORDS)`.
pub fn finetune_skill(records: usize) -> f64 {
    FINETUNED * (records.min(FINETUNE_FULL_RECORDS) as f64 / FINETUNE_FULL_RECORDS as f64)
}

/// The skill a prompt gives the model on `problem`, and what it is made of.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Skill {
    /// From the `reasoning` output.
    pub reasoning: f64,
    /// From the instructions.
    pub instructions: f64,
    /// From the demos (negative when wrong demos mislead).
    pub demos: f64,
}

impl Skill {
    /// The sum.
    pub fn total(&self) -> f64 {
        self.reasoning + self.instructions + self.demos
    }
}

/// The skill `view` gives on `problem` (the rules of [`super`]).
pub fn skill(view: &PromptView, problem: &Problem, answer_field: &str) -> Skill {
    let multi_step = problem.steps.len() >= 2;
    let reasoning = if view.wants_reasoning() && multi_step { REASONING } else { 0.0 };
    Skill {
        reasoning,
        instructions: instruction_skill(&view.instructions, problem),
        demos: demo_skill(view, problem, answer_field),
    }
}

/// [`STEP_BY_STEP`] when the instruction says "step by step" and the
/// question has several steps, plus [`NAMED_OPERATION`] per operation of the
/// question the instruction names (any word of [`Operation::names`]).
pub fn instruction_skill(instructions: &str, problem: &Problem) -> f64 {
    let lower = instructions.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let mut skill = 0.0;
    if problem.steps.len() >= 2 && lower.contains("step by step") {
        skill += STEP_BY_STEP;
    }
    for op in problem.operation_set() {
        if op.names().iter().any(|name| words.contains(name)) {
            skill += NAMED_OPERATION;
        }
    }
    skill
}

/// The demos' share: each demo that is a generated problem contributes
/// `DEMO × similarity × weight` when its answer is right (weight 1, or
/// [`INCOMPLETE_DEMO`] when outputs are not supplied), and
/// `−WRONG_DEMO_PENALTY × DEMO × similarity` when it is wrong; the
/// [`HELPFUL_DEMOS`] largest positive contributions and every negative one
/// are summed.
pub fn demo_skill(view: &PromptView, problem: &Problem, answer_field: &str) -> f64 {
    let mut helpful = Vec::new();
    let mut misleading = 0.0;
    for demo in &view.demos {
        let Some((shown, given)) = demo_problem(demo, answer_field) else { continue };
        let similar = similarity(problem, &shown);
        if similar == 0.0 {
            continue;
        }
        if given == Some(shown.answer()) {
            let weight = if demo.complete { 1.0 } else { INCOMPLETE_DEMO };
            helpful.push(DEMO * similar * weight);
        } else {
            misleading -= WRONG_DEMO_PENALTY * DEMO * similar;
        }
    }
    helpful.sort_by(|a, b| b.total_cmp(a));
    helpful.iter().take(HELPFUL_DEMOS).sum::<f64>() + misleading
}

/// The generated problem a demo shows and the answer it gives (`None` when
/// the answer is missing or not a number).
fn demo_problem(demo: &Demo, answer_field: &str) -> Option<(Problem, Option<i64>)> {
    let problem = demo.inputs.iter().find_map(|(_, v)| Problem::parse(v))?;
    let given = demo.output(answer_field).and_then(|a| a.trim().parse::<i64>().ok());
    Some((problem, given))
}

/// The probability of a right answer: `σ(BIAS + skill − difficulty)`.
pub fn p_correct(skill: f64, difficulty: f64) -> f64 {
    1.0 / (1.0 + (-(BIAS + skill - difficulty)).exp())
}

/// Feedback a metric can give on a generated problem, naming what the rules
/// reward: the operations the question needs and, for several steps,
/// working step by step. An optimizer that rewrites instructions from
/// feedback can learn the instruction rule from it. It is a verdict (`The
/// answer N is right.`, `The answer N is wrong; the right answer is M.`, or
/// `No number was given; the right answer is M.` when the prediction is not
/// an integer) followed by [`feedback_tail`].
pub fn feedback(problem: &Problem, predicted: Option<&str>) -> String {
    let truth = problem.answer();
    let verdict = match predicted.and_then(|p| p.trim().parse::<i64>().ok()) {
        Some(p) if p == truth => format!("The answer {truth} is right."),
        Some(p) => format!("The answer {p} is wrong; the right answer is {truth}."),
        None => format!("No number was given; the right answer is {truth}."),
    };
    verdict + &feedback_tail(problem)
}

/// The part of [`feedback`] that depends on the problem only: ` The problem
/// takes N steps using A and B; work through it step by step.` or ` The
/// problem takes one step of A.` (with its leading space).
pub fn feedback_tail(problem: &Problem) -> String {
    let ops: Vec<&str> = problem.operation_set().into_iter().map(Operation::name).collect();
    let steps = problem.steps.len();
    if steps >= 2 {
        format!(" The problem takes {steps} steps using {}; work through it step by step.", ops.join(" and "))
    } else {
        format!(" The problem takes one step of {}.", ops.join(""))
    }
}

/// A uniform number in `[0, 1)` from a SHA-256 of the parts.
pub fn unit(parts: &[&str]) -> f64 {
    unit_of(&digest(parts))
}

/// SHA-256 of the parts, each followed by a 0 byte.
pub fn digest(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}

/// The first 8 bytes of `hash` as a number in `[0, 1)`.
pub fn unit_of(hash: &[u8; 32]) -> f64 {
    (word(hash, 0) >> 11) as f64 / (1u64 << 53) as f64
}

/// The `i`-th 8-byte word of `hash` (i < 4).
pub fn word(hash: &[u8; 32], i: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash[i * 8..i * 8 + 8]);
    u64::from_le_bytes(bytes)
}
