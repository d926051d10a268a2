#!/usr/bin/env bash
# Like-for-like comparison of Kestrel with Python DSPy 3.4.1: one simulated
# LM server (`cargo xtask serve-sim`, release build), both sides run back to
# back on every workload at the same latency and concurrency, alternating
# which side goes first, REPEATS times; prints one table (benches/dspy/table.py).
#
#   DSPY_PYTHON=/path/to/venv/bin/python benches/dspy/compare.sh
#
# Environment: DSPY_PYTHON (default: python3 on PATH; see README.md for the
# venv), REPEATS (default 3), OUT (default target/dspy-compare),
# QUICK=1 (small sizes: checks the set-up in a few seconds, figures meaningless),
# SLOW=1 (adds RandomSearch at 1,000 ms latency, about 3.5 more minutes per repeat, and COPRO at
# 1,000 ms, about 5 more minutes), COPRO=0 (skips the COPRO workload), COPRO_ONLY=1 (runs only the
# COPRO workload), COPRO_CONCURRENCY (default "16 128": num_threads on both sides).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${DSPY_PYTHON:-python3}
REPEATS=${REPEATS:-3}
OUT=${OUT:-$ROOT/target/dspy-compare}
QUICK=${QUICK:-0}
SLOW=${SLOW:-0}
COPRO=${COPRO:-1}
COPRO_ONLY=${COPRO_ONLY:-0}
COPRO_CONCURRENCY=${COPRO_CONCURRENCY:-16 128}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

# shellcheck source=benches/dspy/lib.sh
source "$ROOT/benches/dspy/lib.sh"
start_bench dspy_compare
DSPY=("$PY" "$ROOT/benches/dspy/dspy_bench.py")

control() { curl -sf "${CONTROL}$1"; }

# run SIDE LATENCY_MS FLAGS...: one run, its RESULT merged with the server's
# request count and the settings, appended to results.jsonl.
run() {
    local side=$1 latency=$2; shift 2
    local line
    control "latency/$latency" > /dev/null
    control reset > /dev/null
    if [ "$side" = kestrel ]; then
        line=$("$KESTREL" --base-url "$BASE" --dataset "$DATA" "$@" 2>>"$OUT/stderr.log" | sed -n 's/^RESULT //p')
    else
        line=$("${DSPY[@]}" --base-url "$BASE" --dataset "$DATA" "$@" 2>>"$OUT/stderr.log" | sed -n 's/^RESULT //p')
    fi
    [ -n "$line" ] || { echo "$side $* failed; see $OUT/stderr.log" >&2; exit 1; }
    local stats
    stats=$(control stats)
    "$PY" -c 'import json, sys
r = json.loads(sys.argv[1]); s = json.loads(sys.argv[2])
r.update(latency_ms=int(sys.argv[3]), http_requests=s["requests"], max_in_flight=s["max_in_flight"])
print(json.dumps(r))' "$line" "$stats" "$latency" >> "$RESULTS"
    echo "  $side $* @ ${latency} ms: $(tail -n 1 "$RESULTS" | cut -c1-150)" >&2
}

# pair REPEAT LATENCY_MS FLAGS...: both sides, the first one alternating by repeat.
pair() {
    local repeat=$1; shift
    if [ $((repeat % 2)) -eq 0 ]; then run kestrel "$@"; run dspy "$@"; else run dspy "$@"; run kestrel "$@"; fi
}

if [ "$QUICK" = 1 ]; then
    HIT_K=(--iterations 200 --samples 3); HIT_D=(--iterations 50 --samples 3)
    UNC_K=(--iterations 100 --samples 3); UNC_D=(--iterations 30 --samples 3)
    EVAL=(--examples 100); COMPILE=(--train 20 --val 20 --candidates 2)
    COPRO_FLAGS=(--train 20 --breadth 4 --depth 2)
else
    HIT_K=(--iterations 20000 --samples 5); HIT_D=(--iterations 2000 --samples 5)
    UNC_K=(--iterations 2000 --samples 5); UNC_D=(--iterations 300 --samples 5)
    EVAL=(--examples 1000); COMPILE=(--train 100 --val 100 --candidates 8)
    # DSPy's COPRO defaults; num_threads (eval_kwargs) = Kestrel's concurrency.
    COPRO_FLAGS=(--train 100 --breadth 10 --depth 3)
fi

for r in $(seq 0 $((REPEATS - 1))); do
    echo "repeat $((r + 1)) of $REPEATS" >&2
    if [ "$COPRO" = 1 ]; then
        for c in $COPRO_CONCURRENCY; do pair "$r" 50 --workload copro --concurrency "$c" "${COPRO_FLAGS[@]}"; done
        if [ "$SLOW" = 1 ]; then
            for c in $COPRO_CONCURRENCY; do pair "$r" 1000 --workload copro --concurrency "$c" "${COPRO_FLAGS[@]}"; done
        fi
    fi
    if [ "$COPRO_ONLY" = 1 ]; then continue; fi
    # Per-call overhead: the two sides need different iteration counts for similar run times.
    run kestrel 0 --workload cache_hit "${HIT_K[@]}"
    run dspy 0 --workload cache_hit "${HIT_D[@]}"
    run kestrel 0 --workload uncached "${UNC_K[@]}"
    run dspy 0 --workload uncached "${UNC_D[@]}"
    for c in 16 128; do pair "$r" 0 --workload evaluate --concurrency "$c" "${EVAL[@]}"; done
    for c in 16 128; do pair "$r" 100 --workload evaluate --concurrency "$c" "${EVAL[@]}"; done
    for c in 16 64; do pair "$r" 50 --workload compile --concurrency "$c" "${COMPILE[@]}"; done
    if [ "$SLOW" = 1 ]; then
        for c in 16 64; do pair "$r" 1000 --workload compile --concurrency "$c" "${COMPILE[@]}"; done
    fi
done

{
    echo "machine: $(nproc) cores, $(uname -sm); load average before the table: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty)')"
    echo "command: DSPY_PYTHON=$PY REPEATS=$REPEATS QUICK=$QUICK SLOW=$SLOW COPRO=$COPRO COPRO_ONLY=$COPRO_ONLY COPRO_CONCURRENCY=\"$COPRO_CONCURRENCY\" benches/dspy/compare.sh"
    "$PY" "$ROOT/benches/dspy/table.py" "$RESULTS"
} | tee "$OUT/table.md"
