//! Seeded arithmetic word problems (`{"question", "answer"}`) in a small
//! fixed grammar, so the simulated LM can read a question back
//! ([`Problem::parse`]), compute its true answer, and tell which problems
//! are alike ([`Problem::operations`]).
//!
//! Grammar (one sentence per part, answers never negative):
//!
//! ```text
//! {Name} has {start} {items}.
//! Then {Name} buys {n} more.                      (+ n)
//! Then {Name} gives away {n}.                     (- n)
//! Then {Name} ends up with {k} times as many.     (× k)
//! How many {items} does {Name} have now?
//! ```

use std::collections::HashSet;

use kestrel_core::Example;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const NAMES: &[&str] = &[
    "Ava", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena", "Mateo", "Nora",
];
const ITEMS: &[&str] =
    &["apples", "marbles", "stickers", "coins", "books", "pencils", "shells", "cards", "cookies", "stamps", "beads"];

/// One step of a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `Then {Name} buys {n} more.`
    Add(i64),
    /// `Then {Name} gives away {n}.`
    Remove(i64),
    /// `Then {Name} ends up with {k} times as many.`
    Times(i64),
}

/// The operation of a step: what makes two problems alike for the
/// simulated LM, and what an instruction can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// `buys {n} more`.
    Addition,
    /// `gives away {n}`.
    Subtraction,
    /// `ends up with {k} times as many`.
    Multiplication,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 3] = [Operation::Addition, Operation::Subtraction, Operation::Multiplication];

    /// The words that name this operation in an instruction (matched as
    /// whole lower-case words).
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Operation::Addition => &["add", "adding", "addition", "plus", "sum"],
            Operation::Subtraction => &["subtract", "subtracting", "subtraction", "minus", "difference"],
            Operation::Multiplication => &["multiply", "multiplying", "multiplication", "times", "product"],
        }
    }

    /// The operation's usual name (`addition`).
    pub fn name(self) -> &'static str {
        self.names()[2]
    }
}

impl Step {
    /// The step's operation.
    pub fn operation(self) -> Operation {
        match self {
            Step::Add(_) => Operation::Addition,
            Step::Remove(_) => Operation::Subtraction,
            Step::Times(_) => Operation::Multiplication,
        }
    }

    /// The count after this step.
    pub fn apply(self, count: i64) -> i64 {
        match self {
            Step::Add(n) => count + n,
            Step::Remove(n) => count - n,
            Step::Times(k) => count * k,
        }
    }

    /// The step as arithmetic on `count`: `12 + 7`.
    pub fn expression(self, count: i64) -> String {
        match self {
            Step::Add(n) => format!("{count} + {n}"),
            Step::Remove(n) => format!("{count} - {n}"),
            Step::Times(k) => format!("{count} × {k}"),
        }
    }
}

/// An arithmetic word problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Who owns the items.
    pub name: String,
    /// What is counted (a plural noun, one word).
    pub items: String,
    /// The count at the start.
    pub start: i64,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

impl Problem {
    /// The true answer.
    pub fn answer(&self) -> i64 {
        self.steps.iter().fold(self.start, |count, step| step.apply(count))
    }

    /// The operations of the steps, in order (the problem's *template*).
    pub fn operations(&self) -> Vec<Operation> {
        self.steps.iter().map(|s| s.operation()).collect()
    }

    /// The distinct operations, sorted.
    pub fn operation_set(&self) -> Vec<Operation> {
        let mut ops = self.operations();
        ops.sort_unstable();
        ops.dedup();
        ops
    }

    /// The question text.
    pub fn render(&self) -> String {
        let (name, items) = (&self.name, &self.items);
        let mut text = format!("{name} has {} {items}.", self.start);
        for step in &self.steps {
            text.push_str(&match step {
                Step::Add(n) => format!(" Then {name} buys {n} more."),
                Step::Remove(n) => format!(" Then {name} gives away {n}."),
                Step::Times(k) => format!(" Then {name} ends up with {k} times as many."),
            });
        }
        text.push_str(&format!(" How many {items} does {name} have now?"));
        text
    }

