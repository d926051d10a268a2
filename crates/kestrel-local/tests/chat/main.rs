//! The chat engine on a tiny GGUF model the tests write (no download):
//! loading, tokenizer and template from metadata, greedy determinism,
//! sampling, `n > 1`, stop sequences, `max_tokens` and finish reasons,
//! batching and the prefix cache against sequential cold runs, constraints,
//! and typed errors for bad files.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[cfg(feature = "constrained")]
mod constrained;
#[cfg(feature = "finetune")]
mod finetune;
#[cfg(feature = "finetune")]
mod finetune_backend;
#[cfg(feature = "finetune")]
mod finetune_bench;
mod real_models;
mod tiny_model;

use std::sync::Arc;

use kestrel_core::Message;
use kestrel_lm::{FinishReason, Lm, LmRequest};
use kestrel_local::constraint::TokenConstraint;
use kestrel_local::{LocalError, LocalLm, LocalLmOptions};
use tempfile::TempDir;
use tiny_model::write_tiny_model;

fn load(dir: &TempDir, architecture: &str, options: LocalLmOptions) -> LocalLm {
    let path = write_tiny_model(dir.path(), architecture);
    LocalLm::load(&path, options).unwrap()
}

fn request(user: &str, max_tokens: u32) -> LmRequest {
    let mut request = LmRequest::new(vec![Message::system("Answer."), Message::user(user)]);
    request.max_tokens = Some(max_tokens);
    request.temperature = Some(0.0);
    request
}

