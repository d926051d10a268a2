//! Chat messages (what adapters produce) and token usage.

use serde::{Deserialize, Serialize};

/// The role of one chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The system prompt.
    System,
    /// A user turn.
    User,
    /// An assistant turn (demos are rendered as user/assistant pairs).
    Assistant,
}

impl Role {
    /// The wire name: `system`, `user` or `assistant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One chat message, serialized as `{"role": ..., "content": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// The text.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: Role::System, content: content.into() }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: Role::User, content: content.into() }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: Role::Assistant, content: content.into() }
    }

    /// The content parts a provider sends for this message: `None` for
    /// plain text (every system and assistant message, and user messages
    /// without DSPy's custom-type markers); for a user message holding an
    /// [`crate::Image`], its text split around the image parts as DSPy
    /// splits it (see [`crate::content`]).
    pub fn parts(&self) -> Option<Vec<crate::content::ContentPart>> {
        match self.role {
            Role::User => crate::content::split_custom_types(&self.content),
            Role::System | Role::Assistant => None,
        }
    }
}

/// Token usage of one or more LM calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens in the completion(s).
    pub completion_tokens: u64,
}

impl Usage {
    /// Prompt plus completion tokens.
    /// (Saturating: the counts come from a server and may be absurd.)
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// Saturating: the counts come from a server and may be absurd.
impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, rhs: Self) {
        self.prompt_tokens = self.prompt_tokens.saturating_add(rhs.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(rhs.completion_tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::Usage;

    #[test]
    fn usage_sums_saturate_on_absurd_server_counts() {
        let mut usage = Usage { prompt_tokens: u64::MAX, completion_tokens: 1 };
        assert_eq!(usage.total_tokens(), u64::MAX);
        usage += Usage { prompt_tokens: 7, completion_tokens: u64::MAX };
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (u64::MAX, u64::MAX));
    }
}
