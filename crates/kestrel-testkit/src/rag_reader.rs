//! [`RagReaderLm`]: the deterministic offline LM of the multi-hop RAG
//! example. It is a **simulation that measures the plumbing**, not a model:
//! it really reads the retrieved passages in the prompt (so retrieval quality
//! changes its answers), but by fixed word-overlap rules.
//!
//! Passages are read from the `context` input as Kestrel's ChatAdapter
//! renders a list (`[1] «Title | text»` lines, or a JSON list), each
//! `Title | text` (the form of DSPy's Wikipedia abstracts). Rules, per
//! output field of the signature:
//!
//! - `search_query` (the hop-2 query): the best passage for the question
//!   (most shared content words, earliest on ties) is read for the names it
//!   mentions (runs of capitalized words) that the question does not; the
//!   query is those names (at most three) followed by the question. This
//!   is how a bridge question's second passage is usually found.
//! - `answer`: a demo with the same question is answered as the demo was
//!   (DSPy's `DummyLM` follow-the-examples rule); a question opening with an
//!   auxiliary verb (`Is`, `Were`, `Did`...) is answered `yes`, or `no` when
//!   the demos answered more such questions `no`; a question with ` or `
//!   picks whichever passage title written in the question has the better
//!   passage; otherwise the title of the best passage whose title the
//!   question does not already name.
//! - `reasoning` (ChainOfThought): one sentence naming the passage used.
//!
//! Same request, same reply, on every platform; usage counts words.

use std::collections::HashSet;

use async_trait::async_trait;
use kestrel_core::Usage;
use kestrel_lm::{Completion, Lm, LmCapabilities, LmError, LmRequest, LmResponse};
use serde_json::Value;

use crate::simulated::PromptView;

/// The model string it reports.
pub const RAG_READER_MODEL: &str = "kestrel-testkit/rag-reader";

/// Words too common to count as overlap.
const STOP: &[&str] = &[
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "by", "with", "and", "or", "is", "are", "was", "were", "be",
    "been", "what", "which", "who", "whom", "whose", "when", "where", "how", "that", "this", "it", "its", "as", "from",
    "did", "does", "do", "has", "have", "had", "his", "her", "their", "they", "he", "she", "both", "name", "also",
    "than", "into", "s",
];

/// Auxiliary verbs that open a yes/no question.
const AUXILIARIES: &[&str] =
    &["is", "are", "was", "were", "do", "does", "did", "can", "could", "has", "have", "had", "will", "would"];

/// The offline RAG reader (see the module docs for its rules).
#[derive(Debug, Clone, Copy, Default)]
pub struct RagReaderLm;

impl RagReaderLm {
    /// A reader.
    pub fn new() -> Self {
        Self
    }

    /// The reply text for `request`, or why it has none (not an adapter
    /// request, no `question` input).
    pub fn respond(&self, request: &LmRequest) -> Result<String, String> {
        let view = PromptView::parse(request)?;
        let question = view.input("question").ok_or("the request has no `question` input")?.to_string();
        let passages = parse_context(view.input("context").unwrap_or(""));
        let mut values: Vec<(String, Value)> = Vec::new();
        for field in &view.outputs {
            let value = match field.name.as_str() {
                "reasoning" => reasoning(&question, &passages),
                "search_query" => follow_up_query(&question, &passages),
                "answer" => answer(&question, &passages, &view),
                _ => String::new(),
            };
            values.push((field.name.clone(), Value::String(value)));
        }
        view.render(&values)
    }
}

#[async_trait]
impl Lm for RagReaderLm {
    fn model(&self) -> &str {
        RAG_READER_MODEL
    }

    fn capabilities(&self) -> LmCapabilities {
        LmCapabilities::default()
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let text =
            self.respond(&request).map_err(|message| LmError::Provider { model: RAG_READER_MODEL.into(), message })?;
        let words = |t: &str| t.split_whitespace().count() as u64;
        let usage = Usage {
            prompt_tokens: request.messages.iter().map(|m| words(&m.content)).sum(),
            completion_tokens: words(&text) * u64::from(request.n.max(1)),
        };
        let completions = (0..request.n.max(1)).map(|_| Completion::stop(text.clone())).collect();
        Ok(LmResponse::new(completions, usage, RAG_READER_MODEL.to_string()))
    }
}

/// One passage: `Title | text` (no ` | `: the whole text is both).
#[derive(Debug, Clone, PartialEq)]
struct Passage {
    title: String,
    text: String,
}

/// The passages of a `context` input: a JSON list, numbered `«...»` items,
/// or the whole text as one passage.
fn parse_context(context: &str) -> Vec<Passage> {
    let items: Vec<String> = match serde_json::from_str::<Vec<String>>(context) {
        Ok(list) => list,
        Err(_) if context.contains('«') => context
            .split('«')
            .skip(1)
            .filter_map(|rest| rest.split_once('»').map(|(item, _)| item.to_string()))
            .collect(),
        Err(_) if context.trim().is_empty() => Vec::new(),
        Err(_) => vec![context.to_string()],
    };
    items
        .into_iter()
        .map(|item| match item.split_once(" | ") {
            Some((title, text)) => Passage { title: title.trim().to_string(), text: text.trim().to_string() },
            None => Passage { title: item.trim().to_string(), text: item.trim().to_string() },
        })
        .collect()
}

