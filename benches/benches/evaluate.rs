//! `Evaluate` of a `question -> answer` Predict program over 1,000 examples
//! against the testkit's mock server, uncached, through `LmClient` +
//! `OpenAiProvider`, at 0 ms and at 100 ms simulated latency, with
//! concurrency 8, 128 and 1,024.
//!
//! The client runs on a multi-thread runtime with 2 workers; the server on a
//! runtime thread of its own. At 100 ms the ideal wall time is
//! `1,000 × 0.1 s / concurrency`; targets: within 10% at 128, within 25% at
//! 1,024 (see `docs/PERFORMANCE.md`).
//!
//! Every case takes 10 samples of one evaluation each (flat sampling). The
//! one slow case, 100 ms at concurrency 8 (12.5 s per evaluation, about
//! 2.5 minutes in all), runs only with `KESTREL_BENCH_FULL=1`; so does it in
//! test mode (`cargo test --benches`, where every other case runs once).
//! Every evaluation is checked: all 1,000 examples scored, all correct.
//!
//! For reference, `raw_http_1000_*` sends the same 1,000 request bodies
//! with a bare `reqwest::Client` (no Kestrel) at concurrency 128 and 1,024:
//! the floor the HTTP stack and the in-process server set on this machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures::{StreamExt, stream};
use kestrel_benches::{
    FULL_ENV, MockHost, arithmetic_devset, criterion_test_mode, full_run, http_lm, raw_post, runtime,
};
use kestrel_core::Example;
use kestrel_eval::Evaluate;
use kestrel_eval::metrics::AnswerExactMatch;
use kestrel_lm::cache::CacheConfig;
use kestrel_lm::with_lm;
use kestrel_modules::Predict;

/// Examples per evaluation.
const EXAMPLES: usize = 1_000;
/// Simulated latencies, in milliseconds.
const LATENCIES_MS: [u64; 2] = [0, 100];
/// Examples in flight.
const CONCURRENCY: [usize; 3] = [8, 128, 1_024];
/// Evaluations above this ideal wall time are the slow cases.
const SLOW: Duration = Duration::from_secs(5);

fn ideal(latency: Duration, concurrency: usize) -> Duration {
    latency.mul_f64(EXAMPLES as f64 / concurrency as f64)
}

fn evaluate(c: &mut Criterion) {
    let runtime = runtime(2).expect("runtime");
    let host = MockHost::start(Duration::ZERO).expect("mock server");
    let lm = http_lm(&host, CacheConfig::disabled()).expect("client");
    let devset: Arc<[Example]> = arithmetic_devset(EXAMPLES).into();
    let program = Predict::from_signature("question -> answer").expect("signature");
    let metric = AnswerExactMatch::new();
    let run_slow = full_run();

    for latency_ms in LATENCIES_MS {
        let latency = Duration::from_millis(latency_ms);
        host.server().set_latency(latency);
        let mut group = c.benchmark_group(format!("evaluate_1000_latency_{latency_ms}ms"));
        group.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(EXAMPLES as u64));
        for concurrency in CONCURRENCY {
            let ideal = ideal(latency, concurrency);
            if ideal > SLOW && !run_slow {
                let mode = if criterion_test_mode() { "test" } else { "bench" };
                eprintln!(
                    "skipping evaluate_1000_latency_{latency_ms}ms/concurrency/{concurrency} in {mode} mode \
                     ({:.1} s per evaluation); set {FULL_ENV}=1 to run it",
                    ideal.as_secs_f64()
                );
                continue;
            }
            // Ten samples of one evaluation each, plus a warm-up evaluation.
            group.warm_up_time(ideal.max(Duration::from_millis(500)));
            group.measurement_time((ideal * 11).max(Duration::from_secs(3)));
            group.bench_with_input(BenchmarkId::new("concurrency", concurrency), &concurrency, |b, &concurrency| {
                b.iter_custom(|iters| {
                    runtime.block_on(with_lm(lm.clone(), async {
                        let mut elapsed = Duration::ZERO;
                        for _ in 0..iters {
                            let eval =
                                Evaluate::new(Arc::clone(&devset)).concurrency(concurrency).expect("concurrency >= 1");
                            let started = Instant::now();
                            let result = eval.run(&program, &metric).await.expect("evaluation");
                            elapsed += started.elapsed();
                            assert!(result.is_complete() && result.errors == 0, "{result}");
                            assert_eq!(result.score, 100.0, "{result}");
                        }
                        elapsed
                    }))
                })
            });
        }
        group.finish();
    }
}

/// The HTTP floor of the same workload: 1,000 raw `reqwest` POSTs of a
/// recorded request body (no Kestrel at all), at most `concurrency` in
/// flight, through the same client runtime and mock server.
fn raw_http(c: &mut Criterion) {
    let runtime = runtime(2).expect("runtime");
    let host = MockHost::start(Duration::ZERO).expect("mock server");
    let lm = http_lm(&host, CacheConfig::disabled()).expect("client");
    let program = Predict::from_signature("question -> answer").expect("signature");
    let devset = arithmetic_devset(EXAMPLES);
    // One recorded body per example, as Evaluate would send them.
    host.server().set_recording(true);
    runtime
        .block_on(with_lm(
            lm,
            Evaluate::new(devset).concurrency(64).expect("64 >= 1").run(&program, &AnswerExactMatch::new()),
        ))
        .expect("evaluation");
    let bodies: Vec<Vec<u8>> = host
        .server()
        .requests()
        .into_iter()
        .filter_map(|r| r.body)
        .map(|body| serde_json::to_vec(&body).expect("JSON body"))
        .collect();
    host.server().set_recording(false);
    assert_eq!(bodies.len(), EXAMPLES);
    let url = format!("{}/chat/completions", host.server().base_url());
    let http = reqwest::Client::new();

    for latency_ms in LATENCIES_MS {
        let latency = Duration::from_millis(latency_ms);
        host.server().set_latency(latency);
        let mut group = c.benchmark_group(format!("raw_http_1000_latency_{latency_ms}ms"));
        group.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(EXAMPLES as u64));
        for concurrency in [128, 1_024] {
            let ideal = ideal(latency, concurrency);
            group.warm_up_time(ideal.max(Duration::from_millis(500)));
            group.measurement_time((ideal * 11).max(Duration::from_secs(3)));
            group.bench_with_input(BenchmarkId::new("concurrency", concurrency), &concurrency, |b, &concurrency| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let started = Instant::now();
                        for _ in 0..iters {
                            let posts = stream::iter(&bodies)
                                .map(|body| async { raw_post(&http, &url, body).await.expect("raw POST") })
                                .buffer_unordered(concurrency);
                            assert_eq!(posts.count().await, EXAMPLES);
                        }
                        started.elapsed()
                    })
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, evaluate, raw_http);
criterion_main!(benches);
