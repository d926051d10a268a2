//! The engine on the real models `cargo xtask fetch-models smollm2
//! qwen2.5-0.5b` puts in the model directory (`#[ignore]`d: run them with
//! `cargo test --release -p kestrel-local --features chat --test chat -- --ignored --nocapture`).
//! They check the tokenizer built from GGUF metadata against the models'
//! known ids, the forward pass against candle-transformers'
//! `quantized_llama` / `quantized_qwen2` (same greedy tokens), and print
//! the engine's speed figures.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_llama, quantized_qwen2};
use kestrel_core::Message;
use kestrel_lm::LmRequest;
use kestrel_local::{LocalLm, LocalLmOptions};

const SMOLLM2: &str = "local/smollm2";
const QWEN: &str = "local/qwen2.5-0.5b";

fn load(model: &str, options: LocalLmOptions) -> LocalLm {
    LocalLm::from_model_string_with(model, options)
        .unwrap_or_else(|error| panic!("{model}: {error} (run `cargo xtask fetch-models`)"))
}

fn gguf_path(model: &str) -> PathBuf {
    let dir = kestrel_local::model_dir::model_dir().unwrap().join(model.trim_start_matches("local/"));
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "gguf"))
        .unwrap()
}

#[test]
#[ignore = "needs the real models (cargo xtask fetch-models)"]
fn tokenizers_built_from_gguf_match_the_models_ids() {
    let qwen = load(QWEN, LocalLmOptions::default());
    let ids = qwen.tokenizer().encode("Hello, world!", false).unwrap();
    assert_eq!(ids.get_ids(), [9707, 11, 1879, 0]);
    let prompt = qwen.prompt_ids(&[Message::system("S"), Message::user("Hi")]).unwrap();
    assert_eq!(prompt[0], 151_644, "<|im_start|> is one token");
    assert_eq!(qwen.vocab().eos_token_ids(), &[151_643, 151_645]);
    let smol = load(SMOLLM2, LocalLmOptions::default());
    let encoding = smol.tokenizer().encode("Hello world 2024", false).unwrap();
    assert_eq!(encoding.get_tokens(), ["Hello", "Ġworld", "Ġ", "2", "0", "2", "4"]);
    for lm in [&qwen, &smol] {
        for text in [
            "Classify the intent: «card_arrival»\n\n[[ ## label ## ]]",
            "naïve café — 東京 🙂",
            "  two  spaces\tand\ttabs",
        ] {
            let encoding = lm.tokenizer().encode(text, false).unwrap();
            assert_eq!(lm.vocab().decode(encoding.get_ids()), text.as_bytes(), "{lm:?} round trip of {text:?}");
        }
    }
}

/// Greedy tokens from candle-transformers' model of the same file.
fn candle_greedy(model: &str, prompt: &[u32], steps: usize, eos: &[u32]) -> Vec<u32> {
    let path = gguf_path(model);
    let mut file = std::fs::File::open(&path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    let qwen = model == QWEN;
    let mut llama = (!qwen).then(|| quantized_llama::ModelWeights::from_gguf(content, &mut file, &Device::Cpu));
    let mut qwen2 = if qwen {
        let mut file = std::fs::File::open(&path).unwrap();
        let content = gguf_file::Content::read(&mut file).unwrap();
        Some(quantized_qwen2::ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap())
    } else {
        None
    };
    let mut llama = llama.take().map(Result::unwrap);
    let mut forward = |ids: &[u32], pos: usize| -> Vec<f32> {
        let input = Tensor::new(ids, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let logits = match (&mut llama, &mut qwen2) {
            (Some(m), _) => m.forward(&input, pos).unwrap(),
            (_, Some(m)) => m.forward(&input, pos).unwrap(),
            _ => unreachable!(),
        };
        logits.squeeze(0).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
    };
    let argmax = |logits: &[f32]| {
        logits.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &l)| if l > best.1 { (i, l) } else { best }).0
            as u32
    };
    let mut tokens = Vec::new();
    let mut next = argmax(&forward(prompt, 0));
    let mut pos = prompt.len();
    while tokens.len() < steps && !eos.contains(&next) {
        tokens.push(next);
        next = argmax(&forward(&[next], pos));
        pos += 1;
    }
    tokens
}

