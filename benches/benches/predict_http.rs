//! Per-call framework time of `Predict` through the real HTTP provider path
//! (`LmClient` + `OpenAiProvider` → the testkit's mock server at 0 ms):
//!
//! - `predict_cache_hit/*`: a call served by the warm in-memory cache
//!   (format, cache key, hit, parse, usage, history) — target < 5 µs;
//! - `http_round_trip/raw_reqwest_post`: the same JSON body POSTed with a
//!   plain `reqwest::Client` (the client async-openai builds) and the
//!   response read — the HTTP floor;
//! - `http_round_trip/predict_uncached`: a whole uncached `Predict` call.
//!
//! `predict_uncached − raw_reqwest_post` is the framework time of an
//! uncached call (target < 50 µs); `http_round_trip/framework_time_uncached`
//! measures that difference directly, alternating the two calls. Each sample's calls run inside one
//! `block_on` (`iter_custom`), so runtime entry is not counted per call. The
//! cache-hit client talks to a server on its own thread; the round-trip
//! benches put client and server on one current-thread runtime.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kestrel_benches::{MODEL, MockHost, arithmetic_responder, http_lm, problems, question, raw_post};
use kestrel_core::Example;
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::providers::OpenAiProvider;
use kestrel_lm::{LmBuilder, SharedLm, with_lm};
use kestrel_modules::Predict;
use kestrel_testkit::mock::MockServer;
use serde_json::Value;
use tokio::runtime::Runtime;

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn qa_inputs() -> Example {
    Example::from_pairs([("question", question(41))])
}

fn three_field_inputs() -> Example {
    Example::from_pairs([
        ("context", serde_json::json!(["Each step changes the count.", "Counts are whole numbers."])),
        ("question", question(41).into()),
    ])
}

fn four_demos() -> Vec<Example> {
    problems(4)
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Example::from_pairs([
                ("context", serde_json::json!([format!("passage {i} a"), format!("passage {i} b")])),
                ("question", p.render().into()),
                ("answer", p.answer().to_string().into()),
            ])
        })
        .collect()
}

/// Time `iters` sequential calls of `predict` on `inputs` under `lm`.
fn time_calls(runtime: &Runtime, lm: &SharedLm, predict: &Predict, inputs: &Example, iters: u64) -> Duration {
    runtime.block_on(with_lm(lm.clone(), async {
        let started = Instant::now();
        for _ in 0..iters {
            black_box(predict.forward_example(black_box(inputs), None).await.expect("prediction"));
        }
        started.elapsed()
    }))
}

fn cache_hits(c: &mut Criterion) {
    let host = MockHost::start(Duration::ZERO).expect("mock server");
    let runtime = current_thread();
    let lm = http_lm(&host, CacheConfig::memory_only()).expect("client");
    let cases = [
        ("qa", Predict::from_signature("question -> answer").expect("signature"), qa_inputs()),
        (
            "3_fields_4_demos",
            Predict::from_signature("context: list[str], question -> answer")
                .expect("signature")
                .demos_from(four_demos()),
            three_field_inputs(),
        ),
    ];
    let mut group = c.benchmark_group("predict_cache_hit");
    for (name, predict, inputs) in &cases {
        // The first call fills the cache; every timed call is a hit.
        time_calls(&runtime, &lm, predict, inputs, 1);
        group.bench_function(*name, |b| b.iter_custom(|iters| time_calls(&runtime, &lm, predict, inputs, iters)));
    }
    group.finish();
    assert_eq!(host.server().request_count(), cases.len(), "every timed call must be a cache hit");
}

fn round_trip(c: &mut Criterion) {
    // Client and server share one thread, so a round trip is CPU work only
    // (no cross-thread wake-ups, whose cost varies from run to run) and the
    // difference of the two benches is the framework's own time.
    let runtime = current_thread();
    let server =
        runtime.block_on(MockServer::builder(arithmetic_responder()).record(true).start()).expect("mock server");
    let provider = OpenAiProvider::new(MODEL).base_url(server.base_url()).api_key("sk-bench");
    let lm = SharedLm::new(LmBuilder::new(provider).no_cache().build().expect("client"));
    let predict = Predict::from_signature("question -> answer").expect("signature");
    let inputs = qa_inputs();

    // The exact body the provider sends, recorded from one call.
    time_calls(&runtime, &lm, &predict, &inputs, 1);
    let body: Value = server.requests().pop().and_then(|r| r.body).expect("one recorded JSON body");
    server.set_recording(false);
    let body = serde_json::to_vec(&body).expect("JSON body");
    let url = format!("{}/chat/completions", server.base_url());
    // async-openai's transport is `ReqwestService::default()`, i.e. `reqwest::Client::new()`.
    let http = reqwest::Client::new();

    let mut group = c.benchmark_group("http_round_trip");
    group.bench_function("raw_reqwest_post", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    black_box(raw_post(&http, &url, &body).await.expect("raw POST"));
                }
                started.elapsed()
            })
        })
    });
    group.bench_function("predict_uncached", |b| {
        b.iter_custom(|iters| time_calls(&runtime, &lm, &predict, &inputs, iters))
    });
    // The difference itself, with the two calls alternating so that drift in
    // machine load hits both alike: the time reported is Σ predict − Σ raw.
    group.bench_function("framework_time_uncached", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(with_lm(lm.clone(), async {
                let (mut raw, mut framework) = (Duration::ZERO, Duration::ZERO);
                for _ in 0..iters {
                    let started = Instant::now();
                    black_box(raw_post(&http, &url, &body).await.expect("raw POST"));
                    let middle = Instant::now();
                    black_box(predict.forward_example(black_box(&inputs), None).await.expect("prediction"));
                    raw += middle - started;
                    framework += middle.elapsed();
                }
                framework.saturating_sub(raw)
            }))
        })
    });
    group.finish();
}

criterion_group!(benches, cache_hits, round_trip);
criterion_main!(benches);
