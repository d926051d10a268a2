"""Python DSPy side of the MIPROv2 like-for-like comparison (see README.md here).

Compiles dspy.ChainOfThought("question -> answer") with DSPy 3.4.1's MIPROv2
against an OpenAI-compatible server (`cargo xtask serve-sim`) and prints one
line `RESULT {json}`. The Kestrel side is `benches/src/bin/mipro_compare.rs`,
with the same flags and keys; `compare_mipro.sh` runs both against one server.

- train = the first --train examples of --dataset, no valset (MIPROv2 splits
  the trainset itself), dev = the next --dev examples, scored after compiling;
- auto = --auto (light by default), num_threads = --concurrency, seed = --seed,
  the server's LM (model openai/gpt-4o-mini) as task and prompt model,
  metric answer_exact_match;
- caches as compare.sh's compile workload: a fresh memory cache, disk cache off.

`requests` is what the server's control port (--control, `/stats`) counted
during the compile; `seconds` is the compile's wall time.
"""

import sys
import time

# The DSPy side of the other workloads (same folder): its data loading and stdout guard.
from dspy_bench import control, load, runner_main, runner_parser, server_lm, stdout_to_stderr, timed_exact_match


def parse_args():
    p = runner_parser(__doc__, seed=9)
    p.add_argument("--trial-concurrency", type=int, default=1, help="accepted for symmetry; DSPy runs trials one at a time")
    p.add_argument("--auto", choices=["light", "medium", "heavy"], default="light")
    return p.parse_args()


def run(args):
    import dspy
    from dspy.teleprompt import MIPROv2

    lm = server_lm(args)
    data = load(args.dataset)
    if len(data) < args.train + args.dev:
        sys.exit(f"{args.dataset} has too few examples for --train {args.train} --dev {args.dev}")
    trainset = data[: args.train]
    devset = data[args.train : args.train + args.dev]
    optimizer = MIPROv2(
        metric=dspy.evaluate.answer_exact_match,
        prompt_model=lm,
        task_model=lm,
        auto=args.auto,
        num_threads=args.concurrency,
        seed=args.seed,
        verbose=False,
    )
    program = dspy.ChainOfThought("question -> answer")
    if args.control:
        control(args.control, "reset")
    with stdout_to_stderr():
        start = time.perf_counter()
        compiled = optimizer.compile(program, trainset=trainset)
        seconds = time.perf_counter() - start
        requests = control(args.control, "stats")["requests"] if args.control else None
        # Every LM call (cache hits included) of the compile, copies of the LM included.
        from dspy.clients.base_lm import GLOBAL_HISTORY

        lm_calls = len(GLOBAL_HISTORY)
        dev, dev_seconds = timed_exact_match(compiled, devset, args.concurrency)
    predictors = compiled.predictors()
    trial_logs = getattr(compiled, "trial_logs", {}) or {}
    # Distinct parameter sets among the minibatch trials (by the programs' instructions and demos):
    # a repeated set re-scores the minibatch examples it shares with its earlier trial from the cache.
    minibatch = [log["mb_program"] for log in trial_logs.values() if "mb_program" in log]
    distinct = {
        tuple((p.signature.instructions, repr([dict(d) for d in p.demos])) for p in program.predictors())
        for program in minibatch
    }
    return {
        "seconds": seconds,
        "requests": requests,
        "lm_calls": lm_calls,
        "trials": len(trial_logs),
        "minibatch_trials": len(minibatch),
        "distinct_minibatch_params": len(distinct),
        "best_score": getattr(compiled, "score", None),
        "dev_score": dev.score,
        "dev_seconds": dev_seconds,
        "demos": sum(len(p.demos) for p in predictors),
        "instruction": predictors[0].signature.instructions if predictors else None,
        "train": len(trainset),
        "dev": len(devset),
        "auto": args.auto,
    }


def main():
    runner_main(parse_args(), run, "mipro", trial_concurrency=1)


if __name__ == "__main__":
    main()
