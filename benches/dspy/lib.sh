# Shared set-up of the like-for-like drivers (compare.sh, compare_{mipro,gepa,simba}.sh),
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

# run SIDE LATENCY_MS FLAGS...: one compile of an optimizer runner (kestrel:
# $KESTREL; dspy: the array $DSPY) against the server at that latency; each
# side resets and reads the request count itself, around its compile. Its
# RESULT, with latency_ms added, is appended to $RESULTS; a side that prints
# no RESULT stops the script, naming the side and $OUT/stderr.log.
run() {
    local side=$1 latency=$2; shift 2
    local line
    curl -sf "${CONTROL}latency/$latency" > /dev/null
    if [ "$side" = kestrel ]; then
        line=$("$KESTREL" --base-url "$BASE" --control "$CONTROL" --dataset "$DATA" "$@" 2>>"$OUT/stderr.log" | sed -n 's/^RESULT //p') || true
    else
        line=$("${DSPY[@]}" --base-url "$BASE" --control "$CONTROL" --dataset "$DATA" "$@" 2>>"$OUT/stderr.log" | sed -n 's/^RESULT //p') || true
    fi
    [ -n "$line" ] || { echo "$side $* failed; see $OUT/stderr.log" >&2; exit 1; }
    "$PY" -c 'import json, sys
r = json.loads(sys.argv[1]); r["latency_ms"] = int(sys.argv[2]); print(json.dumps(r))' "$line" "$latency" >> "$RESULTS"
    echo "  $side $* @ ${latency} ms: $(tail -n 1 "$RESULTS" | cut -c1-200)" >&2
}