    /// Read a question in the grammar back; `None` for any other text.
    pub fn parse(text: &str) -> Option<Problem> {
        let sentences: Vec<Vec<&str>> = text
            .split(['.', '?'])
            .map(|s| s.split_whitespace().collect::<Vec<_>>())
            .filter(|words| !words.is_empty())
            .collect();
        let (first, rest) = sentences.split_first()?;
        let (last, middle) = rest.split_last()?;
        let [name, "has", start, items] = first.as_slice() else { return None };
        let start: i64 = start.parse().ok()?;
        let mut steps = Vec::with_capacity(middle.len());
        for sentence in middle {
            let step = match sentence.as_slice() {
                ["Then", who, "buys", n, "more"] if who == name => Step::Add(n.parse().ok()?),
                ["Then", who, "gives", "away", n] if who == name => Step::Remove(n.parse().ok()?),
                ["Then", who, "ends", "up", "with", k, "times", "as", "many"] if who == name => {
                    Step::Times(k.parse().ok()?)
                }
                _ => return None,
            };
            steps.push(step);
        }
        match last.as_slice() {
            ["How", "many", what, "does", who, "have", "now"] if what == items && who == name => {}
            _ => return None,
        }
        if steps.is_empty() {
            return None;
        }
        Some(Problem { name: name.to_string(), items: items.to_string(), start, steps })
    }

    /// A random problem: 1 to 3 steps, counts that stay positive and small.
    pub fn random(rng: &mut impl Rng) -> Problem {
        let name = NAMES[rng.random_range(0..NAMES.len())].to_string();
        let items = ITEMS[rng.random_range(0..ITEMS.len())].to_string();
        let start = rng.random_range(5..=40);
        let mut count = start;
        let mut steps = Vec::new();
        for _ in 0..rng.random_range(1..=3) {
            let step = match rng.random_range(0..3) {
                1 if count >= 2 => Step::Remove(rng.random_range(1..=count.min(15))),
                2 if count <= 50 => Step::Times(rng.random_range(2..=3)),
                _ => Step::Add(rng.random_range(2..=20)),
            };
            count = step.apply(count);
            steps.push(step);
        }
        Problem { name, items, start, steps }
    }

    /// The problem as an example: `question` (input) and `answer`.
    pub fn to_example(&self) -> Example {
        Example::from_pairs([("question", self.render()), ("answer", self.answer().to_string())])
            .with_inputs(["question"])
    }
}

/// `count` distinct problems from `seed` (the same seed gives the same list
/// on every platform).
pub fn generate(seed: u64, count: usize) -> Vec<Problem> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut seen = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let problem = Problem::random(&mut rng);
        if seen.insert(problem.render()) {
            out.push(problem);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_parse_round_trip() {
        for problem in generate(7, 500) {
            let text = problem.render();
            assert_eq!(Problem::parse(&text).as_ref(), Some(&problem), "{text}");
            assert!(problem.answer() >= 0, "{text}");
        }
    }

    #[test]
    fn answer_follows_the_steps() {
        let problem = Problem {
            name: "Ava".into(),
            items: "apples".into(),
            start: 12,
            steps: vec![Step::Add(7), Step::Remove(5), Step::Times(3)],
        };
        assert_eq!(
            problem.render(),
            "Ava has 12 apples. Then Ava buys 7 more. Then Ava gives away 5. Then Ava ends up with 3 times as many. \
             How many apples does Ava have now?"
        );
        assert_eq!(problem.answer(), 42);
    }

    #[test]
    fn generation_is_seeded_and_distinct() {
        let a = generate(3, 200);
        assert_eq!(a, generate(3, 200));
        assert_ne!(a, generate(4, 200));
        let unique: HashSet<String> = a.iter().map(Problem::render).collect();
        assert_eq!(unique.len(), 200);
    }

    #[test]
    fn other_text_does_not_parse() {
        for text in [
            "What is 2 + 2?",
            "Ava has 12 apples. How many apples does Ava have now?",
            "Ava has 12 apples. Then Ben buys 3 more. How many apples does Ava have now?",
            "Ava has twelve apples. Then Ava buys 3 more. How many apples does Ava have now?",
            "Ava has 12 apples. Then Ava buys 3 more. How many pears does Ava have now?",
            "",
        ] {
            assert_eq!(Problem::parse(text), None, "{text}");
        }
    }
}
