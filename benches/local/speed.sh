#!/usr/bin/env bash
# Engine speed, like for like: kestrel-local's engine and llama.cpp
# (llama-cpp-python) on the same GGUF files, the same prompts, the same
# thread count, one after the other in one run, under `flock /work/bench.lock`
# when that file exists (the development machine is shared). Prints each
# side's `RESULT {json}` line and appends them to $OUT (JSONL); then the
# embeddings throughput (all-MiniLM-L6-v2).
#
#   LLAMA_PYTHON=/tmp/llama-venv/bin/python benches/local/speed.sh
#
# Environment: LLAMA_PYTHON (a Python with llama-cpp-python; unset or
# missing: Kestrel only), MODELS (default "smollm2 qwen2.5-0.5b"), THREADS
# (default 2: llama.cpp's n_threads and Kestrel's RAYON_NUM_THREADS),
# TOKENS (default 128), REQUANTIZE (default "0 1": Kestrel with the file's
# weights, then with LocalLmOptions::requantize_q8), KERNELS (default "own": the
# engine's own matmul kernels; "own candle" also runs candle's QMatMul,
# LocalLmOptions::candle_kernels, for comparison), KESTREL_MODEL_DIR (default ~/.cache/kestrel/models),
# OUT (default target/local-speed/results.jsonl), LOCK (default /work/bench.lock).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODELS=${MODELS:-smollm2 qwen2.5-0.5b}
THREADS=${THREADS:-2}
TOKENS=${TOKENS:-128}
REQUANTIZE=${REQUANTIZE:-0 1}
KERNELS=${KERNELS:-own}
MODEL_DIR=${KESTREL_MODEL_DIR:-$HOME/.cache/kestrel/models}
OUT=${OUT:-$ROOT/target/local-speed/results.jsonl}
LOCK=${LOCK:-/work/bench.lock}
LLAMA_PY=${LLAMA_PYTHON:-}
mkdir -p "$(dirname "$OUT")"
export RUSTFLAGS=${RUSTFLAGS:-"-C target-cpu=native"}

cd "$ROOT"
echo "building the tests (release, RUSTFLAGS=$RUSTFLAGS)..." >&2
cargo test --release -p kestrel-local --features full --test chat --test embedder --no-run 2>&1 | tail -n 1 >&2

locked() {
    if [ -e "$LOCK" ]; then flock "$LOCK" "$@"; else "$@"; fi
}

run_all() {
    local stamp load
    stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    for model in $MODELS; do
        for requantize in $REQUANTIZE; do
          for kernels in $KERNELS; do
            # requantized weights are all Q8_0: both kernel settings run candle's
            if [ "$kernels" = candle ] && [ "$requantize" = 1 ]; then continue; fi
            load=$(cut -d' ' -f1 /proc/loadavg)
            RAYON_NUM_THREADS=$THREADS KESTREL_BENCH_MODELS=local/$model KESTREL_BENCH_TOKENS=$TOKENS \
                KESTREL_BENCH_REQUANTIZE=$requantize KESTREL_BENCH_CANDLE_KERNELS=$([ "$kernels" = candle ] && echo 1 || echo 0) \
                cargo test --release -q -p kestrel-local --features full --test chat -- --ignored --exact \
                real_models::engine_speed_figures --nocapture 2>/dev/null \
                | sed -n 's/^RESULT //p' \
                | python3 -c "import json,sys; [print(json.dumps({**json.loads(l), 'at': '$stamp', 'load_before': $load, 'rayon_threads': $THREADS})) for l in sys.stdin]"
          done
        done
        if [ -n "$LLAMA_PY" ] && "$LLAMA_PY" -c 'import llama_cpp' 2>/dev/null; then
            gguf=$(ls "$MODEL_DIR/$model"/*.gguf | head -n 1)
            load=$(cut -d' ' -f1 /proc/loadavg)
            "$LLAMA_PY" benches/local/llama_speed.py --model "$gguf" --threads "$THREADS" --tokens "$TOKENS" \
                | sed -n 's/^RESULT //p' \
                | python3 -c "import json,sys; [print(json.dumps({**json.loads(l), 'model': 'local/$model', 'at': '$stamp', 'load_before': $load})) for l in sys.stdin]"
        fi
    done
    RAYON_NUM_THREADS=$THREADS cargo test --release -q -p kestrel-local --features full --test embedder -- --ignored \
        --exact real_minilm_throughput --nocapture 2>/dev/null \
        | sed -n 's/^RESULT //p' \
        | python3 -c "import json,sys; [print(json.dumps({**json.loads(l), 'at': '$stamp'})) for l in sys.stdin]"
}

export -f run_all
export MODELS THREADS TOKENS REQUANTIZE KERNELS MODEL_DIR LLAMA_PY
locked bash -c run_all | tee -a "$OUT"
