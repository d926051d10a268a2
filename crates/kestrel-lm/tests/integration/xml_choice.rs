//! `AdapterChoice::Xml`: the XML adapter through an LM call, its JSON
//! fallback (DSPy's XMLAdapter is a ChatAdapter), its prompt cache, and
//! choosing adapters by name.

use kestrel_core::{Adapter, Example, JsonAdapter, SignatureSpec, XmlAdapter};
use kestrel_lm::{
    AdapterChoice, CallConfig, LmError, PromptCache, SharedLm, call_with_adapter, call_with_adapter_cached,
};
use kestrel_testkit::ScriptedLm;
use serde_json::json;

fn setup() -> (SignatureSpec, Vec<Example>, Example) {
    let sig = SignatureSpec::parse("question -> answer, tags: list[str]").unwrap();
    let demos =
        vec![Example::from_pairs([("question", json!("1+1?")), ("answer", json!("2")), ("tags", json!(["math"]))])];
    (sig, demos, Example::from_pairs([("question", "Capital of France?")]))
}

#[tokio::test]
async fn xml_replies_parse_and_prompts_are_the_adapters() {
    let (sig, demos, inputs) = setup();
    let lm = ScriptedLm::sequence(["Sure.\n<answer>Paris</answer>\n<tags><item>geo</item></tags>"]);
    let choice = AdapterChoice::from_name("xml").unwrap();
    let out = call_with_adapter(&SharedLm::new(lm.clone()), choice, &sig, &demos, &inputs, &CallConfig::default())
        .await
        .unwrap();
    assert_eq!(out.prediction.get("answer"), Some(&json!("Paris")));
    assert_eq!(out.prediction.get("tags"), Some(&json!(["geo"])));
    assert!(!out.json_fallback);
    assert_eq!(lm.requests()[0].messages, XmlAdapter.format(&sig, &demos, &inputs).unwrap());
}

#[tokio::test]
async fn unparsable_xml_falls_back_to_json_unless_turned_off() {
    let (sig, demos, inputs) = setup();
    let replies = ["<answer>a & b</answer>", r#"{"answer": "a & b", "tags": []}"#];
    let lm = ScriptedLm::sequence(replies);
    let choice = AdapterChoice::Xml { json_fallback: true };
    let out = call_with_adapter(&SharedLm::new(lm.clone()), choice, &sig, &demos, &inputs, &CallConfig::default())
        .await
        .unwrap();
    assert!(out.json_fallback);
    assert_eq!((out.lm_calls, out.prediction.get("answer")), (2, Some(&json!("a & b"))));
    assert_eq!(lm.requests()[1].messages, JsonAdapter.format(&sig, &demos, &inputs).unwrap());

    let lm = ScriptedLm::sequence(replies);
    let choice = AdapterChoice::Xml { json_fallback: false };
    let err = call_with_adapter(&SharedLm::new(lm.clone()), choice, &sig, &demos, &inputs, &CallConfig::default())
        .await
        .unwrap_err();
    let LmError::Parse(e) = err else { panic!("{err:?}") };
    assert_eq!(e.adapter_name, "XMLAdapter");
    assert!(e.to_string().starts_with("Failed to parse XML: not well-formed (invalid token): line 1, column 22"));
    assert_eq!(lm.request_count(), 1);
}

#[tokio::test]
async fn the_prompt_cache_keeps_xml_prefixes_apart() {
    let (sig, demos, inputs) = setup();
    let reply = "<answer>x</answer><tags/>";
    let lm = ScriptedLm::sequence([reply, reply]);
    let shared = SharedLm::new(lm.clone());
    let cache = PromptCache::new();
    for choice in [AdapterChoice::from_name("xml").unwrap(), AdapterChoice::from_name("xml").unwrap()] {
        call_with_adapter_cached(&shared, choice, &sig, &demos, &inputs, &CallConfig::default(), Some(&cache))
            .await
            .unwrap();
    }
    let want = XmlAdapter.format(&sig, &demos, &inputs).unwrap();
    assert!(lm.requests().iter().all(|r| r.messages == want));
}

#[test]
fn adapters_by_name() {
    assert_eq!(AdapterChoice::from_name("chat"), Some(AdapterChoice::default()));
    assert_eq!(AdapterChoice::from_name("JSONAdapter"), Some(AdapterChoice::Json));
    assert_eq!(AdapterChoice::from_name("XMLAdapter"), Some(AdapterChoice::Xml { json_fallback: true }));
    assert_eq!(AdapterChoice::from_name("two_step"), None, "needs an extraction LM");
    for name in ["chat", "json", "xml"] {
        assert_eq!(AdapterChoice::from_name(name).unwrap().name(), name);
    }
}
