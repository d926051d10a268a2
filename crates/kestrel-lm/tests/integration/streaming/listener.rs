//! DSPy 3.4.1's `StreamListener` outputs, recorded by
//! `testdata/streaming/record_listener.py` into `listener_dspy.json`, replayed
//! through [`FieldListener`]: the same chunks in, the same field chunks
//! (text and `is_last_chunk`) and cache-hit flag out.

use kestrel_lm::stream::{FieldListener, StreamAdapter};
use serde_json::Value;

fn cases() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/streaming/listener_dspy.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn replay(adapter: StreamAdapter, case: &Value) -> (Vec<(String, bool)>, bool) {
    let mut listener = FieldListener::new(case["field"].as_str().unwrap(), false);
    let mut out = Vec::new();
    for chunk in case["chunks"].as_array().unwrap() {
        out.extend(listener.receive(adapter, chunk.as_str().unwrap()));
    }
    out.extend(listener.finalize(adapter));
    (out, listener.cache_hit())
}

fn check(kind: &str, adapter: StreamAdapter) {
    let all = cases();
    let cases = all[kind].as_array().unwrap();
    assert!(cases.len() >= 5, "{kind}: too few recorded cases");
    for case in cases {
        let want: Vec<(String, bool)> = case["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["chunk"].as_str().unwrap().to_string(), o["is_last_chunk"].as_bool().unwrap()))
            .collect();
        let (got, cache_hit) = replay(adapter, case);
        assert_eq!(got, want, "{kind} case {}", case["name"]);
        assert_eq!(cache_hit, case["cache_hit"].as_bool().unwrap(), "{kind} case {} cache_hit", case["name"]);
    }
}

#[test]
fn chat_adapter_chunks_match_dspy() {
    check("chat", StreamAdapter::Chat);
}

#[test]
fn json_adapter_chunks_match_dspy() {
    check("json", StreamAdapter::Json);
}

#[test]
fn markers_split_at_every_position_give_the_whole_value() {
    // Every two-way cut of the reply's text: the field's chunks, joined,
    // are the value (DSPy's rules hold back nothing of it here).
    let reply = "[[ ## reasoning ## ]]\nfirst\n\n[[ ## answer ## ]]\nThe answer is 42.\n\n[[ ## completed ## ]]";
    let cuts: Vec<usize> = reply.char_indices().map(|(i, _)| i).skip(1).collect();
    for a in &cuts {
        let mut listener = FieldListener::new("answer", false);
        let mut text = String::new();
        let mut last = false;
        for piece in [&reply[..*a], &reply[*a..]] {
            for token in piece.split_inclusive(' ') {
                if let Some((chunk, is_last)) = listener.receive(StreamAdapter::Chat, token) {
                    text.push_str(&chunk);
                    last |= is_last;
                }
            }
        }
        if let Some((chunk, _)) = listener.finalize(StreamAdapter::Chat) {
            text.push_str(&chunk);
        }
        assert_eq!(text, "The answer is 42.", "cut at byte {a}");
        assert!(last, "cut at byte {a}: no last chunk");
    }
}

#[test]
fn reuse_listens_again_after_the_end() {
    let tokens = ["[[ ## answer ## ]]\n", "one", "\n\n[[ ## completed ## ]]"];
    let mut once = FieldListener::new("answer", false);
    let mut again = FieldListener::new("answer", true);
    let mut got = (Vec::new(), Vec::new());
    for _ in 0..2 {
        for t in tokens {
            got.0.extend(once.receive(StreamAdapter::Chat, t));
            got.1.extend(again.receive(StreamAdapter::Chat, t));
        }
    }
    let chunks = |v: &Vec<(String, bool)>| v.iter().map(|(c, _)| c.clone()).collect::<String>();
    assert_eq!(chunks(&got.0), "one");
    assert_eq!(chunks(&got.1), "oneone");
}
