"""Python DSPy side of the SIMBA like-for-like comparison (see README.md here).

Compiles dspy.ChainOfThought("question -> answer") with DSPy 3.4.1's SIMBA
(its defaults: bsize 32, 6 candidates, 8 steps, 4 demos) against an
OpenAI-compatible server (`cargo xtask serve-sim`) and prints one line
`RESULT {json}`. The Kestrel side is `benches/src/bin/simba_compare.rs`, with
the same flags and keys; `compare_simba.sh` runs both against one server.

- train = the first --train examples of --dataset, dev = the next --dev
  examples, scored after compiling;
- num_threads = --concurrency, seed = --seed, the server's LM (model
  openai/gpt-4o-mini) as task and prompt model, metric answer_exact_match;
- caches as compare.sh's compile workload: a fresh memory cache, disk cache off.

`requests` is what the server's control port (--control, `/stats`) counted
during the compile; `seconds` is the compile's wall time.
"""

import sys
import time

# The DSPy side of the other workloads (same folder): its data loading and stdout guard.
from dspy_bench import control, load, runner_main, runner_parser, server_lm, stdout_to_stderr, timed_exact_match


def parse_args():
    p = runner_parser(__doc__)
    return p.parse_args()


def run(args):
    import dspy
    from dspy.teleprompt import SIMBA

    lm = server_lm(args)
    data = load(args.dataset)
    if len(data) < args.train + args.dev:
        sys.exit(f"{args.dataset} has too few examples for --train {args.train} --dev {args.dev}")
    trainset = data[: args.train]
    devset = data[args.train : args.train + args.dev]
    optimizer = SIMBA(metric=dspy.evaluate.answer_exact_match, prompt_model=lm, num_threads=args.concurrency)
    program = dspy.ChainOfThought("question -> answer")
    if args.control:
        control(args.control, "reset")
    with stdout_to_stderr():
        start = time.perf_counter()
        compiled = optimizer.compile(program, trainset=trainset, seed=args.seed)
        seconds = time.perf_counter() - start
        requests = control(args.control, "stats")["requests"] if args.control else None
        # Every LM call (cache hits included) of the compile, copies of the LM included.
        from dspy.clients.base_lm import GLOBAL_HISTORY

        lm_calls = len(GLOBAL_HISTORY)
        dev, dev_seconds = timed_exact_match(compiled, devset, args.concurrency)
    predictors = compiled.predictors()
    candidates = getattr(compiled, "candidate_programs", []) or []
    return {
        "seconds": seconds,
        "requests": requests,
        "lm_calls": lm_calls,
        "steps": optimizer.max_steps,
        "best_score": candidates[0]["score"] if candidates else None,
        "dev_score": dev.score,
        "dev_seconds": dev_seconds,
        "demos": sum(len(p.demos) for p in predictors),
        "instruction": predictors[0].signature.instructions if predictors else None,
        "train": len(trainset),
        "dev": len(devset),
    }


def main():
    runner_main(parse_args(), run, "simba")


if __name__ == "__main__":
    main()
