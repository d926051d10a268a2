#!/usr/bin/env bash
# Real models, like for like: Python DSPy 3.4.1 and Kestrel on banking77-6
# through ONE llama.cpp server (llama-cpp-python's OpenAI-compatible server)
# serving the same GGUF file, greedy (temperature 0), 256 max tokens, the same
# thread count; Predict zero-shot and BootstrapFewShot(4, 4). Prints one table
# and how many of the dev examples Kestrel sent as the same bytes as DSPy and
# predicted the same.
#
#   LLAMA_PYTHON=/tmp/llama-venv/bin/python DSPY_PYTHON=/tmp/dspy-venv/bin/python \
#   KESTREL_DATA_DIR=../shared/datasets benches/dspy/compare_local.sh
#
# Environment: LLAMA_PYTHON (a Python with `llama-cpp-python[server]`, see
# README.md), DSPY_PYTHON (dspy 3.4.1), KESTREL_DATA_DIR (holds
# banking77/{train,test}.jsonl), KESTREL_MODEL_DIR (default ~/.cache/kestrel/models,
# filled by `cargo xtask fetch-models`), MODELS (default "qwen2.5-0.5b smollm2"),
# THREADS (default 2: the server's n_threads), OPTIMIZERS (default "none bootstrap"),
# PORT (default 8765), OUT (default target/local-compare), XTASK (an xtask binary
# to use instead of building the debug one, e.g. target/release/xtask).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LLAMA_PY=${LLAMA_PYTHON:-/tmp/llama-venv/bin/python}
PY=${DSPY_PYTHON:-python3}
MODEL_DIR=${KESTREL_MODEL_DIR:-$HOME/.cache/kestrel/models}
MODELS=${MODELS:-qwen2.5-0.5b smollm2}
THREADS=${THREADS:-2}
OPTIMIZERS=${OPTIMIZERS:-none bootstrap}
PORT=${PORT:-8765}
OUT=${OUT:-$ROOT/target/local-compare}
DATA=${KESTREL_DATA_DIR:?set KESTREL_DATA_DIR to the folder holding banking77/}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

"$PY" -c 'import dspy; assert dspy.__version__ == "3.4.1", dspy.__version__' \
    || { echo "DSPY_PYTHON=$PY must have dspy 3.4.1" >&2; exit 1; }
"$LLAMA_PY" -c 'import llama_cpp, llama_cpp.server' \
    || { echo "LLAMA_PYTHON=$LLAMA_PY must have llama-cpp-python[server] (see benches/dspy/README.md)" >&2; exit 1; }
LLAMA_VERSION=$("$LLAMA_PY" -c 'import llama_cpp; print(llama_cpp.__version__)')
echo "llama-cpp-python $LLAMA_VERSION, dspy 3.4.1, $THREADS threads" >&2

if [ -z "${XTASK:-}" ]; then
    echo "building xtask..." >&2
    (cd "$ROOT" && cargo build --quiet -p xtask)
    XTASK=$ROOT/target/debug/xtask
fi
BASE=http://127.0.0.1:$PORT/v1
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true' EXIT

