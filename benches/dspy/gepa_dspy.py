"""Python DSPy side of the GEPA like-for-like comparison (see README.md here).

Compiles dspy.ChainOfThought("question -> answer") with DSPy 3.4.1's GEPA
against an OpenAI-compatible server (`cargo xtask serve-sim`) and prints one
line `RESULT {json}`. The Kestrel side is `benches/src/bin/gepa_compare.rs`,
with the same flags and keys; `compare_gepa.sh` runs both against one server.

- train = the first --train examples of --dataset, val = the next --val,
  dev = the next --dev (scored after compiling);
- auto = --auto (light by default), num_threads = --concurrency, seed =
  --seed, the server's LM (model openai/gpt-4o-mini) as task and reflection
  LM;
- metric: answer_exact_match as the score, with the benchmark's feedback
  text: "The answer N is right." / "The answer N is wrong; the right answer
  is M." / "No number was given; the right answer is M." followed by the
  problem's `how` (the dataset must be written with
  `serve-sim --write-dataset --with-feedback`), exactly the text Kestrel's
  side gets from `simulated::skill::feedback`;
- caches as compare.sh's compile workload: a fresh memory cache, disk cache off.

`requests` is what the server's control port (--control, `/stats`) counted
during the compile; `seconds` is the compile's wall time.
"""

import json
import sys
import time

# The DSPy side of the other workloads (same folder): the stdout guard.
from dspy_bench import control, runner_main, runner_parser, server_lm, stdout_to_stderr, timed_exact_match


def parse_args():
    p = runner_parser(__doc__, dataset_help="JSONL of {question, answer, how} (serve-sim --with-feedback)")
    p.add_argument("--auto", choices=["light", "medium", "heavy"], default="light")
    p.add_argument("--val", type=int, default=100)
    return p.parse_args()


def load(path):
    """Examples (question -> answer) and each question's feedback tail."""
    import dspy

    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if any("how" not in r for r in rows):
        sys.exit(f"{path} has no `how` fields: write it with `serve-sim --write-dataset PATH --with-feedback`")
    examples = [dspy.Example(question=r["question"], answer=r["answer"]).with_inputs("question") for r in rows]
    return examples, {r["question"]: r["how"] for r in rows}


def feedback_metric(how):
    import dspy

    def verdict(gold, predicted):
        truth = int(str(gold.answer).strip())
        try:
            given = int(str(predicted).strip())
        except ValueError:
            return f"No number was given; the right answer is {truth}."
        if given == truth:
            return f"The answer {truth} is right."
        return f"The answer {given} is wrong; the right answer is {truth}."

    def metric(gold, pred, trace=None, pred_name=None, pred_trace=None):
        score = float(dspy.evaluate.answer_exact_match(gold, pred))
        feedback = verdict(gold, pred.get("answer")) + how[gold.question]
        return dspy.Prediction(score=score, feedback=feedback)

    return metric


def run(args):
    import dspy

    lm = server_lm(args)
    data, how = load(args.dataset)
    if len(data) < args.train + args.val + args.dev:
        sys.exit(f"{args.dataset} has too few examples for --train {args.train} --val {args.val} --dev {args.dev}")
    trainset = data[: args.train]
    valset = data[args.train : args.train + args.val]
    devset = data[args.train + args.val : args.train + args.val + args.dev]
    optimizer = dspy.GEPA(
        metric=feedback_metric(how),
        auto=args.auto,
        reflection_lm=lm,
        num_threads=args.concurrency,
        seed=args.seed,
        track_stats=True,
    )
    program = dspy.ChainOfThought("question -> answer")
    if args.control:
        control(args.control, "reset")
    with stdout_to_stderr():
        start = time.perf_counter()
        compiled = optimizer.compile(program, trainset=trainset, valset=valset)
        seconds = time.perf_counter() - start
        requests = control(args.control, "stats")["requests"] if args.control else None
        # Every LM call (cache hits included) of the compile, copies of the LM included.
        from dspy.clients.base_lm import GLOBAL_HISTORY

        lm_calls = len(GLOBAL_HISTORY)
        dev, dev_seconds = timed_exact_match(compiled, devset, args.concurrency)
    results = compiled.detailed_results
    predictors = compiled.predictors()
    return {
        "seconds": seconds,
        "requests": requests,
        "lm_calls": lm_calls,
        "metric_calls": results.total_metric_calls,
        "full_val_evals": results.num_full_val_evals,
        "candidates": len(results.candidates),
        "best_val": results.val_aggregate_scores[results.best_idx] * 100.0,
        "dev_score": dev.score,
        "dev_seconds": dev_seconds,
        "instruction": predictors[0].signature.instructions if predictors else None,
        "train": len(trainset),
        "val": len(valset),
        "dev": len(devset),
        "auto": args.auto,
    }


def main():
    runner_main(parse_args(), run, "gepa")


if __name__ == "__main__":
    main()
