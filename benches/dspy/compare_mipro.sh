#!/usr/bin/env bash
# MIPROv2 like for like: Python DSPy 3.4.1 (mipro_dspy.py) and Kestrel
# (benches/src/bin/mipro_compare.rs), auto="light" on ChainOfThought
# `question -> answer`, 100 train, against ONE simulated LM server
# (`cargo xtask serve-sim`, release build), back to back at the same
# concurrency and latency; prints one table.
#
#   DSPY_PYTHON=/path/to/venv/bin/python benches/dspy/compare_mipro.sh
#
# Environment: DSPY_PYTHON (default python3), OUT (default target/dspy-compare-mipro),
# CONCURRENCY (space-separated num_threads values, default "16 64"),
# TRIAL_CONCURRENCY (Kestrel's extra trials in flight, beside the DSPy-like 1; default 4),
# LATENCIES (default "50 1000"; 1,000 ms takes ~3 minutes per concurrency value),
# SEEDS (seeds of the seed sweep at 0 ms: DSPy, Kestrel at trial concurrency 1 and TRIAL_CONCURRENCY;
# default "0 1 2 3 4 5 6 7 8 9", "" to skip). About 8 minutes in all with the defaults on 2 cores.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${DSPY_PYTHON:-python3}
OUT=${OUT:-$ROOT/target/dspy-compare-mipro}
CONCURRENCY=${CONCURRENCY:-16 64}
TRIAL_CONCURRENCY=${TRIAL_CONCURRENCY:-4}
LATENCIES=${LATENCIES:-50 1000}
SEEDS=${SEEDS-0 1 2 3 4 5 6 7 8 9}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

# shellcheck source=benches/dspy/lib.sh
source "$ROOT/benches/dspy/lib.sh"
start_bench mipro_compare
DSPY=("$PY" "$ROOT/benches/dspy/mipro_dspy.py")

# `run SIDE LATENCY_MS FLAGS...` (lib.sh): one compile, its RESULT appended to results.jsonl.

for latency in $LATENCIES; do
    for c in $CONCURRENCY; do
        run dspy "$latency" --concurrency "$c"
        run kestrel "$latency" --concurrency "$c" --trial-concurrency 1
        [ "$TRIAL_CONCURRENCY" = 1 ] || run kestrel "$latency" --concurrency "$c" --trial-concurrency "$TRIAL_CONCURRENCY"
    done
done
for seed in $SEEDS; do
    run dspy 0 --concurrency 16 --seed "$seed"
    for t in 1 "$TRIAL_CONCURRENCY"; do
        run kestrel 0 --concurrency 16 --trial-concurrency "$t" --seed "$seed"
    done
done

{
    echo "machine: $(nproc) cores, $(uname -sm); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty)')"
    echo "command: DSPY_PYTHON=$PY CONCURRENCY=\"$CONCURRENCY\" TRIAL_CONCURRENCY=$TRIAL_CONCURRENCY LATENCIES=\"$LATENCIES\" SEEDS=\"$SEEDS\" benches/dspy/compare_mipro.sh"
    "$PY" - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print()
print("| latency | concurrency | side | trial conc. | seed | HTTP requests | LM calls | trials (distinct minibatch sets) | compile s | best val | dev score |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    best = r.get("best_score")
    print(f"| {r['latency_ms']} ms | {r['concurrency']} | {r['side']} | {r.get('trial_concurrency', 1)} | {r['seed']} "
          f"| {r['requests']} | {r['lm_calls']} | {r['trials']} ({r['distinct_minibatch_params']}/{r['minibatch_trials']}) | {r['seconds']:.2f} "
          f"| {'-' if best is None else f'{best:.1f}'} | {r['dev_score']:.1f} |")
EOF
} | tee "$OUT/table.md"
