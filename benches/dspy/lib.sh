# Shared set-up of the like-for-like drivers (compare.sh, compare_mipro.sh),
# sourced by them: `start_bench BIN` checks that $PY has DSPy 3.4.1, builds
# xtask and the Kestrel runner BIN in release, writes the shared dataset to
# $OUT/data.jsonl, starts one `cargo xtask serve-sim` (stopped on exit) and
# sets XTASK, KESTREL, DATA, SERVER, BASE and CONTROL.

start_bench() {
    local bin=$1
    "$PY" -c 'import dspy, sys; assert dspy.__version__ == "3.4.1", dspy.__version__' \
        || { echo "DSPY_PYTHON=$PY must have dspy 3.4.1 (see benches/dspy/README.md)" >&2; exit 1; }

    echo "building (release)..." >&2
    (cd "$ROOT" && cargo build --release --quiet -p xtask -p kestrel-benches --bin xtask --bin "$bin")
    XTASK=$ROOT/target/release/xtask
    KESTREL=$ROOT/target/release/$bin

    DATA=$OUT/data.jsonl
    "$XTASK" serve-sim --write-dataset "$DATA" --examples 1200 --seed 0 >&2

    "$XTASK" serve-sim > "$OUT/serve.log" 2>&1 &
    SERVER=$!
    trap 'kill "$SERVER" 2>/dev/null || true' EXIT
    for _ in $(seq 100); do
        grep -q '^control on ' "$OUT/serve.log" 2>/dev/null && break
        sleep 0.1
    done
    BASE=$(sed -n 's/^listening on //p' "$OUT/serve.log")
    CONTROL=$(sed -n 's/^control on //p' "$OUT/serve.log")
    [ -n "$BASE" ] && [ -n "$CONTROL" ] || { echo "serve-sim did not start:" >&2; cat "$OUT/serve.log" >&2; exit 1; }
    echo "serve-sim: $BASE (control $CONTROL)" >&2
}
