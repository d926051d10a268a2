//! Message content parts: a user message whose text holds DSPy's
//! custom-type markers (an [`crate::Image`] rendered into the prompt) is
//! sent as a list of parts — text, image, text — exactly where DSPy 3.4.1
//! splits it (`_expand_legacy_custom_type_markers_in_chat_message`).
//!
//! Messages keep their text (`Message::content`, markers included: what
//! caches key on and histories show); providers ask [`crate::Message::parts`]
//! when they build a request, and a message without markers stays plain
//! text (the text-only fast path: one substring search).

use serde_json::{Map, Value, json};

use crate::custom_type::{CUSTOM_TYPE_END, CUSTOM_TYPE_START};

/// One part of a message's content.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ContentPart {
    /// `{"type": "text", "text": ..}`.
    Text(String),
    /// `{"type": "image_url", "image_url": {"url": ..}}`: a URL or a data URL.
    ImageUrl(String),
    /// Any other part a custom type wrote, as its JSON object.
    Other(Map<String, Value>),
}

impl ContentPart {
    /// The part in OpenAI's chat-completions shape.
    pub fn to_openai(&self) -> Value {
        match self {
            ContentPart::Text(text) => json!({"type": "text", "text": text}),
            ContentPart::ImageUrl(url) => json!({"type": "image_url", "image_url": {"url": url}}),
            ContentPart::Other(map) => Value::Object(map.clone()),
        }
    }

    fn from_block(block: &Value) -> ContentPart {
        let Value::Object(map) = block else {
            // DSPy: a non-dict block becomes its text.
            return ContentPart::Text(match block {
                Value::String(s) => s.clone(),
                other => crate::adapter::pyfmt::py_str(other),
            });
        };
        match map.get("type").and_then(Value::as_str) {
            Some("text") => match map.get("text").and_then(Value::as_str) {
                Some(text) => ContentPart::Text(text.to_string()),
                None => ContentPart::Other(map.clone()),
            },
            Some("image_url") => match map.get("image_url").and_then(|i| i.get("url")).and_then(Value::as_str) {
                Some(url) => ContentPart::ImageUrl(url.to_string()),
                None => ContentPart::Other(map.clone()),
            },
            _ => ContentPart::Other(map.clone()),
        }
    }
}

/// Split `text` around DSPy's custom-type markers; `None` when it holds no
/// start marker (plain text). Between a start and the next end marker is a
/// JSON list of parts (read as JSON, then as a JSON string holding JSON —
/// the marker was inside a JSON string, as for `list[Image]` — then
/// leniently); what cannot be read stays text.
pub fn split_custom_types(text: &str) -> Option<Vec<ContentPart>> {
    if !text.contains(CUSTOM_TYPE_START) {
        return None;
    }
    let mut parts = Vec::new();
    let mut last_end = 0;
    let mut search = 0;
    while let Some(start_off) = text[search..].find(CUSTOM_TYPE_START) {
        let start = search + start_off;
        let body_start = start + CUSTOM_TYPE_START.len();
        let Some(end_off) = text[body_start..].find(CUSTOM_TYPE_END) else { break };
        let body_end = body_start + end_off;
        if start > last_end {
            parts.push(ContentPart::Text(text[last_end..start].to_string()));
        }
        let payload = crate::adapter::pytext::py_strip(&text[body_start..body_end]);
        match parse_payload(payload) {
            Some(Value::Array(blocks)) => parts.extend(blocks.iter().map(ContentPart::from_block)),
            _ => parts.push(ContentPart::Text(payload.to_string())),
        }
        last_end = body_end + CUSTOM_TYPE_END.len();
        search = last_end;
    }
    if last_end < text.len() {
        parts.push(ContentPart::Text(text[last_end..].to_string()));
    }
    Some(parts)
}

/// `json.loads`, then the doubly quoted form, then `json_repair.loads`.
fn parse_payload(payload: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(payload) {
        return Some(v);
    }
    if let Ok(Value::String(inner)) = serde_json::from_str::<Value>(&format!("\"{payload}\"")) {
        if let Ok(v) = serde_json::from_str::<Value>(&inner) {
            return Some(v);
        }
    }
    crate::adapter::repair::repair_json(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;

    #[test]
    fn plain_text_is_not_split() {
        assert_eq!(split_custom_types("hello [[ ## x ## ]]"), None);
    }

    #[test]
    fn images_split_the_text() {
        let image = Image { url: "https://e.com/a.png".into() };
        let text = format!("before\n{}\nafter", image.marked_text());
        assert_eq!(
            split_custom_types(&text).unwrap(),
            vec![
                ContentPart::Text("before\n".into()),
                ContentPart::ImageUrl("https://e.com/a.png".into()),
                ContentPart::Text("\nafter".into())
            ]
        );
        // Inside a JSON string (a `list[Image]` value): doubly quoted.
        let listed = crate::adapter::python_json_dumps(&json!([image.marked_text()]));
        let parts = split_custom_types(&listed).unwrap();
        assert_eq!(parts[1], ContentPart::ImageUrl("https://e.com/a.png".into()));
        assert_eq!(parts.first(), Some(&ContentPart::Text("[\"".into())));
    }

    #[test]
    fn unreadable_payloads_stay_text_and_unclosed_markers_are_text() {
        let text = format!("{CUSTOM_TYPE_START} oops {CUSTOM_TYPE_END}!");
        let parts = split_custom_types(&text).unwrap();
        assert_eq!(parts.len(), 2);
        let unclosed = format!("a{CUSTOM_TYPE_START}b");
        assert_eq!(split_custom_types(&unclosed).unwrap(), vec![ContentPart::Text(unclosed.clone())]);
    }
}
