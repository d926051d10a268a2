//! `LocalLm` with feature `constrained`: llguidance's constraint factory is
//! installed by default, the model says it decodes under grammars, and
//! requests carrying the ChatAdapter's structure or the JSON adapter's
//! schema come back parseable from a tiny random model whose free replies
//! never parse. (The tiny model's 512-token context is too short for a
//! whole DSPy prompt, so the requests carry a short conversation and the
//! structure the adapter path would add.)

use kestrel_core::{Adapter, ChatAdapter, JsonAdapter, Message, SignatureSpec};
use kestrel_lm::{FinishReason, Lm, LmRequest};
use kestrel_local::{LocalLm, LocalLmOptions};
use serde_json::Value;
use tempfile::TempDir;

use crate::tiny_model::write_tiny_model;

fn request(text: &str) -> LmRequest {
    let mut request = LmRequest::new(vec![Message::system("Classify."), Message::user(text)]);
    request.temperature = Some(0.0);
    request.max_tokens = Some(200);
    request
}

#[tokio::test]
async fn constrained_replies_of_a_random_model_parse_and_free_ones_do_not() {
    let dir = TempDir::new().unwrap();
    let path = write_tiny_model(dir.path(), "qwen2");
    let sig = SignatureSpec::parse("text -> label: Literal['card_arrival', 'change_pin'], count: int").unwrap();
    let labels = ["card_arrival", "change_pin"];

    let lm = LocalLm::load(&path, LocalLmOptions::default()).unwrap();
    let capabilities = lm.capabilities();
    assert!(capabilities.constrained_decoding && capabilities.structured_outputs, "on by default");
    for text in ["I lost my card", "how do I change my pin?", "hello"] {
        let mut chat = request(text);
        chat.output_structure = ChatAdapter.output_structure(&sig);
        chat.n = 2;
        chat.temperature = Some(1.0);
        let response = lm.call(chat).await.unwrap();
        assert_eq!(response.completions.len(), 2);
        for completion in &response.completions {
            assert_eq!(completion.finish_reason, Some(FinishReason::Stop), "{:?}", completion.text);
            let fields = ChatAdapter.parse(&sig, &completion.text).unwrap();
            assert!(labels.contains(&fields.get("label").and_then(Value::as_str).unwrap()));
            assert!(fields.get("count").unwrap().is_i64());
        }

        let mut json = request(text);
        json.response_format = JsonAdapter.response_format(&sig);
        let response = lm.call(json).await.unwrap();
        let fields = JsonAdapter.parse(&sig, &response.completions[0].text).unwrap();
        assert!(labels.contains(&fields.get("label").and_then(Value::as_str).unwrap()));
    }

    let free = LocalLm::load(&path, LocalLmOptions::default().constrained(false)).unwrap();
    assert!(!free.capabilities().constrained_decoding && !free.capabilities().structured_outputs);
    let mut chat = request("I lost my card");
    chat.output_structure = ChatAdapter.output_structure(&sig);
    let reply = free.call(chat).await.unwrap();
    assert!(ChatAdapter.parse(&sig, &reply.completions[0].text).is_err(), "a random model's free reply does not parse");
}
