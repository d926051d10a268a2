//! Constrained decoding (feature `constrained`) without a model: a
//! synthetic vocabulary (every byte, a few multi-byte tokens, special and
//! padding ids) and a "model" of seeded random logits. Whatever the seed,
//! sampling under the constraint yields a reply that core's ChatAdapter
//! parser reads into the signature's fields (Literal values in the set,
//! numbers that parse), or JSON that the JSON adapter parses and that has
//! the schema's required fields and types. An `#[ignore]`d test prints the
//! mask time per token on 49k- and 151k-token vocabularies.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::Instant;

use kestrel_core::{Adapter, ChatAdapter, FieldType, JsonAdapter, OutputStructure, SignatureSpec};
use kestrel_lm::LmRequest;
use kestrel_local::LocalError;
use kestrel_local::chat::Vocab;
use kestrel_local::constrain::{GrammarCompiler, constraint_factory};
use kestrel_local::constraint::TokenConstraint;
use serde_json::{Value, json};

/// Multi-byte tokens of the synthetic vocabulary, after the 256 bytes.
const MULTI: &[&str] = &[
    "[[ ## ",
    " ## ]]",
    "[[",
    " ##",
    "## ]]",
    "\n\n",
    "\n",
    "label",
    "answer",
    "count",
    "completed",
    "card_arrival",
    "change_pin",
    "card",
    "_arrival",
    "pin",
    "true",
    "True",
    "false",
    "12",
    "3.5",
    "-",
    "e+",
    "the ",
    "Paris",
    " is",
    "{\"",
    "\": ",
    "\", \"",
    "\"}",
    "[1, ",
    "], ",
    "null",
    "  ",
    "é",
    "\u{2028}",
];
/// Special tokens: `<|im_end|>` is EOS, `<|im_start|>` must never be sampled.
const SPECIAL: &[&str] = &["<|im_start|>", "<|im_end|>"];
/// Padding ids beyond the tokens (models pad their output layer).
const PADDING: usize = 7;

/// The synthetic vocabulary: bytes, multi-byte tokens, specials, padding.
fn vocab() -> Vocab {
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    tokens.extend(MULTI.iter().map(|t| t.as_bytes().to_vec()));
    let first_special = tokens.len();
    tokens.extend(SPECIAL.iter().map(|t| t.as_bytes().to_vec()));
    let mut special = vec![false; first_special];
    special.extend([true, true]);
    let size = tokens.len() + PADDING;
    Vocab::new(tokens, special, vec![first_special as u32 + 1], size).unwrap()
}

/// xorshift64*: a seeded, dependency-free source of random logits.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// The random "model": logits uniform in [-4, 4), plus a pull towards the
/// structure's own tokens (markers, quotes, closing brackets), as a model
/// that has seen the format would have, so free text and JSON end in a
/// bounded number of steps.
fn logits(rng: &mut Rng, vocab: &Vocab) -> Vec<f32> {
    let mut logits: Vec<f32> = (0..vocab.vocab_size()).map(|_| rng.unit() * 8.0 - 4.0).collect();
    for (i, token) in MULTI.iter().enumerate() {
        if ["[[ ## ", "\n\n", "completed", " ## ]]", "\"}", "], ", "\"", "]", "}"].contains(token) {
            logits[256 + i] += 6.0;
        }
    }
    for byte in [b'"', b']', b'}'] {
        logits[byte as usize] += 4.0;
    }
    logits
}

/// Softmax sampling over the (masked) logits.
fn sample(rng: &mut Rng, logits: &[f32]) -> u32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let mut r = rng.unit() * weights.iter().sum::<f32>();
    for (i, w) in weights.iter().enumerate() {
        if r < *w {
            return i as u32;
        }
        r -= w;
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap() as u32
}

/// Decode one reply under `constraint`: the text and whether it ended
/// (grammar complete or EOS) within `max_tokens`.
fn decode(constraint: &mut dyn TokenConstraint, vocab: &Vocab, seed: u64, max_tokens: usize) -> (String, bool) {
    let mut rng = Rng::new(seed);
    let mut bytes = Vec::new();
    for _ in 0..max_tokens {
        let mut l = logits(&mut rng, vocab);
        constraint.mask_logits(&mut l).unwrap();
        let token = sample(&mut rng, &l);
        assert!(!vocab.is_special(token) || vocab.is_eos(token), "seed {seed}: special token {token} sampled");
        let done = constraint.commit(token).unwrap();
        if vocab.is_eos(token) {
            assert!(done, "seed {seed}: EOS accepted only at the end");
            return (String::from_utf8(bytes).unwrap(), true);
        }
        bytes.extend_from_slice(vocab.token_bytes(token).unwrap());
        if done {
            return (String::from_utf8(bytes).unwrap(), true);
        }
    }
    (String::from_utf8_lossy(&bytes).into_owned(), false)
}

