"""Python DSPy side of the like-for-like comparison (see README.md here).

Runs one workload with DSPy 3.4.1 against an OpenAI-compatible server
(`cargo xtask serve-sim`) and prints one line `RESULT {json}`. The Kestrel
side is `benches/src/bin/dspy_compare.rs`, which takes the same flags and
prints the same keys, so `compare.sh` can put both in one table.

Workloads (all on `question -> answer` with dspy.Predict, model
`openai/gpt-4o-mini` so the price lookup is a table hit on both sides):

- cache_hit: a call served by DSPy's warm in-memory cache (disk cache off).
- uncached: an uncached call and a raw httpx POST of the same messages,
  alternating; reports both means and the difference.
- evaluate: dspy.Evaluate over the first --examples examples, num_threads =
  --concurrency, answer_exact_match, cache off.
- compile: BootstrapFewShotWithRandomSearch, --candidates candidate
  programs, train = examples[0:--train], val = the next --val, num_threads =
  --concurrency, memory cache only (fresh), disk cache off.
- copro: COPRO(breadth=--breadth, depth=--depth, init_temperature=1.4), the
  prompt model = the task LM, train = examples[0:--train],
  eval_kwargs={"num_threads": --concurrency}, memory cache only (fresh),
  disk cache off; reports the best candidate's train score and instruction.
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True, help="OpenAI base URL, e.g. http://127.0.0.1:PORT/v1")
    p.add_argument("--workload", required=True, choices=["cache_hit", "uncached", "evaluate", "compile", "copro"])
    p.add_argument("--dataset", help="JSONL of {question, answer} (cargo xtask serve-sim --write-dataset)")
    p.add_argument("--concurrency", type=int, default=16, help="num_threads")
    p.add_argument("--examples", type=int, default=1000, help="evaluate: examples")
    p.add_argument("--train", type=int, default=100)
    p.add_argument("--val", type=int, default=100)
    p.add_argument("--candidates", type=int, default=8, help="num_candidate_programs")
    p.add_argument("--breadth", type=int, default=10, help="copro: breadth")
    p.add_argument("--depth", type=int, default=3, help="copro: depth")
    p.add_argument("--iterations", type=int, default=2000, help="cache_hit / uncached: calls per sample")
    p.add_argument("--samples", type=int, default=5, help="cache_hit / uncached: samples (the median is reported)")
    return p.parse_args()


def configure(args, *, memory_cache):
    import dspy

    # Disk cache off everywhere; the memory cache only where the workload needs it.
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=memory_cache)
    lm = dspy.LM(
        "openai/gpt-4o-mini",
        api_base=args.base_url,
        api_key="sk-bench",
        cache=memory_cache,
    )
    dspy.configure(lm=lm)
    return dspy, lm


@contextlib.contextmanager
def stdout_to_stderr():
    """DSPy prints its progress to stdout; keep stdout for the RESULT line."""
    real_stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stdout = real_stdout


def load(path):
    import dspy

    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [dspy.Example(question=r["question"], answer=r["answer"]).with_inputs("question") for r in rows]


def runner_parser(doc, *, dataset_help="JSONL of {question, answer} (cargo xtask serve-sim --write-dataset)", seed=0):
    """The flags every optimizer runner (mipro/gepa/simba_dspy.py) shares with its
    Kestrel twin; each runner adds its own."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--base-url", required=True, help="OpenAI base URL, e.g. http://127.0.0.1:PORT/v1")
    p.add_argument("--control", help="serve-sim's control URL, e.g. http://127.0.0.1:PORT/")
    p.add_argument("--dataset", required=True, help=dataset_help)
    p.add_argument("--concurrency", type=int, default=16, help="num_threads")
    p.add_argument("--train", type=int, default=100)
    p.add_argument("--dev", type=int, default=100)
    p.add_argument("--seed", type=int, default=seed)
    return p


def timed_exact_match(program, devset, num_threads):
    """dspy.Evaluate with answer_exact_match over `devset`: (result, seconds)."""
    import dspy

    evaluator = dspy.Evaluate(
        devset=devset,
        metric=dspy.evaluate.answer_exact_match,
        num_threads=num_threads,
        display_progress=False,
        display_table=False,
    )
    start = time.perf_counter()
    result = evaluator(program)
    return result, time.perf_counter() - start


def control(base, route):
    """GET serve-sim's control port `{base}{route}` and parse its JSON."""
    import urllib.request

    with urllib.request.urlopen(base.rstrip("/") + "/" + route, timeout=10) as response:
        return json.loads(response.read())


def server_lm(args):
    """The optimizer runners' LM: the server's model with a fresh memory cache
    and the disk cache off, configured as DSPy's default LM."""
    import dspy

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    lm = dspy.LM("openai/gpt-4o-mini", api_base=args.base_url, api_key="sk-bench", cache=True)
    dspy.configure(lm=lm)
    return lm


def runner_main(args, run, workload, **extra):
    """An optimizer runner's main: quiet LiteLLM, the bundled price table (never
    fetched over the network), `run(args)`, then one `RESULT {json}` line."""
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "true"
    import dspy

    result = run(args)
    result.update(
        {
            "side": "dspy",
            "version": dspy.__version__,
            "python": sys.version.split()[0],
            "workload": workload,
            "concurrency": args.concurrency,
            **extra,
            "seed": args.seed,
        }
    )
    print("RESULT " + json.dumps(result), flush=True)


