//! The `tracing` spans of the callback events, seen by a minimal subscriber
//! (no callback in scope: the spans stand on their own).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use kestrel_core::Example;
use kestrel_lm::{Callbacks, with_callbacks, with_lm};
use kestrel_modules::Predict;
use kestrel_testkit::{Reply, ScriptedLm};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Debug, Clone)]
struct SpanRecord {
    name: &'static str,
    parent: Option<u64>,
    fields: BTreeMap<&'static str, String>,
}

#[derive(Default)]
struct Log {
    spans: Mutex<Vec<SpanRecord>>,
    stack: Mutex<Vec<u64>>,
}

struct Fields<'a>(&'a mut BTreeMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_string());
    }
}

struct LogSubscriber(Arc<Log>);

impl Subscriber for LogSubscriber {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "kestrel"
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = self.0.stack.lock().unwrap().last().copied();
        let mut spans = self.0.spans.lock().unwrap();
        spans.push(SpanRecord { name: attrs.metadata().name(), parent, fields });
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.0.spans.lock().unwrap();
        let index = usize::try_from(span.into_u64() - 1).unwrap();
        values.record(&mut Fields(&mut spans[index].fields));
    }
    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}
    fn event(&self, _event: &Event<'_>) {}
    fn enter(&self, span: &Id) {
        self.0.stack.lock().unwrap().push(span.into_u64());
    }
    fn exit(&self, _span: &Id) {
        self.0.stack.lock().unwrap().pop();
    }
}

#[tokio::test]
async fn every_call_is_a_span_with_the_event_fields() {
    let log = Arc::new(Log::default());
    let _guard = tracing::subscriber::set_default(LogSubscriber(log.clone()));
    let lm = ScriptedLm::sequence([Reply::fields([("answer", json!("4"))])]);
    let predict = Predict::from_signature("question -> answer").unwrap();
    let inputs = Example::from_pairs([("question", "2+2?")]);
    with_lm(lm, predict.forward_example(&inputs, None)).await.unwrap();

    let spans = log.spans.lock().unwrap().clone();
    let names: Vec<_> = spans.iter().map(|s| s.name).collect();
    assert_eq!(names, ["module", "adapter_format", "lm", "adapter_parse"]);
    // Nested under the module's span (span ids are 1-based positions).
    assert!(spans[1..].iter().all(|s| s.parent == Some(1)), "{spans:#?}");
    let module = &spans[0].fields;
    assert_eq!(module["name"], "Predict");
    assert_eq!(module["inputs"], r#"{"question":"2+2?"}"#);
    assert!(module["outputs"].contains(r#""answer":"4""#), "{module:?}");
    assert!(!module.contains_key("call_id"), "no callback scope, no call ids");
    assert_eq!(spans[2].fields["name"], "scripted/dummy");
    assert_eq!(spans[2].fields["outputs"], r#"["[[ ## answer ## ]]\n4"]"#);
    assert_eq!(spans[3].fields["outputs"], r#"{"answer":"4"}"#);

    // Inside a callback scope the spans carry the callbacks' call ids.
    let lm = ScriptedLm::sequence([Reply::fields([("answer", json!("4"))])]);
    with_callbacks(Callbacks::new(), with_lm(lm, predict.forward_example(&inputs, None))).await.unwrap();
    let spans = log.spans.lock().unwrap().clone();
    assert_eq!(spans[4].fields["call_id"], "1");
    assert_eq!(spans[5].fields["parent_id"], "1");
}