/// Lower-cased content words.
fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect()
}

/// Shared content words between `question` and a passage (title and text).
fn overlap(question: &HashSet<String>, passage: &Passage) -> usize {
    let mut own = words(&passage.text);
    own.extend(words(&passage.title));
    own.intersection(question).count()
}

/// Passage indices by overlap with the question, best first, ties earliest.
fn ranked(question: &str, passages: &[Passage]) -> Vec<usize> {
    let q = words(question);
    let mut order: Vec<(usize, usize)> = passages.iter().enumerate().map(|(i, p)| (i, overlap(&q, p))).collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    order.into_iter().map(|(i, _)| i).collect()
}

/// True when every content word of `name` is in the question's text.
fn named_in(question: &str, name: &str) -> bool {
    let q = words(question);
    let n = words(name);
    !n.is_empty() && n.is_subset(&q)
}

/// Runs of capitalized words (names), in order of appearance, distinct.
fn names(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut flush = |current: &mut Vec<&str>| {
        if !current.is_empty() {
            let name = current.join(" ");
            if !out.contains(&name) {
                out.push(name);
            }
            current.clear();
        }
    };
    for raw in text.split_whitespace() {
        let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
        let capitalized = word.chars().next().is_some_and(char::is_uppercase);
        if capitalized && !STOP.contains(&word.to_lowercase().as_str()) {
            current.push(word);
        } else {
            flush(&mut current);
        }
        // A name ends at punctuation after it.
        if raw.ends_with([',', '.', ';', ':', ')', '"']) {
            flush(&mut current);
        }
    }
    flush(&mut current);
    out
}

fn follow_up_query(question: &str, passages: &[Passage]) -> String {
    let Some(&best) = ranked(question, passages).first() else { return question.to_string() };
    let best = &passages[best];
    let mut picked: Vec<String> = Vec::new();
    for name in names(&best.text) {
        if picked.len() == 3 {
            break;
        }
        if !named_in(question, &name) && !named_in(&best.title, &name) {
            picked.push(name);
        }
    }
    if picked.is_empty() {
        return question.to_string();
    }
    format!("{} {question}", picked.join(" "))
}

fn answer(question: &str, passages: &[Passage], view: &PromptView) -> String {
    if let Some(demo) = view.demos.iter().find(|d| d.input("question") == Some(question))
        && let Some(answer) = demo.output("answer")
    {
        return answer.to_string();
    }
    let first = question.split_whitespace().next().unwrap_or("").to_lowercase();
    if AUXILIARIES.contains(&first.as_str()) {
        let demo_answers: Vec<String> =
            view.demos.iter().filter_map(|d| d.output("answer")).map(|a| a.trim().to_lowercase()).collect();
        let yes = demo_answers.iter().filter(|a| *a == "yes").count();
        let no = demo_answers.iter().filter(|a| *a == "no").count();
        return if no > yes { "no".into() } else { "yes".into() };
    }
    let order = ranked(question, passages);
    if question.contains(" or ") {
        if let Some(&i) = order.iter().find(|&&i| named_in(question, &passages[i].title)) {
            return passages[i].title.clone();
        }
    }
    order
        .iter()
        .map(|&i| &passages[i])
        .find(|p| !named_in(question, &p.title))
        .or_else(|| order.first().map(|&i| &passages[i]))
        .map(|p| p.title.clone())
        .unwrap_or_default()
}

fn reasoning(question: &str, passages: &[Passage]) -> String {
    match ranked(question, passages).first() {
        Some(&i) => format!("The passage about {} matches the question best.", passages[i].title),
        None => "No passage was given.".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_lists_are_read_in_every_rendering() {
        let numbered = "[1] «Paris | The capital of France.»\n[2] «Berlin | A city.»";
        let parsed = parse_context(numbered);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0], Passage { title: "Paris".into(), text: "The capital of France.".into() });
        assert_eq!(parse_context(r#"["A | b", "C"]"#)[1].title, "C");
        assert!(parse_context("  ").is_empty());
    }

    #[test]
    fn names_are_capitalized_runs() {
        assert_eq!(names("Born in New York City, he met Mary Shelley."), vec!["Born", "New York City", "Mary Shelley"]);
    }

    #[test]
    fn the_follow_up_query_names_the_bridge_entity() {
        let passages = parse_context(r#"["Film X | Film X was directed by Jane Roe.", "Other | Unrelated text."]"#);
        let query = follow_up_query("When was the director of Film X born?", &passages);
        assert_eq!(query, "Jane Roe When was the director of Film X born?");
    }
}
