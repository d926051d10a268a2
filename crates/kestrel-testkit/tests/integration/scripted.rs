//! The scripted LM: sequence, keyed and follow-the-demos modes, request
//! recording, and typed errors when the script runs out.

use kestrel_core::{Adapter, ChatAdapter, Example, Message, SignatureSpec};
use kestrel_lm::{LmError, LmRequest, SharedLm};
use kestrel_testkit::{Reply, ScriptedLm, format_fields};
use serde_json::json;

fn ask(text: &str) -> LmRequest {
    LmRequest::new(vec![Message::system("sys"), Message::user(text)])
}

#[tokio::test]
async fn sequence_replies_in_order_then_errors() {
    let lm = ScriptedLm::sequence(["one", "two"]);
    let shared = SharedLm::new(lm.clone());
    assert_eq!(shared.call(ask("a")).await.unwrap().completions[0].text, "one");
    assert_eq!(shared.call(ask("b")).await.unwrap().completions[0].text, "two");
    let err = shared.call(ask("c")).await.unwrap_err();
    assert!(matches!(err, LmError::Provider { ref message, .. } if message.contains("2 replies")), "{err}");
    let seen: Vec<String> = lm.requests().iter().map(|r| r.messages[1].content.clone()).collect();
    assert_eq!(seen, vec!["a", "b", "c"]);
}

#[tokio::test]
async fn keyed_replies_match_a_substring_of_the_last_message() {
    let lm = SharedLm::new(ScriptedLm::keyed([("France", "Paris"), ("Italy", "Rome")]));
    assert_eq!(lm.call(ask("capital of Italy?")).await.unwrap().completions[0].text, "Rome");
    assert_eq!(lm.call(ask("capital of France?")).await.unwrap().completions[0].text, "Paris");
    assert!(lm.call(ask("capital of Spain?")).await.is_err());
}

#[tokio::test]
async fn n_gives_n_completions_and_usage_is_counted() {
    let lm = SharedLm::new(ScriptedLm::keyed([("q", "a b c")]));
    let mut req = ask("q");
    req.n = 3;
    let resp = lm.call(req).await.unwrap();
    assert_eq!(resp.completions.len(), 3);
    assert_eq!(resp.usage.completion_tokens, 9);
    assert!(resp.usage.prompt_tokens > 0);
    assert!(!resp.cache_hit);
}

#[tokio::test]
async fn follow_demos_answers_with_the_matching_demo() {
    let signature = SignatureSpec::parse("question -> answer").unwrap();
    let demos = [
        Example::from_pairs([("question", "1+1?"), ("answer", "2")]),
        Example::from_pairs([("question", "2+2?"), ("answer", "4")]),
    ];
    let ask = |q: &str| {
        LmRequest::new(ChatAdapter.format(&signature, &demos, &Example::from_pairs([("question", q)])).unwrap())
    };
    let lm = SharedLm::new(ScriptedLm::follow_demos());
    let resp = lm.call(ask("2+2?")).await.unwrap();
    assert_eq!(resp.completions[0].text, "[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]\n");
    assert!(lm.call(ask("3+3?")).await.is_err());
    // Not an adapter prompt: an error, not a guess.
    let bare = vec![Message::system("sys"), Message::user("[[ ## question ## ]]\n2+2?")];
    assert!(lm.call(LmRequest::new(bare)).await.is_err());
}

#[test]
fn fields_render_like_the_dspy_fixtures() {
    let reply = Reply::fields([("reasoning", json!("Because.")), ("answer", json!(4)), ("tags", json!(["a", "b"]))]);
    assert_eq!(
        reply.render(),
        "[[ ## reasoning ## ]]\nBecause.\n\n[[ ## answer ## ]]\n4\n\n[[ ## tags ## ]]\n[\"a\", \"b\"]"
    );
    if let Reply::Fields(f) = &reply {
        assert_eq!(format_fields(f), reply.render());
    }
}

#[test]
fn scalar_fields_render_as_dspys_dummy_lm_writes_them() {
    // DSPy 3.4.1: DummyLM()._format_answer_fields({...}) on these values.
    let reply = Reply::fields([
        ("ok", json!(true)),
        ("none", json!(null)),
        ("x", json!(2.0)),
        ("tags", json!(["a", "b"])),
        ("d", json!({"k": 1})),
    ]);
    assert_eq!(
        reply.render(),
        "[[ ## ok ## ]]\nTrue\n\n[[ ## none ## ]]\nNone\n\n[[ ## x ## ]]\n2.0\n\n[[ ## tags ## ]]\n[\"a\", \"b\"]\n\n\
         [[ ## d ## ]]\n{\"k\": 1}"
    );
}
