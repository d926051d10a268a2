#!/usr/bin/env bash
# GEPA like for like: Python DSPy 3.4.1 (gepa_dspy.py) and Kestrel
# (benches/src/bin/gepa_compare.rs), auto="light" on ChainOfThought
# `question -> answer`, train 100 / val 100 / dev 100, the feedback metric
# both sides build from the dataset's `how`, against ONE simulated LM server
# (`cargo xtask serve-sim`, release build), back to back at the same
# concurrency and latency; prints one table.
#
#   DSPY_PYTHON=/path/to/venv/bin/python benches/dspy/compare_gepa.sh
#
# Environment: DSPY_PYTHON (default python3), OUT (default target/dspy-compare-gepa),
# CONCURRENCY (space-separated num_threads values, default "16"),
# LATENCIES (default "50 1000"), SEED (default 0).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${DSPY_PYTHON:-python3}
OUT=${OUT:-$ROOT/target/dspy-compare-gepa}
CONCURRENCY=${CONCURRENCY:-16}
LATENCIES=${LATENCIES:-50 1000}
SEED=${SEED:-0}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

# shellcheck source=benches/dspy/lib.sh
source "$ROOT/benches/dspy/lib.sh"
start_bench gepa_compare
# GEPA's metric gives feedback: the dataset carries each problem's `how`.
DATA=$OUT/data-feedback.jsonl
"$XTASK" serve-sim --write-dataset "$DATA" --examples 1200 --seed 0 --with-feedback >&2
DSPY=("$PY" "$ROOT/benches/dspy/gepa_dspy.py")

# `run SIDE LATENCY_MS FLAGS...` (lib.sh): one compile, its RESULT appended to results.jsonl.

for latency in $LATENCIES; do
    for c in $CONCURRENCY; do
        run dspy "$latency" --concurrency "$c" --seed "$SEED"
        run kestrel "$latency" --concurrency "$c" --seed "$SEED" --no-speculate
        run kestrel "$latency" --concurrency "$c" --seed "$SEED"
    done
done

{
    echo "machine: $(nproc) cores, $(uname -sm); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty)')"
    echo "command: DSPY_PYTHON=$PY CONCURRENCY=\"$CONCURRENCY\" LATENCIES=\"$LATENCIES\" SEED=$SEED benches/dspy/compare_gepa.sh"
    "$PY" - "$RESULTS" <<'PYEOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print()
print("| latency | concurrency | side | iterations in flight | HTTP requests | LM calls | metric calls | candidates | compile s | best val | dev score |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    flight = "1" if r["side"] == "dspy" or not r.get("speculate", False) else "speculated"
    print(f"| {r['latency_ms']} ms | {r['concurrency']} | {r['side']} | {flight} | {r['requests']} | {r['lm_calls']} "
          f"| {r['metric_calls']} | {r['candidates']} | {r['seconds']:.2f} | {r['best_val']:.1f} | {r['dev_score']:.1f} |")
PYEOF
} | tee "$OUT/table.md"
