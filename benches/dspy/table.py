"""Print compare.sh's results (a JSONL file, one run per line) as one
Markdown table: per workload, latency and concurrency, the median of each
side's runs (with the range), the DSPy / Kestrel ratio, HTTP requests the
server received and the score each side got. Standard library only.

    python3 benches/dspy/table.py target/dspy-compare/results.jsonl
"""

import json
import statistics
import sys
from collections import defaultdict

# workload -> (key measured, unit, what it is)
MEASURES = {
    "cache_hit": ("per_call_us", "µs", "Predict call served by the warm in-memory cache"),
    "uncached": ("framework_us", "µs", "uncached Predict call minus a raw POST of the same messages"),
    "evaluate": ("seconds", "s", "Evaluate, {examples:,} examples"),
    "compile": ("seconds", "s", "RandomSearch, {num_candidate_programs} candidates, {train} train / {val} val"),
    "copro": ("seconds", "s", "COPRO, breadth {breadth}, depth {depth}, {train} train"),
}
ORDER = ["cache_hit", "uncached", "evaluate", "compile", "copro"]


def fmt(value, unit):
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:,.1f} µs" if value < 100 else f"{value:,.0f} µs"


def cell(values, unit):
    mid = statistics.median(values)
    if len(values) > 1 and min(values) != max(values):
        return f"{fmt(mid, unit)} ({fmt(min(values), unit)}–{fmt(max(values), unit)})", mid
    return fmt(mid, unit), mid


def main(path):
    runs = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                per_call = r["workload"] in ("cache_hit", "uncached")
                concurrency = 1 if per_call else r["concurrency"]
                runs[(r["workload"], r["latency_ms"], concurrency)].append(r)

    print("| workload | latency | concurrency | Python DSPy 3.4.1 | Kestrel | DSPy / Kestrel | HTTP requests (DSPy / Kestrel) | most in flight (DSPy / Kestrel) | score (DSPy / Kestrel) |")
    print("|---|---|---|---|---|---|---|---|---|")
    keys = sorted(runs, key=lambda k: (ORDER.index(k[0]), k[1], k[2]))
    for workload, latency, concurrency in keys:
        key, unit, label = MEASURES[workload]
        sides = {s: [r for r in runs[(workload, latency, concurrency)] if r["side"] == s] for s in ("dspy", "kestrel")}
        if not sides["dspy"] or not sides["kestrel"]:
            continue
        d_text, d_mid = cell([r[key] for r in sides["dspy"]], unit)
        k_text, k_mid = cell([r[key] for r in sides["kestrel"]], unit)
        # No ratio when a side's runs straddle zero (the difference is below the noise).
        lows = [min(r[key] for r in sides[s]) for s in ("dspy", "kestrel")]
        ratio = f"{d_mid / k_mid:.1f}×" if min(lows) > 0 else "— (within noise)"
        if workload == "uncached":
            extra = lambda rs: f"{statistics.median(r['predict_us'] for r in rs):,.0f} − {statistics.median(r['raw_us'] for r in rs):,.0f}"
            d_text += f" = {extra(sides['dspy'])}"
            k_text += f" = {extra(sides['kestrel'])}"

        def requests(rs):
            counts = sorted({r["http_requests"] for r in rs})
            return f"{counts[0]:,}–{counts[-1]:,}" if len(counts) > 1 else f"{counts[0]:,}"

        def flight_range(rs):
            values = [r["max_in_flight"] for r in rs]
            return f"{min(values)}–{max(values)}" if min(values) != max(values) else str(values[0])

        def score(rs):
            field = "best_score" if workload in ("compile", "copro") else "score"
            values = sorted({r.get(field) for r in rs if r.get(field) is not None})
            return "/".join(str(v) for v in values) or "—"

        if workload in ("evaluate", "compile", "copro"):
            http = f"{requests(sides['dspy'])} / {requests(sides['kestrel'])}"
            scores = f"{score(sides['dspy'])} / {score(sides['kestrel'])}"
            flight = f"{flight_range(sides['dspy'])} / {flight_range(sides['kestrel'])}"
        else:
            http = scores = flight = "—"
        label = label.format(**sides["dspy"][0])
        runs_note = f" ×{len(sides['dspy'])}/{len(sides['kestrel'])}"
        print(
            f"| {label}{runs_note} | {latency} ms | {concurrency} | {d_text} | {k_text} | {ratio} | {http} | {flight} | {scores} |"
        )
    print()
    print(
        "Medians over the runs (range in brackets); ×a/b = runs per side. Per-call rows run one call at a time. "
        "'most in flight': the most requests the server held at once (its range over the runs)."
    )


if __name__ == "__main__":
    main(sys.argv[1])
