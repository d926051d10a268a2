//! Per-call framework overhead that does not involve an LM: ChatAdapter
//! format and parse of a 3-field signature (`context: list[str], question ->
//! answer`) with 4 demos, apart and together (and the XMLAdapter's format
//! and parse of the same), and a whole Predict call against the in-process
//! scripted LM.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kestrel_core::{Adapter, ChatAdapter, Example, SignatureSpec, XmlAdapter};
use kestrel_lm::{Callback, Callbacks, with_callbacks, with_lm};
use kestrel_modules::Predict;
use kestrel_testkit::ScriptedLm;

fn signature() -> SignatureSpec {
    SignatureSpec::parse("context: list[str], question -> answer").expect("valid signature")
}

fn demos() -> Vec<Example> {
    (0..4)
        .map(|i| {
            Example::from_pairs([
                ("context", serde_json::json!([format!("passage {i} a"), format!("passage {i} b")])),
                ("question", format!("question number {i}?").into()),
                ("answer", format!("answer {i}").into()),
            ])
        })
        .collect()
}

fn inputs() -> Example {
    Example::from_pairs([
        ("context", serde_json::json!(["The Eiffel Tower is in Paris.", "Paris is in France."])),
        ("question", "Where is the Eiffel Tower?".into()),
    ])
}

const REPLY: &str = "[[ ## answer ## ]]\nParis, France\n\n[[ ## completed ## ]]\n";
const XML_REPLY: &str = "<answer>\nParis, France\n</answer>";

fn adapter(c: &mut Criterion) {
    let sig = signature();
    let demos = demos();
    let inputs = inputs();
    c.bench_function("chat_format_3_fields_4_demos", |b| {
        b.iter(|| ChatAdapter.format(black_box(&sig), black_box(&demos), black_box(&inputs)))
    });
    c.bench_function("chat_parse_1_output", |b| b.iter(|| ChatAdapter.parse(black_box(&sig), black_box(REPLY))));
    c.bench_function("xml_format_3_fields_4_demos", |b| {
        b.iter(|| XmlAdapter.format(black_box(&sig), black_box(&demos), black_box(&inputs)))
    });
    c.bench_function("xml_parse_1_output", |b| b.iter(|| XmlAdapter.parse(black_box(&sig), black_box(XML_REPLY))));
    // Both halves of one call, as a Predict call pays them.
    c.bench_function("chat_format_parse_3_fields_4_demos", |b| {
        b.iter(|| {
            let messages = ChatAdapter.format(black_box(&sig), black_box(&demos), black_box(&inputs));
            (messages, ChatAdapter.parse(black_box(&sig), black_box(REPLY)))
        })
    });
}

fn predict_call(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let lm = ScriptedLm::keyed([("Eiffel", REPLY)]).without_recording();
    let predict = Predict::with_spec(signature()).demos_from(demos());
    let inputs = inputs();
    c.bench_function("predict_call_scripted_lm", |b| {
        b.iter(|| runtime.block_on(with_lm(lm.clone(), predict.forward_example(black_box(&inputs), None))))
    });
    // The same call with one callback in scope that does nothing: the cost
    // of building the events (inputs and outputs as JSON, ids, scopes).
    let callbacks = Callbacks::new().with(NoopCallback);
    c.bench_function("predict_call_scripted_lm_noop_callback", |b| {
        b.iter(|| {
            let call = with_lm(lm.clone(), predict.forward_example(black_box(&inputs), None));
            runtime.block_on(with_callbacks(callbacks.clone(), call))
        })
    });
}

/// A callback with every method left at its default (does nothing).
struct NoopCallback;

impl Callback for NoopCallback {}

criterion_group!(benches, adapter, predict_call);
criterion_main!(benches);
