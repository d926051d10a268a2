//! The bounded soak (issue 13, item 5) run by `cargo test`: 10,000 LM calls
//! through `Evaluate` at 512 in flight against the mock server with 5% of
//! the requests faulted (eleven kinds). Every example must end scored or
//! with a typed error, none lost, duplicated or paid twice, every fault kind
//! injected, and no descriptor left open. The full 100,000-call run is the
//! `soak` binary (docs/RELIABILITY.md).

use std::time::Duration;

use kestrel_benches::soak::{self, KINDS, SoakConfig};

#[test]
fn ten_thousand_faulty_calls_lose_nothing() {
    // A longer latency and timeout than the binary's: a loaded CI machine
    // must neither keep requests from piling up nor time out a normal
    // request (a timed-out request the server did answer would count as
    // paid twice).
    let config = SoakConfig {
        examples: 10_000,
        latency: Duration::from_millis(200),
        timeout: Duration::from_secs(3),
        ..SoakConfig::default()
    };
    let report = soak::run(&config).expect("the soak runs");
    println!("{}", report.markdown());
    assert_eq!(report.problems(), Vec::<String>::new());
    for (kind, count) in KINDS.iter().zip(report.faults) {
        assert!(count > 0, "no `{kind}` fault was injected");
    }
    let rate = report.total_faults() as f64 / report.requests as f64;
    assert!((0.035..0.065).contains(&rate), "fault rate {rate}");
    // 401 and 400 are not retried: those examples end as typed errors; the
    // retryable kinds recover.
    assert!(report.errors.get("Auth").copied().unwrap_or(0) > 0);
    assert!(report.scored > 9_000, "{} scored", report.scored);
    assert!(report.max_in_flight > 256, "only {} in flight", report.max_in_flight);
}