fn chat_request(sig: &SignatureSpec) -> LmRequest {
    let mut request = LmRequest::new(Vec::new());
    request.output_structure = ChatAdapter.output_structure(sig);
    request
}

const SEEDS: u64 = 60;

#[test]
fn chat_replies_always_parse_into_the_signature_fields() {
    let vocab = vocab();
    let compiler = GrammarCompiler::new(&vocab).unwrap();
    let sig = SignatureSpec::parse(
        "text -> label: Literal['card_arrival', 'change_pin', 'lost_or_stolen_card'], count: int, score: float, \
         ok: bool, answer",
    )
    .unwrap();
    let allowed = ["card_arrival", "change_pin", "lost_or_stolen_card"];
    for seed in 0..SEEDS {
        let mut constraint = compiler.constraint_for(&chat_request(&sig)).unwrap().unwrap();
        let (text, ended) = decode(constraint.as_mut(), &vocab, seed, 400);
        assert!(ended, "seed {seed}: no end within 400 tokens: {text:?}");
        assert!(text.starts_with("[[ ## label ## ]]\n") && text.ends_with("\n\n[[ ## completed ## ]]"), "{text:?}");
        let fields = ChatAdapter.parse(&sig, &text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text:?}"));
        let label = fields.get("label").and_then(Value::as_str).unwrap();
        assert!(allowed.contains(&label), "seed {seed}: {label}");
        assert!(fields.get("count").unwrap().is_i64(), "seed {seed}: {text:?}");
        assert!(fields.get("score").unwrap().is_f64());
        assert!(fields.get("ok").unwrap().is_boolean());
        assert!(!fields.get("answer").and_then(Value::as_str).unwrap().contains("[[ ## "));
    }
}

#[test]
fn free_text_first_and_structured_values_parse_too() {
    let vocab = vocab();
    let compiler = GrammarCompiler::new(&vocab).unwrap();
    let person = FieldType::Model {
        name: "Person".into(),
        schema: json!({
            "title": "Person", "type": "object",
            "properties": {"name": {"title": "Name", "type": "string"}, "age": {"title": "Age", "type": "integer"}},
            "required": ["name", "age"]
        }),
    };
    let mut sig = SignatureSpec::parse("question -> reasoning, tags: list[int], flag: Literal[1, True, 'x']").unwrap();
    sig = sig.append(kestrel_core::FieldSpec::output("who", person)).unwrap();
    let structure = OutputStructure::for_signature(&sig);
    for seed in 0..SEEDS {
        let mut constraint = compiler.constraint_for(&chat_request(&sig)).unwrap().unwrap();
        let (text, ended) = decode(constraint.as_mut(), &vocab, 1000 + seed, 1500);
        assert!(ended, "seed {seed}: no end: {text:?}");
        let fields = ChatAdapter.parse(&sig, &text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text:?}"));
        assert!(fields.get("tags").unwrap().as_array().unwrap().iter().all(Value::is_i64));
        let flag = fields.get("flag").unwrap();
        assert!([json!(1), json!(true), json!("x")].contains(flag), "seed {seed}: {flag}");
        let who = fields.get("who").unwrap();
        assert!(who["name"].is_string() && who["age"].is_i64(), "seed {seed}: {who}");
    }
    assert_eq!(structure.fields.len(), 4);
}

#[test]
fn json_schema_replies_always_parse_and_validate() {
    let vocab = vocab();
    let compiler = GrammarCompiler::new(&vocab).unwrap();
    let sig =
        SignatureSpec::parse("q -> label: Literal['card_arrival', 'change_pin'], count: int, answer: str").unwrap();
    let format = JsonAdapter.response_format(&sig).unwrap();
    let mut request = LmRequest::new(Vec::new());
    request.response_format = Some(format.clone());
    let schema = &format["json_schema"]["schema"];
    let required: Vec<&str> = schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(required, ["label", "count", "answer"]);
    for seed in 0..SEEDS {
        let mut constraint = compiler.constraint_for(&request).unwrap().unwrap();
        let (text, ended) = decode(constraint.as_mut(), &vocab, 2000 + seed, 1500);
        assert!(ended, "seed {seed}: no end: {text:?}");
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}: {text:?}"));
        let object = value.as_object().unwrap();
        assert!(required.iter().all(|k| object.contains_key(*k)), "seed {seed}: {text}");
        assert!(["card_arrival", "change_pin"].contains(&object["label"].as_str().unwrap()));
        assert!(object["count"].is_i64() && object["answer"].is_string());
        let fields = JsonAdapter.parse(&sig, &text).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(fields.get("count"), object.get("count"));
    }

    // json_object: any JSON object.
    request.response_format = Some(json!({"type": "json_object"}));
    for seed in 0..10 {
        let mut constraint = compiler.constraint_for(&request).unwrap().unwrap();
        let (text, ended) = decode(constraint.as_mut(), &vocab, 3000 + seed, 1500);
        assert!(ended, "seed {seed}: no end: {text:?}");
        assert!(serde_json::from_str::<Value>(&text).unwrap().is_object(), "{text}");
    }
}

