//! [`FieldSpec`]: one input or output field of a signature.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::FieldType;

/// Whether a field is an input or an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Io {
    /// Supplied by the caller.
    Input,
    /// Produced by the LM.
    Output,
}

/// One field of a signature.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// Field name, a valid identifier.
    pub name: String,
    /// Input or output.
    pub io: Io,
    /// The value type.
    pub ty: FieldType,
    /// The description, or `None` (DSPy then stores the placeholder `${name}`
    /// and shows no description in prompts).
    pub desc: Option<String>,
    /// DSPy's field prefix (`Question:`); prompts do not show it, saved
    /// programs do.
    pub prefix: String,
    /// Constraint text DSPy shows under the field line
    /// (`greater than or equal to: 1, ...`), if any.
    pub constraints: Option<String>,
    /// The value an output field takes when the LM's reply omits it
    /// (DSPy's `OutputField(default=...)`, applied by its
    /// `apply_output_field_defaults`); `None` when the field declares none.
    /// It is not checked against the field type (pydantic does not check
    /// defaults either); a typed output whose default does not deserialize
    /// is a conversion error at call time.
    pub default: Option<Value>,
}

impl FieldSpec {
    /// A field with the default prefix and no description.
    pub fn new(name: impl Into<String>, io: Io, ty: FieldType) -> Self {
        let name = name.into();
        let prefix = format!("{}:", infer_prefix(&name));
        Self { name, io, ty, desc: None, prefix, constraints: None, default: None }
    }

    /// An input field.
    pub fn input(name: impl Into<String>, ty: FieldType) -> Self {
        Self::new(name, Io::Input, ty)
    }

    /// An output field.
    pub fn output(name: impl Into<String>, ty: FieldType) -> Self {
        Self::new(name, Io::Output, ty)
    }

    /// Set the description.
    pub fn with_desc(mut self, desc: impl Into<String>) -> Self {
        self.desc = Some(desc.into());
        self
    }

    /// Set the prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Set the constraint text.
    pub fn with_constraints(mut self, constraints: impl Into<String>) -> Self {
        self.constraints = Some(constraints.into());
        self
    }

    /// Set the default an output takes when the reply omits it (any JSON
    /// value, `null` included).
    pub fn with_default(mut self, default: impl Into<Value>) -> Self {
        self.default = Some(default.into());
        self
    }

    /// True for inputs.
    pub fn is_input(&self) -> bool {
        self.io == Io::Input
    }

    /// True for outputs.
    pub fn is_output(&self) -> bool {
        self.io == Io::Output
    }

    /// The description as DSPy stores it: the text, or `${name}`.
    pub fn stored_desc(&self) -> String {
        match &self.desc {
            Some(d) => d.clone(),
            None => format!("${{{}}}", self.name),
        }
    }
}

/// DSPy's `infer_prefix`: `camelCase`, `snake_case` and digits split into
/// title-cased words (`question` → `Question`, `word_counts` → `Word Counts`,
/// `answerID2` → `Answer ID 2`); all-caps words stay as they are.
pub fn infer_prefix(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut snake = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 {
            let prev = chars[i - 1];
            let next = chars.get(i + 1).copied();
            // `(.)([A-Z][a-z]+)` and `([a-z0-9])([A-Z])`
            let upper_then_lower = c.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase());
            let lower_then_upper = (prev.is_ascii_lowercase() || prev.is_ascii_digit()) && c.is_ascii_uppercase();
            // `([a-zA-Z])(\d)` and `(\d)([a-zA-Z])`
            let letter_digit = prev.is_ascii_alphabetic() && c.is_ascii_digit();
            let digit_letter = prev.is_ascii_digit() && c.is_ascii_alphabetic();
            if upper_then_lower || lower_then_upper || letter_digit || digit_letter {
                snake.push('_');
            }
        }
        snake.push(c);
    }
    let words: Vec<String> = snake
        .split('_')
        .map(|w| {
            let has_cased = w.chars().any(|c| c.is_alphabetic());
            if has_cased && w.chars().all(|c| !c.is_lowercase()) {
                w.to_string()
            } else {
                let mut cs = w.chars();
                match cs.next() {
                    Some(first) => first.to_uppercase().chain(cs.flat_map(char::to_lowercase)).collect(),
                    None => String::new(),
                }
            }
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::infer_prefix;

    #[test]
    fn prefixes_follow_dspy() {
        assert_eq!(infer_prefix("question"), "Question");
        assert_eq!(infer_prefix("word_counts"), "Word Counts");
        assert_eq!(infer_prefix("camelCase"), "Camel Case");
        assert_eq!(infer_prefix("is_alive"), "Is Alive");
        assert_eq!(infer_prefix("answer2"), "Answer 2");
        assert_eq!(infer_prefix("HTMLParser"), "HTML Parser");
    }
}
