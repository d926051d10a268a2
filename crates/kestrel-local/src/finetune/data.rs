//! Training data: chat conversations ([`ChatExample`], parsed from DSPy's
//! chat-format JSONL) and their tokenization with the model's template.

use kestrel_core::{Message, Role};
use serde_json::Value;

use crate::{LocalError, LocalLm};

/// One training conversation; the last message is the assistant reply
/// trained on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatExample {
    /// The conversation, ending with an assistant message.
    pub messages: Vec<Message>,
}

impl ChatExample {
    /// A conversation; [`LocalError::Finetune`] unless it ends with an
    /// assistant message preceded by at least one other message.
    pub fn new(messages: Vec<Message>) -> Result<Self, LocalError> {
        match messages.as_slice() {
            [_, .., last] if last.role == Role::Assistant => Ok(Self { messages }),
            _ => Err(LocalError::Finetune {
                message: "a training conversation must end with an assistant message after a prompt".to_owned(),
            }),
        }
    }

    /// Parses chat-format JSONL (one `{"messages": [...]}` object per
    /// non-blank line, as DSPy writes fine-tuning data). Other keys are
    /// ignored; a malformed line is [`LocalError::Finetune`] naming it.
    pub fn parse_jsonl(text: &str) -> Result<Vec<Self>, LocalError> {
        let mut examples = Vec::new();
        for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
            let bad = |message: String| LocalError::Finetune { message: format!("line {}: {message}", number + 1) };
            let value: Value = serde_json::from_str(line).map_err(|error| bad(error.to_string()))?;
            let messages = value.get("messages").cloned().ok_or_else(|| bad("no `messages`".to_owned()))?;
            let messages: Vec<Message> =
                serde_json::from_value(messages).map_err(|error| bad(format!("messages: {error}")))?;
            examples.push(Self::new(messages).map_err(|error| bad(error.to_string()))?);
        }
        Ok(examples)
    }
}

/// A tokenized example: `ids[..first_target]` is the prompt, the rest the
/// tokens trained on.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) ids: Vec<u32>,
    pub(crate) first_target: usize,
}

/// Tokenizes an example as [`LocalLm`] would see it: the prompt rendered
/// with the chat template (generation prompt included), then the reply's
/// tokens and EOS. `None`: the prompt alone fills `max_len`.
pub(crate) fn tokenize(lm: &LocalLm, example: &ChatExample, max_len: usize) -> Result<Option<Sample>, LocalError> {
    let (reply, prompt) = example
        .messages
        .split_last()
        .ok_or_else(|| LocalError::Finetune { message: "an empty conversation".to_owned() })?;
    let mut ids = lm.prompt_ids(prompt)?;
    let first_target = ids.len();
    if first_target == 0 || first_target >= max_len {
        return Ok(None);
    }
    let encoding = lm
        .tokenizer()
        .encode(reply.content.as_str(), false)
        .map_err(|error| LocalError::Finetune { message: format!("tokenizing a reply: {error}") })?;
    ids.extend_from_slice(encoding.get_ids());
    if let Some(&eos) = lm.vocab().eos_token_ids().first() {
        ids.push(eos);
    }
    ids.truncate(max_len);
    Ok((ids.len() > first_target).then_some(Sample { ids, first_target }))
}