#[test]
fn the_factory_constrains_only_requests_that_ask_and_reports_bad_ones() {
    let vocab = vocab();
    let factory = constraint_factory();
    let factory = |r: &LmRequest, v: &Vocab| factory(r, v);
    assert!(factory(&LmRequest::new(Vec::new()), &vocab).unwrap().is_none(), "no structure: free decoding");
    let sig = SignatureSpec::parse("q -> a: int").unwrap();
    assert!(factory(&chat_request(&sig), &vocab).unwrap().is_some());

    let mut bad = LmRequest::new(Vec::new());
    bad.response_format = Some(json!({"type": "xml"}));
    assert!(matches!(factory(&bad, &vocab), Err(LocalError::Constraint { .. })));

    let other = Vocab::new(vec![b"a".to_vec()], vec![false], vec![0], 1).unwrap();
    assert!(
        matches!(factory(&chat_request(&sig), &other), Err(LocalError::Constraint { .. })),
        "one factory per model"
    );

    let no_eos = Vocab::new(vec![b"a".to_vec()], vec![false], vec![], 1).unwrap();
    assert!(matches!(GrammarCompiler::new(&no_eos), Err(LocalError::Constraint { .. })));
}

#[test]
fn a_token_outside_the_grammar_is_a_typed_error() {
    let vocab = vocab();
    let compiler = GrammarCompiler::new(&vocab).unwrap();
    let sig = SignatureSpec::parse("q -> a: int").unwrap();
    let mut constraint = compiler.constraint_for(&chat_request(&sig)).unwrap().unwrap();
    let mut logits = vec![0.0; vocab.vocab_size()];
    constraint.mask_logits(&mut logits).unwrap();
    let allowed: Vec<usize> = (0..logits.len()).filter(|&i| logits[i].is_finite()).collect();
    let texts: Vec<&[u8]> = allowed.iter().map(|&i| vocab.token_bytes(i as u32).unwrap()).collect();
    assert_eq!(texts, [&b"["[..], b"[[ ## ", b"[["]);
    assert!(matches!(constraint.commit(u32::from(b'x')), Err(LocalError::Constraint { .. })));
}

/// A vocabulary of about `size` tokens shaped like a BPE one: every byte,
/// then words and word pieces with and without a leading space.
fn large_vocab(size: usize) -> Vocab {
    let mut rng = Rng::new(size as u64);
    let letters = b"etaoinshrdlcumwfgypbvkjxqz_[]{}\":,#0123456789 \n";
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut seen: std::collections::HashSet<Vec<u8>> = tokens.iter().cloned().collect();
    while tokens.len() < size - 2 {
        let len = 2 + (rng.next_u64() % 9) as usize;
        let mut t: Vec<u8> = (0..len).map(|_| letters[(rng.next_u64() % letters.len() as u64) as usize]).collect();
        if rng.next_u64() % 2 == 0 {
            t[0] = b' ';
        }
        if seen.insert(t.clone()) {
            tokens.push(t);
        }
    }
    let eos = tokens.len() as u32 + 1;
    tokens.extend([b"<|im_start|>".to_vec(), b"<|im_end|>".to_vec()]);
    let mut special = vec![false; tokens.len() - 2];
    special.extend([true, true]);
    Vocab::new(tokens, special, vec![eos], size).unwrap()
}

/// Mask time per token of `request`'s grammar on `vocab`: 5 replies of
/// at most 300 tokens under uniform random logits. Returns (µs per token,
/// tokens, replies that ended).
fn time_masks(compiler: &GrammarCompiler, request: &LmRequest, size: usize) -> (f64, u32, u32) {
    let (mut masks, mut tokens, mut replies) = (std::time::Duration::ZERO, 0u32, 0);
    for seed in 0..5 {
        let mut constraint = compiler.constraint_for(request).unwrap().unwrap();
        let mut rng = Rng::new(seed);
        for _ in 0..300 {
            let mut l: Vec<f32> = (0..size).map(|_| rng.unit()).collect();
            let t = Instant::now();
            constraint.mask_logits(&mut l).unwrap();
            masks += t.elapsed();
            tokens += 1;
            if constraint.commit(sample(&mut rng, &l)).unwrap() {
                replies += 1;
                break;
            }
        }
    }
    (masks.as_secs_f64() * 1e6 / f64::from(tokens), tokens, replies)
}