for model in $MODELS; do
    gguf=$(ls "$MODEL_DIR/$model"/*.gguf 2>/dev/null | head -n 1)
    [ -n "$gguf" ] || { echo "no GGUF in $MODEL_DIR/$model: cargo xtask fetch-models $model" >&2; exit 1; }
    echo "== $model ($gguf)" >&2
    # the server without llama.cpp's extra (AMX / repacked) buffer types, which
    # segfault on the development VM: benches/local/llama_no_extra_bufts.py
    "$LLAMA_PY" "$ROOT/benches/local/llama_no_extra_bufts.py" --model "$gguf" --model_alias "$model" --host 127.0.0.1 --port "$PORT" \
        --n_threads "$THREADS" --n_threads_batch "$THREADS" --n_ctx 4096 --seed 0 \
        > "$OUT/server-$model.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 300); do
        curl -sf "$BASE/models" > /dev/null 2>&1 && break
        sleep 0.2
    done
    curl -sf "$BASE/models" > /dev/null || { echo "llama.cpp server did not start:" >&2; tail "$OUT/server-$model.log" >&2; exit 1; }

    for optimizer in $OPTIMIZERS; do
        echo "  dspy $optimizer" >&2
        line=$(cd "$ROOT/benches/dspy" && "$PY" local_dspy.py --base-url "$BASE" --model "$model" --data-dir "$DATA" \
            --optimizer "$optimizer" --predictions "$OUT/dspy-$model-$optimizer.jsonl" 2>>"$OUT/stderr.log" \
            | sed -n 's/^RESULT //p')
        [ -n "$line" ] || { echo "dspy $model $optimizer failed; see $OUT/stderr.log" >&2; exit 1; }
        echo "$line" >> "$RESULTS"
    done

    echo "  kestrel" >&2
    opts=$(echo "$OPTIMIZERS" | tr ' ' ',')
    rm -rf "$OUT/cache-$model" "$OUT/kestrel"
    "$XTASK" bench-compile --dataset banking77-6 --lm "openai/$model" --api-base "$BASE" --optimizer "$opts" \
        --max-bootstrapped-demos 4 --max-labeled-demos 4 --concurrency 1 --cache-dir "$OUT/cache-$model" \
        --predictions "$OUT/kestrel" --json "$OUT/kestrel-$model.json" 2>>"$OUT/stderr.log" | tee -a "$OUT/kestrel.txt" >&2
    "$PY" - "$OUT/kestrel-$model.json" "$model" >> "$RESULTS" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
for row in report["rows"]:
    print(json.dumps({
        "side": "kestrel", "model": sys.argv[2], "optimizer": row["optimizer"], "dev": report["settings"]["dev"],
        "correct": round(row["score_after"] * report["settings"]["dev"] / 100), "accuracy": row["score_after"],
        "chat_parse_failures": row["json_fallbacks"], "parse_failures": row["parse_failures"], "demos": row["demos"],
        "prompt_tokens": row["eval"]["prompt_tokens"], "completion_tokens": row["eval"]["completion_tokens"],
        "compile_seconds": round(row["compile_seconds"], 2), "eval_seconds": round(row["eval_seconds"], 2),
    }))
EOF
    for optimizer in $OPTIMIZERS; do
        compare=$("$PY" "$ROOT/benches/dspy/compare_predictions.py" "$OUT/dspy-$model-$optimizer.jsonl" \
            "$OUT/kestrel/openai_$model/predict-$optimizer.jsonl" | sed -n 's/^COMPARE //p')
        echo "{\"side\": \"compare\", \"model\": \"$model\", \"optimizer\": \"$optimizer\", \"compare\": $compare}" >> "$RESULTS"
    done
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=
done

"$PY" - "$RESULTS" "$LLAMA_VERSION" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"banking77-6, llama-cpp-python {sys.argv[2]} server, temperature 0, max_tokens 256")
print(f"{'model':<14} {'side':<8} {'optimizer':<10} {'correct':>8} {'acc %':>6} {'chat parse fail':>15} {'failed':>6} {'eval s':>7} {'compile s':>9}")
for r in rows:
    if r["side"] == "compare":
        continue
    print(f"{r['model']:<14} {r['side']:<8} {r['optimizer']:<10} {r['correct']:>5}/{r['dev']:<2} {r['accuracy']:>6.1f} "
          f"{r['chat_parse_failures']:>15} {r['parse_failures']:>6} {r['eval_seconds']:>7.1f} {r['compile_seconds']:>9.1f}")
for r in rows:
    if r["side"] == "compare":
        c = r["compare"]
        print(f"{r['model']} {r['optimizer']}: Kestrel sent DSPy's bytes on {c['same_request_bytes']}/{c['examples']}, "
              f"same reply on {c['same_chat_reply']}, same label on {c['same_label']} "
              f"({c['same_label_where_same_bytes']} where the bytes are the same)")
EOF
