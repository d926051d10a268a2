#!/usr/bin/env bash
# SIMBA like for like: Python DSPy 3.4.1 (simba_dspy.py) and Kestrel
# (benches/src/bin/simba_compare.rs), SIMBA's defaults on ChainOfThought
# `question -> answer`, 100 train / 100 dev, against ONE simulated LM server
# (`cargo xtask serve-sim`, release build), back to back at the same
# concurrency and latency; prints one table.
#
#   DSPY_PYTHON=/path/to/venv/bin/python benches/dspy/compare_simba.sh
#
# Environment: DSPY_PYTHON (default python3), OUT (default target/dspy-compare-simba),
# CONCURRENCY (space-separated num_threads values, default "16"),
# LATENCIES (default "50 1000"), SEEDS (SIMBA seeds, default "0").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${DSPY_PYTHON:-python3}
OUT=${OUT:-$ROOT/target/dspy-compare-simba}
CONCURRENCY=${CONCURRENCY:-16}
LATENCIES=${LATENCIES:-50 1000}
SEEDS=${SEEDS:-0}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

# shellcheck source=benches/dspy/lib.sh
source "$ROOT/benches/dspy/lib.sh"
start_bench simba_compare
DSPY=("$PY" "$ROOT/benches/dspy/simba_dspy.py")

# `run SIDE LATENCY_MS FLAGS...` (lib.sh): one compile, its RESULT appended to results.jsonl.

for latency in $LATENCIES; do
    for c in $CONCURRENCY; do
        for seed in $SEEDS; do
            run dspy "$latency" --concurrency "$c" --seed "$seed"
            run kestrel "$latency" --concurrency "$c" --seed "$seed"
        done
    done
done

{
    echo "machine: $(nproc) cores, $(uname -sm); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty)')"
    echo "command: DSPY_PYTHON=$PY CONCURRENCY=\"$CONCURRENCY\" LATENCIES=\"$LATENCIES\" SEEDS=\"$SEEDS\" benches/dspy/compare_simba.sh"
    "$PY" - "$RESULTS" <<'PYEOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print()
print("| latency | concurrency | side | seed | HTTP requests | LM calls | compile s | best train | dev score | dev s |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    best = r.get("best_score")
    print(f"| {r['latency_ms']} ms | {r['concurrency']} | {r['side']} | {r['seed']} | {r['requests']} | {r['lm_calls']} "
          f"| {r['seconds']:.2f} | {'-' if best is None else f'{best:.3f}'} | {r['dev_score']:.1f} | {r['dev_seconds']:.2f} |")
PYEOF
} | tee "$OUT/table.md"