#[test]
fn tokenizer_and_template_come_from_the_gguf_metadata() {
    let dir = TempDir::new().unwrap();
    let lm = load(&dir, "llama", LocalLmOptions::default());
    let tokenizer = lm.tokenizer();
    let encoding = tokenizer.encode("hello world 42", false).unwrap();
    // Merges apply (`hell`, `Ġwor`), digits split one by one (smollm).
    assert_eq!(encoding.get_tokens(), ["hell", "o", "Ġwor", "l", "d", "Ġ", "4", "2"]);
    let vocab = lm.vocab();
    assert_eq!(vocab.decode(encoding.get_ids()), b"hello world 42");
    let ids = lm.prompt_ids(&[Message::user("hi")]).unwrap();
    assert_eq!(
        lm.render(&[Message::user("hi")]).unwrap(),
        "<|im_start|>system\nYou are tiny.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );
    // Special tokens are single ids.
    assert_eq!(ids[0], 1);
    assert_eq!(ids.iter().filter(|&&id| id == 2).count(), 2);
    assert_eq!(vocab.eos_token_ids(), &[0, 2]);
    assert_eq!(vocab.vocab_size(), tiny_model::tokens().len());
}

#[test]
fn qwen2_tokenizer_and_layout_load() {
    let dir = TempDir::new().unwrap();
    let lm = load(&dir, "qwen2", LocalLmOptions::default());
    let encoding = lm.tokenizer().encode("hello, world 42", false).unwrap();
    assert_eq!(encoding.get_tokens(), ["hell", "o", ",", "Ġwor", "l", "d", "Ġ", "4", "2"]);
}

#[tokio::test]
async fn greedy_is_deterministic_and_max_tokens_ends_with_length() {
    for architecture in ["llama", "qwen2"] {
        let dir = TempDir::new().unwrap();
        let lm = load(&dir, architecture, LocalLmOptions::default());
        let first = lm.call(request("hello", 12)).await.unwrap();
        let second = lm.call(request("hello", 12)).await.unwrap();
        assert_eq!(first.completions, second.completions);
        let completion = &first.completions[0];
        assert_eq!(completion.finish_reason, Some(FinishReason::Length), "{architecture}: {completion:?}");
        assert_eq!(first.usage.completion_tokens, 12);
        assert_eq!(first.usage.prompt_tokens as usize, lm.prompt_ids(&request("hello", 12).messages).unwrap().len());
        // A fresh engine on the same file gives the same bytes.
        let again = LocalLm::load(dir.path().join(format!("tiny-{architecture}.gguf")), LocalLmOptions::default())
            .unwrap()
            .call(request("hello", 12))
            .await
            .unwrap();
        assert_eq!(again.completions, first.completions);
    }
}

#[tokio::test]
async fn stop_sequences_trim_the_text_and_end_with_stop() {
    let dir = TempDir::new().unwrap();
    let lm = load(&dir, "llama", LocalLmOptions::default());
    let free = lm.call(request("hello", 24)).await.unwrap().completions[0].text.clone();
    let chars: Vec<char> = free.chars().collect();
    // Two characters from the middle of the reply (random weights also
    // produce invalid UTF-8, shown as U+FFFD: not a stop sequence).
    let stop: String = chars
        .windows(2)
        .skip(1)
        .find(|pair| !pair.contains(&char::REPLACEMENT_CHARACTER))
        .map(|pair| pair.iter().collect())
        .unwrap_or_else(|| panic!("no two plain characters in {free:?}"));
    let at = free.find(&stop).unwrap();
    let mut stopped = request("hello", 24);
    stopped.stop = vec![stop, "never-there".into()];
    let response = lm.call(stopped).await.unwrap();
    assert_eq!(response.completions[0].text, free[..at]);
    assert_eq!(response.completions[0].finish_reason, Some(FinishReason::Stop));
}

#[tokio::test]
async fn n_choices_sample_with_a_seed_and_greedy_choices_agree() {
    let dir = TempDir::new().unwrap();
    let lm = load(&dir, "llama", LocalLmOptions::default());
    let mut sampled = request("hello", 10);
    sampled.n = 3;
    sampled.temperature = Some(1.0);
    sampled.rollout_id = Some(7);
    let one = lm.call(sampled.clone()).await.unwrap();
    let two = lm.call(sampled.clone()).await.unwrap();
    assert_eq!(one.completions.len(), 3);
    assert_eq!(one.completions, two.completions, "same seed, same samples");
    assert!(one.completions.iter().any(|c| c.text != one.completions[0].text), "{:?}", one.completions);
    assert_eq!(one.usage.completion_tokens, 30);
    sampled.rollout_id = Some(8);
    let other = lm.call(sampled).await.unwrap();
    assert_ne!(other.completions, one.completions, "another rollout id, other samples");
    let mut greedy = request("hello", 10);
    greedy.n = 2;
    let both = lm.call(greedy).await.unwrap();
    assert_eq!(both.completions[0], both.completions[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_decode_together_with_the_sequential_output() {
    let dir = TempDir::new().unwrap();
    let path = write_tiny_model(dir.path(), "qwen2");
    let users = ["hello", "world", "hello world", "a much longer question about the world", "x", "hell", "or", "w"];
    // Sequential, each on a cold engine with no prefix cache.
    let cold = LocalLm::load(&path, LocalLmOptions::default().prefix_cache_bytes(0)).unwrap();
    let mut expected = Vec::new();
    for user in users {
        expected.push(cold.call(request(user, 16)).await.unwrap().completions);
    }
    // All at once on one engine (small prefill chunks so prefills and
    // decodes share steps).
    let lm = LocalLm::load(&path, LocalLmOptions::default().prefill_chunk(7)).unwrap();
    let handles: Vec<_> = users
        .iter()
        .map(|user| {
            let lm = lm.clone();
            let request = request(user, 16);
            tokio::spawn(async move { lm.call(request).await.unwrap().completions })
        })
        .collect();
    for (handle, expected) in handles.into_iter().zip(expected) {
        assert_eq!(handle.await.unwrap(), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn own_kernels_decode_the_tokens_of_candles_kernels() {
    // The tiny model's Q4_1 and Q5_0 matrices run through the engine's own
    // kernels by default and through candle's QMatMul with `candle_kernels`.
    let dir = TempDir::new().unwrap();
    for architecture in ["llama", "qwen2"] {
        let own = load(&dir, architecture, LocalLmOptions::default());
        let candle = load(&dir, architecture, LocalLmOptions::default().candle_kernels(true));
        let users = ["hello", "world", "hello world", "a much longer question about the world"];
        let together: Vec<_> = users
            .iter()
            .map(|user| {
                let own = own.clone();
                let request = request(user, 24);
                tokio::spawn(async move { own.call(request).await.unwrap().completions })
            })
            .collect();
        for (user, batched) in users.iter().zip(together) {
            let expected = candle.call(request(user, 24)).await.unwrap().completions;
            assert_eq!(batched.await.unwrap(), expected, "{architecture}: {user}");
        }
    }
}

#[tokio::test]
async fn a_prefix_cache_hit_gives_the_cold_output() {
    let dir = TempDir::new().unwrap();
    let path = write_tiny_model(dir.path(), "llama");
    let system = "You classify messages. ".repeat(8);
    let ask = |user: &str| {
        let mut request = LmRequest::new(vec![Message::system(system.clone()), Message::user(user)]);
        request.max_tokens = Some(16);
        request
    };
    let cold = LocalLm::load(&path, LocalLmOptions::default().prefix_cache_bytes(0)).unwrap();
    let expected = cold.generate(&ask("second question")).await.unwrap();
    assert_eq!(expected.cached_prompt_tokens, 0);
    let warm = LocalLm::load(&path, LocalLmOptions::default()).unwrap();
    let first = warm.generate(&ask("first question")).await.unwrap();
    assert_eq!(first.cached_prompt_tokens, 0);
    let second = warm.generate(&ask("second question")).await.unwrap();
    assert!(second.cached_prompt_tokens > 40, "shared system prompt reused: {}", second.cached_prompt_tokens);
    assert_eq!(second.response.completions, expected.response.completions);
    let repeat = warm.generate(&ask("second question")).await.unwrap();
    assert_eq!(repeat.cached_prompt_tokens, repeat.response.usage.prompt_tokens as usize - 1);
    assert_eq!(repeat.response.completions, expected.response.completions);
}

/// Allows only `allowed` tokens, in order, then completes.
#[derive(Debug)]
struct Script {
    allowed: Vec<u32>,
    at: usize,
}

impl TokenConstraint for Script {
    fn mask_logits(&mut self, logits: &mut [f32]) -> Result<(), LocalError> {
        let keep = self.allowed[self.at] as usize;
        for (id, logit) in logits.iter_mut().enumerate() {
            if id != keep {
                *logit = f32::NEG_INFINITY;
            }
        }
        Ok(())
    }

    fn commit(&mut self, token: u32) -> Result<bool, LocalError> {
        assert_eq!(token, self.allowed[self.at]);
        self.at += 1;
        Ok(self.at == self.allowed.len())
    }
}

#[tokio::test]
async fn a_constraint_masks_every_choice_and_its_completion_stops() {
    let dir = TempDir::new().unwrap();
    let lm = load(&dir, "llama", LocalLmOptions::default());
    let word = lm.tokenizer().encode("hello world", false).unwrap().get_ids().to_vec();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let constrained = lm.clone().with_constraint_factory(Arc::new(move |request: &LmRequest, vocab| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert!(vocab.vocab_size() > 256);
        if request.stop.is_empty() { Ok(Some(Box::new(Script { allowed: word.clone(), at: 0 }))) } else { Ok(None) }
    }));
    let mut twice = request("anything", 50);
    twice.n = 2;
    let response = constrained.call(twice).await.unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    for completion in &response.completions {
        assert_eq!(completion.text, "hello world");
        assert_eq!(completion.finish_reason, Some(FinishReason::Stop));
    }
    // A constraint that only allows EOS: an empty reply that stopped.
    let eos_only = lm.with_constraint_factory(Arc::new(|_: &LmRequest, vocab| {
        Ok(Some(Box::new(Script { allowed: vec![vocab.eos_token_ids()[1]], at: 0 }) as Box<dyn TokenConstraint>))
    }));
    let response = eos_only.call(request("anything", 50)).await.unwrap();
    assert_eq!(response.completions[0].text, "");
    assert_eq!(response.completions[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(response.usage.completion_tokens, 0);
}

#[test]
fn bad_files_are_typed_errors() {
    let dir = TempDir::new().unwrap();
    let path = write_tiny_model(dir.path(), "llama");
    let bytes = std::fs::read(&path).unwrap();
    // Truncated: in the header, then in the tensor data.
    for cut in [10, 200, bytes.len() / 2, bytes.len() - 1] {
        let truncated = dir.path().join(format!("cut-{cut}.gguf"));
        std::fs::write(&truncated, &bytes[..cut]).unwrap();
        let error = LocalLm::load(&truncated, LocalLmOptions::default()).unwrap_err();
        assert!(matches!(error, LocalError::InvalidFile { .. }), "cut at {cut}: {error}");
    }
    // A corrupt length: the first metadata key claims an absurd size.
    let mut corrupt = bytes.clone();
    corrupt[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    let corrupt_path = dir.path().join("corrupt.gguf");
    std::fs::write(&corrupt_path, &corrupt).unwrap();
    assert!(matches!(LocalLm::load(&corrupt_path, LocalLmOptions::default()), Err(LocalError::InvalidFile { .. })));
    // Not GGUF at all.
    let text = dir.path().join("text.gguf");
    std::fs::write(&text, "hello").unwrap();
    assert!(matches!(LocalLm::load(&text, LocalLmOptions::default()), Err(LocalError::InvalidFile { .. })));
    // An architecture the engine does not run.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let gpt = write_tiny_model(&other, "gpt2");
    let error = LocalLm::load(&gpt, LocalLmOptions::default()).unwrap_err();
    assert!(
        matches!(&error, LocalError::UnsupportedArchitecture { architecture, .. } if architecture == "gpt2"),
        "{error}"
    );
    // Missing file, and a directory without a model.
    assert!(matches!(
        LocalLm::load(dir.path().join("absent.gguf"), LocalLmOptions::default()),
        Err(LocalError::MissingFile { .. })
    ));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(LocalLm::load(&empty, LocalLmOptions::default()), Err(LocalError::MissingFile { .. })));
}

#[tokio::test]
async fn a_prompt_longer_than_the_context_is_a_typed_error() {
    let dir = TempDir::new().unwrap();
    let lm = load(&dir, "llama", LocalLmOptions::default());
    let error = lm.call(request(&"q ".repeat(600), 4)).await.unwrap_err();
    assert!(error.to_string().contains("context"), "{error}");
}