def cache_hit(args):
    dspy, _ = configure(args, memory_cache=True)
    program = dspy.Predict("question -> answer")
    question = load(args.dataset)[0].question
    program(question=question)  # fills the cache
    per_call = []
    for _ in range(args.samples):
        start = time.perf_counter()
        for _ in range(args.iterations):
            program(question=question)
        per_call.append((time.perf_counter() - start) / args.iterations)
    return {"per_call_us": statistics.median(per_call) * 1e6, "samples_us": [x * 1e6 for x in per_call]}


def uncached(args):
    import httpx

    dspy, _ = configure(args, memory_cache=False)
    program = dspy.Predict("question -> answer")
    question = load(args.dataset)[0].question
    # The same messages the Predict call sends, POSTed raw.
    messages = dspy.ChatAdapter().format(program.signature, demos=[], inputs={"question": question})
    body = json.dumps({"model": "gpt-4o-mini", "messages": messages}).encode()
    url = args.base_url.rstrip("/") + "/chat/completions"
    headers = {"authorization": "Bearer sk-bench", "content-type": "application/json"}
    client = httpx.Client()

    def raw():
        r = client.post(url, content=body, headers=headers)
        r.raise_for_status()
        r.read()

    raw()
    program(question=question)
    predict_means, raw_means, diffs = [], [], []
    for _ in range(args.samples):
        t_raw = t_predict = 0.0
        for _ in range(args.iterations):
            start = time.perf_counter()
            raw()
            middle = time.perf_counter()
            program(question=question)
            t_raw += middle - start
            t_predict += time.perf_counter() - middle
        raw_means.append(t_raw / args.iterations)
        predict_means.append(t_predict / args.iterations)
        diffs.append((t_predict - t_raw) / args.iterations)
    return {
        "predict_us": statistics.median(predict_means) * 1e6,
        "raw_us": statistics.median(raw_means) * 1e6,
        "framework_us": statistics.median(diffs) * 1e6,
    }


def evaluate(args):
    dspy, _ = configure(args, memory_cache=False)
    devset = load(args.dataset)[: args.examples]
    if len(devset) < args.examples:
        sys.exit(f"{args.dataset} has {len(devset)} examples, fewer than --examples {args.examples}")
    program = dspy.Predict("question -> answer")
    result, seconds = timed_exact_match(program, devset, args.concurrency)
    return {"seconds": seconds, "score": result.score, "examples": len(devset)}


def compile_(args):
    from dspy.teleprompt import BootstrapFewShotWithRandomSearch

    dspy, _ = configure(args, memory_cache=True)
    data = load(args.dataset)
    trainset = data[: args.train]
    valset = data[args.train : args.train + args.val]
    if len(valset) < args.val:
        sys.exit(f"{args.dataset} has too few examples for --train {args.train} --val {args.val}")
    optimizer = BootstrapFewShotWithRandomSearch(
        metric=dspy.evaluate.answer_exact_match,
        max_bootstrapped_demos=4,
        max_labeled_demos=16,
        num_candidate_programs=args.candidates,
        num_threads=args.concurrency,
    )
    program = dspy.Predict("question -> answer")
    start = time.perf_counter()
    with stdout_to_stderr():
        compiled = optimizer.compile(program, trainset=trainset, valset=valset)
    seconds = time.perf_counter() - start
    best = compiled.candidate_programs[0]
    return {
        "seconds": seconds,
        "best_score": best["score"],
        "best_seed": best["seed"],
        "candidates": len(compiled.candidate_programs),
        "demos": len(compiled.demos),
        "train": len(trainset),
        "val": len(valset),
        "num_candidate_programs": args.candidates,
    }


def copro(args):
    from dspy.teleprompt import COPRO

    dspy, _ = configure(args, memory_cache=True)
    trainset = load(args.dataset)[: args.train]
    if len(trainset) < args.train:
        sys.exit(f"{args.dataset} has too few examples for --train {args.train}")
    optimizer = COPRO(
        metric=dspy.evaluate.answer_exact_match,
        breadth=args.breadth,
        depth=args.depth,
        init_temperature=1.4,
    )
    program = dspy.Predict("question -> answer")
    eval_kwargs = {"num_threads": args.concurrency, "display_progress": False}
    start = time.perf_counter()
    with stdout_to_stderr():
        compiled = optimizer.compile(program, trainset=trainset, eval_kwargs=eval_kwargs)
    seconds = time.perf_counter() - start
    best = compiled.candidate_programs[0]
    return {
        "seconds": seconds,
        "best_score": best["score"],
        "instruction": best["instruction"],
        "evaluations": compiled.total_calls,
        "train": len(trainset),
        "breadth": args.breadth,
        "depth": args.depth,
    }


def main():
    args = parse_args()
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    # Use the bundled model-price table; never fetch it over the network.
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "true"
    import dspy

    workload = {"cache_hit": cache_hit, "uncached": uncached, "evaluate": evaluate, "compile": compile_, "copro": copro}
    result = workload[args.workload](args)
    result.update(
        {
            "side": "dspy",
            "version": dspy.__version__,
            "python": sys.version.split()[0],
            "workload": args.workload,
            "concurrency": args.concurrency,
        }
    )
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