#[tokio::test]
#[ignore = "needs the real models (cargo xtask fetch-models)"]
async fn greedy_tokens_match_candle_transformers() {
    for model in [SMOLLM2, QWEN] {
        let lm = load(model, LocalLmOptions::default());
        let messages = vec![
            Message::system("Your input fields are:\n1. `text` (str)\nYour output fields are:\n1. `label` (str)"),
            Message::user(
                "[[ ## text ## ]]\nI still have not received my new card.\n\nRespond with the corresponding output fields, starting with the field `[[ ## label ## ]]`.",
            ),
        ];
        let prompt = lm.prompt_ids(&messages).unwrap();
        let expected = candle_greedy(model, &prompt, 24, lm.vocab().eos_token_ids());
        let mut request = LmRequest::new(messages);
        request.temperature = Some(0.0);
        request.max_tokens = Some(24);
        let ours = lm.generate(&request).await.unwrap().response.completions[0].text.clone();
        let theirs = String::from_utf8_lossy(&lm.vocab().decode(&expected)).into_owned();
        println!("{model}: {ours:?}");
        assert_eq!(ours, theirs, "{model}");
    }
}

fn ask(system: &str, user: &str, max_tokens: u32) -> LmRequest {
    let mut request = LmRequest::new(vec![Message::system(system), Message::user(user)]);
    request.temperature = Some(0.0);
    request.max_tokens = Some(max_tokens);
    request
}

/// CPU time of this process so far (user + system; Linux), in seconds: the
/// machine may be shared, so figures per CPU-second are reported too.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

async fn timed(lm: &LocalLm, request: &LmRequest) -> (Duration, u64, usize) {
    let start = Instant::now();
    let out = lm.generate(request).await.unwrap();
    (start.elapsed(), out.response.usage.completion_tokens, out.cached_prompt_tokens)
}

/// The prompts of `benches/local/llama_speed.py` (llama.cpp's side), so
/// that both engines decode the same text.
const SYSTEM_SENTENCE: &str =
    "You are a careful assistant for a bank's customer service team, and you answer in one short sentence. ";