/// The banking77-6 signature of the benchmark.
fn banking_signature() -> SignatureSpec {
    SignatureSpec::parse(
        "text -> label: Literal['card_arrival', 'lost_or_stolen_card', 'change_pin', 'exchange_rate', \
         'terminate_account', 'age_limit']",
    )
    .unwrap()
}

/// The cost of masking, printed: build the trie, then decode a ChatAdapter
/// reply (Literal label + free text) and a JSON-schema reply, timing
/// `mask_logits` per token. Run with
/// `cargo test -p kestrel-local --release --features constrained --test constrained -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in release with --nocapture"]
fn mask_time_per_token_on_large_vocabularies() {
    for size in [49_152, 151_936] {
        let vocab = large_vocab(size);
        let t = Instant::now();
        let compiler = GrammarCompiler::new(&vocab).unwrap();
        let build = t.elapsed();
        let label_only = banking_signature();
        let sig = banking_signature().append(kestrel_core::FieldSpec::output("answer", FieldType::Str)).unwrap();
        let mut json_request = LmRequest::new(Vec::new());
        json_request.response_format = JsonAdapter.response_format(&sig);
        let requests = [
            ("chat, Literal only", chat_request(&label_only)),
            ("chat, Literal + free text", chat_request(&sig)),
            ("JSON schema", json_request),
        ];
        for (name, request) in requests {
            let (us, tokens, replies) = time_masks(&compiler, &request, size);
            println!(
                "vocab {size}: trie {:.1} ms; {name}: {tokens} tokens ({replies} replies ended), mask {us:.1} us/token",
                build.as_secs_f64() * 1e3
            );
        }
    }
}

/// The real models (`cargo xtask fetch-models smollm2 qwen2.5-0.5b`; a
/// model not fetched is skipped): mask time on their own vocabularies,
/// then the banking77-6 signature through the ChatAdapter at temperature
/// 0, constrained and free, counting replies that do not parse. Run with
/// `cargo test -p kestrel-local --release --features constrained --test constrained -- --ignored --nocapture real`.
#[tokio::test]
#[ignore = "needs the fetched models; run in release with --nocapture"]
async fn real_models_follow_the_chat_structure() {
    use kestrel_lm::{AdapterChoice, CallConfig, LmError, SharedLm, call_with_adapter};
    use kestrel_local::LocalLm;

    let sig = banking_signature().with_instructions("Classify the intent of a bank customer's message.");
    let texts = [
        "I still have not received my new card, I ordered over a week ago.",
        "Someone stole my wallet with my card in it.",
        "How can I reset my PIN?",
        "What rate do you use when I exchange euros to dollars?",
        "Please close my account.",
        "How old do I need to be to open an account?",
    ];
    let config = CallConfig { temperature: Some(0.0), max_tokens: Some(256), ..CallConfig::default() };
    for name in ["local/smollm2", "local/qwen2.5-0.5b"] {
        let lm = match LocalLm::from_model_string(name) {
            Ok(lm) => lm,
            Err(e) => {
                println!("{name}: skipped ({e})");
                continue;
            }
        };
        let t = Instant::now();
        let compiler = GrammarCompiler::new(lm.vocab()).unwrap();
        let build = t.elapsed().as_secs_f64() * 1e3;
        let size = lm.vocab().vocab_size();
        let (us, _, _) = time_masks(&compiler, &chat_request(&sig), size);
        println!("{name}: vocab {size}, trie {build:.0} ms, mask {us:.1} us/token (Literal, random logits)");
        for (mode, model) in [("constrained", lm.clone()), ("free", lm.clone().without_constraints())] {
            let shared = SharedLm::new(model);
            let (mut failures, mut labels) = (0, Vec::new());
            let t = Instant::now();
            for text in texts {
                let inputs = kestrel_core::Example::from_pairs([("text", text)]);
                let chat = AdapterChoice::Chat { json_fallback: false };
                match call_with_adapter(&shared, chat, &sig, &[], &inputs, &config).await {
                    Ok(out) => labels.push(out.prediction.get("label").cloned().unwrap_or_default()),
                    Err(LmError::Parse(_)) => failures += 1,
                    Err(e) => panic!("{name} {mode}: {e}"),
                }
            }
            println!(
                "{name} {mode}: {failures}/{} parse failures, {:.1} s, labels {labels:?}",
                texts.len(),
                t.elapsed().as_secs_f64()
            );
            if mode == "constrained" {
                assert_eq!(failures, 0, "{name}: a constrained reply did not parse");
            }
        }
    }
}