const USER_PROMPT: &str = "Write a long story about a robot who learns to paint.";

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Prints single-stream decode speed, aggregate speed with 8 concurrent
/// requests, and time to first token on a ~500-token system prompt cold
/// and warm (prefix cache), as text and as one `RESULT {json}` line per
/// model (`benches/local/speed.sh` collects them). Use a release build
/// with `RUSTFLAGS="-C target-cpu=native"`. The prompts and the median of
/// 3 runs are those of `benches/local/llama_speed.py`.
/// `KESTREL_BENCH_MODELS` (comma-separated model strings),
/// `KESTREL_BENCH_TOKENS` (default 128) and `KESTREL_BENCH_REQUANTIZE=1`
/// (`LocalLmOptions::requantize_q8`) and `KESTREL_BENCH_CANDLE_KERNELS=1`
/// (`LocalLmOptions::candle_kernels`: candle's matmul instead of ours)
/// change what is measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real models (cargo xtask fetch-models); a benchmark: run in release"]
async fn engine_speed_figures() {
    let models: Vec<String> = std::env::var("KESTREL_BENCH_MODELS")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|_| vec![SMOLLM2.to_owned(), QWEN.to_owned()]);
    let decode_tokens: u32 = std::env::var("KESTREL_BENCH_TOKENS").ok().and_then(|v| v.parse().ok()).unwrap_or(128);
    let requantize = std::env::var("KESTREL_BENCH_REQUANTIZE").is_ok_and(|v| v == "1");
    let candle_kernels = std::env::var("KESTREL_BENCH_CANDLE_KERNELS").is_ok_and(|v| v == "1");
    let repeats = 3;
    for model in models {
        let options = LocalLmOptions::default().requantize_q8(requantize).candle_kernels(candle_kernels);
        let lm = load(&model, options.clone().prefix_cache_bytes(0));
        let mut system = SYSTEM_SENTENCE.to_owned();
        while lm.tokenizer().encode(system.as_str(), false).unwrap().len() < 500 {
            system.push_str(SYSTEM_SENTENCE);
        }
        let system_tokens = lm.tokenizer().encode(system.as_str(), false).unwrap().len();
        // Warm-up, then single stream: TTFT (1 token) and the full run.
        timed(&lm, &ask("Be brief.", "Say hello.", 4)).await;
        let mut singles = Vec::new();
        let mut singles_cpu = Vec::new();
        let mut produced_single = 0;
        for _ in 0..repeats {
            let short = user_only(USER_PROMPT, 1);
            let (first, _, _) = timed(&lm, &short).await;
            let long = user_only(USER_PROMPT, decode_tokens);
            let cpu = cpu_seconds();
            let (whole, produced, _) = timed(&lm, &long).await;
            singles_cpu.push(produced as f64 / (cpu_seconds() - cpu));
            singles.push((produced.saturating_sub(1)) as f64 / (whole - first).as_secs_f64());
            produced_single = produced;
        }
        let (single, single_cpu) = (median(singles), median(singles_cpu));
        // 8 concurrent requests (distinct prompts, no shared cache).
        let cpu = cpu_seconds();
        let start = Instant::now();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let lm = lm.clone();
                let request = user_only(&format!("{USER_PROMPT} Story number {i}."), decode_tokens);
                tokio::spawn(async move { lm.generate(&request).await.unwrap().response.usage.completion_tokens })
            })
            .collect();
        let mut total = 0;
        for handle in handles {
            total += handle.await.unwrap();
        }
        let aggregate = total as f64 / start.elapsed().as_secs_f64();
        let aggregate_cpu = total as f64 / (cpu_seconds() - cpu);
        // TTFT on the long system prompt: cold (no prefix cache) vs warm.
        let mut colds = Vec::new();
        for i in 0..repeats {
            let (cold, _, _) = timed(&lm, &ask(&system, &format!("Question {i}: how do I change my PIN?"), 1)).await;
            colds.push(cold.as_secs_f64());
        }
        let warm_lm = load(&model, options);
        timed(&warm_lm, &ask(&system, "Warm-up question.", 1)).await;
        let mut warms = Vec::new();
        let mut cached = 0;
        for i in 0..repeats {
            let (warm, _, hit) = timed(&warm_lm, &ask(&system, &format!("Question {i}: where is my card?"), 1)).await;
            warms.push(warm.as_secs_f64());
            cached = hit;
        }
        let (cold, warm) = (median(colds), median(warms));
        let prompt_tokens = lm.prompt_ids(&ask(&system, "Question 0: where is my card?", 1).messages).unwrap().len();
        println!(
            "{model}: single-stream decode {single:.1} tok/s ({single_cpu:.1} tok per CPU-s); 8 concurrent aggregate \
             {aggregate:.1} tok/s ({:.2}x; {aggregate_cpu:.1} tok per CPU-s); \
             TTFT on a {prompt_tokens}-token prompt cold {:.0} ms, warm {:.0} ms ({cached} cached tokens, {:.1}x)",
            aggregate / single,
            cold * 1e3,
            warm * 1e3,
            cold / warm,
        );
        let result = serde_json::json!({
            "side": "kestrel",
            "model": model,
            "requantize_q8": requantize,
            "kernels": if candle_kernels { "candle" } else { "own" },
            "threads": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "tokens": decode_tokens,
            "single_tokens": produced_single,
            "decode_tok_s": round1(single),
            "decode_tok_per_cpu_s": round1(single_cpu),
            "system_tokens": system_tokens,
            "prompt_tokens": prompt_tokens,
            "ttft_cold_ms": round1(cold * 1e3),
            "ttft_warm_ms": round1(warm * 1e3),
            "cached_tokens": cached,
            "concurrent": 8,
            "concurrent_tok_s": round1(aggregate),
            "concurrent_tok_per_cpu_s": round1(aggregate_cpu),
            "concurrent_tokens": total,
        });
        println!("RESULT {result}");
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A greedy request with one user message (the shape of llama_speed.py's
/// decode prompt: the chat template, no system message).
fn user_only(user: &str, max_tokens: u32) -> LmRequest {
    let mut request = LmRequest::new(vec![Message::user(user)]);
    request.temperature = Some(0.0);
    request.max_tokens = Some(max_tokens);
    request
}
