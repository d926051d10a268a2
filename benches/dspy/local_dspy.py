"""Python DSPy side of the real-model benchmark (see README.md here).

Runs DSPy 3.4.1 on banking77-6 against an OpenAI-compatible server that
serves a local GGUF model (llama-cpp-python's server in `compare_local.sh`)
and prints one line `RESULT {json}`: dev accuracy, ChatAdapter parse
failures (each one retried with DSPy's JSON fallback) and calls that no
adapter could parse, tokens and wall time. The Kestrel side is
`cargo xtask bench-compile --dataset banking77-6 --lm openai/<model>
--api-base ...`, which makes the same split and sends the same prompts.

banking77-6 (the same choice as `xtask/src/bench_compile/banking77_6.rs`):
the intents card_arrival, lost_or_stolen_card, change_pin, exchange_rate,
terminate_account, age_limit; every record of an intent gets the key
sha256("{seed}:{id}") (hex); the records with the smallest keys are taken,
--train/6 per intent from train.jsonl and --dev/6 per intent from
test.jsonl, and each split is ordered by key. Program: dspy.Predict on
`text -> label: Literal[...]` with the instructions "Classify the intent of
a bank customer's message." and `text` described as "a message from a bank
customer"; temperature 0, max_tokens 256; metric: the label matches exactly.

--optimizer none evaluates the program as it is; bootstrap compiles it with
BootstrapFewShot(max_bootstrapped_demos=4, max_labeled_demos=4) first.
--predictions PATH writes one JSON line per dev example (index, gold,
predicted label or null, whether the ChatAdapter parsed the reply, and the
messages of the last request), for comparing predictions with Kestrel's.
"""

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from typing import Literal

from dspy_bench import stdout_to_stderr

INTENTS = ("card_arrival", "lost_or_stolen_card", "change_pin", "exchange_rate", "terminate_account", "age_limit")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True, help="OpenAI base URL, e.g. http://127.0.0.1:PORT/v1")
    p.add_argument("--model", required=True, help="the model name the server serves (its alias)")
    p.add_argument("--data-dir", required=True, help="folder holding banking77/{train,test}.jsonl")
    p.add_argument("--optimizer", choices=["none", "bootstrap"], default="none")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train", type=int, default=30)
    p.add_argument("--dev", type=int, default=60)
    p.add_argument("--threads", type=int, default=1, help="num_threads of Evaluate")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--predictions", help="write per-example predictions (JSONL) here")
    return p.parse_args()


def key(seed, record_id):
    return hashlib.sha256(f"{seed}:{record_id}".encode()).hexdigest()


def choose(path, seed, ranges):
    """Per intent, the records ranked ranges[s] by key; each split ordered by key."""
    groups = {intent: [] for intent in INTENTS}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            if record["label"] in groups:
                groups[record["label"]].append((key(seed, record["id"]), record))
    splits = []
    for start, end in ranges:
        split = []
        for intent in INTENTS:
            ranked = sorted(groups[intent], key=lambda kr: kr[0])
            if len(ranked) < end:
                sys.exit(f"{path} has {len(ranked)} examples of {intent}, fewer than the {end} requested")
            split.extend(ranked[start:end])
        split.sort(key=lambda kr: kr[0])
        splits.append([record for _, record in split])
    return splits


def per_intent(total, flag):
    if total % len(INTENTS):
        sys.exit(f"{flag} must be a multiple of {len(INTENTS)}")
    return total // len(INTENTS)


class Counters:
    """ChatAdapter parse failures (each followed by a JSON fallback) and
    JSONAdapter parse failures (the call fails), counted in parse()."""

    def __init__(self):
        self.lock = threading.Lock()
        self.chat = 0
        self.json = 0

    def install(self, dspy):
        chat_parse = dspy.ChatAdapter.parse
        json_parse = dspy.JSONAdapter.parse
        counters = self

        def counting_chat(adapter, signature, completion):
            try:
                return chat_parse(adapter, signature, completion)
            except Exception:
                if type(adapter) is dspy.ChatAdapter:
                    with counters.lock:
                        counters.chat += 1
                raise

        def counting_json(adapter, signature, completion):
            try:
                return json_parse(adapter, signature, completion)
            except Exception:
                with counters.lock:
                    counters.json += 1
                raise

        dspy.ChatAdapter.parse = counting_chat
        dspy.JSONAdapter.parse = counting_json

    def snapshot(self):
        with self.lock:
            return self.chat, self.json


def main():
    args = parse_args()
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "true"
    import dspy

    counters = Counters()
    counters.install(dspy)

    labels = Literal[INTENTS]  # type: ignore[valid-type]

    class Banking77Intent(dspy.Signature):
        """Classify the intent of a bank customer's message."""

        text: str = dspy.InputField(desc="a message from a bank customer")
        label: labels = dspy.OutputField()

    data = os.path.join(args.data_dir, "banking77")
    t, d = per_intent(args.train, "--train"), per_intent(args.dev, "--dev")
    (train_rows,) = choose(os.path.join(data, "train.jsonl"), args.seed, [(0, t)])
    (dev_rows,) = choose(os.path.join(data, "test.jsonl"), args.seed, [(0, d)])
    as_examples = lambda rows: [dspy.Example(text=r["text"], label=r["label"]).with_inputs("text") for r in rows]
    trainset, devset = as_examples(train_rows), as_examples(dev_rows)

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    lm = dspy.LM(
        f"openai/{args.model}",
        api_base=args.base_url,
        api_key="sk-local",
        temperature=0.0,
        max_tokens=args.max_tokens,
        cache=True,
    )
    dspy.configure(lm=lm, adapter=dspy.ChatAdapter())

    def metric(example, prediction, trace=None):
        return getattr(prediction, "label", None) == example.label

    program = dspy.Predict(Banking77Intent)
    started = time.perf_counter()
    compile_seconds = 0.0
    with stdout_to_stderr():
        if args.optimizer == "bootstrap":
            optimizer = dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=4, max_labeled_demos=4)
            program = optimizer.compile(program, trainset=trainset)
            compile_seconds = time.perf_counter() - started
        before_eval = counters.snapshot()
        history_start = len(lm.history)
        evaluate = dspy.Evaluate(devset=devset, metric=metric, num_threads=args.threads, display_progress=False)
        eval_started = time.perf_counter()
        result = evaluate(program)
        eval_seconds = time.perf_counter() - eval_started
    after_eval = counters.snapshot()

    correct = [bool(score) for _, _, score in result.results]
    eval_history = lm.history[history_start:]
    usage = {"prompt_tokens": 0, "completion_tokens": 0}
    for entry in eval_history:
        for k in usage:
            usage[k] += (entry.get("usage") or {}).get(k, 0) or 0
    if args.predictions:
        # The last request whose user message holds the example's text (the ChatAdapter's, or the JSON fallback's).
        with open(args.predictions, "w", encoding="utf-8") as f:
            for i, (example, prediction, score) in enumerate(result.results):
                requests = [
                    e for e in eval_history if example.text in (e.get("messages") or [{}])[-1].get("content", "")
                ]
                chat = [e for e in requests if "Respond with a JSON object" not in e["messages"][-1]["content"]]
                row = {
                    "index": i,
                    "text": example.text,
                    "gold": example.label,
                    "label": getattr(prediction, "label", None),
                    "correct": bool(score),
                    "json_fallback": len(requests) > len(chat),
                    "chat_messages": chat[0]["messages"] if chat else None,
                    "chat_reply": (chat[0].get("outputs") or [None])[0] if chat else None,
                }
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    demos = [len(p.demos) for _, p in program.named_predictors()]
    print(
        "RESULT "
        + json.dumps(
            {
                "side": "dspy",
                "version": dspy.__version__,
                "model": args.model,
                "optimizer": args.optimizer,
                "train": len(trainset),
                "dev": len(devset),
                "correct": sum(correct),
                "accuracy": round(100.0 * sum(correct) / len(devset), 1),
                "chat_parse_failures": after_eval[0] - before_eval[0],
                "parse_failures": after_eval[1] - before_eval[1],
                "demos": demos,
                "eval_calls": len(eval_history),
                "prompt_tokens": usage["prompt_tokens"],
                "completion_tokens": usage["completion_tokens"],
                "compile_seconds": round(compile_seconds, 2),
                "eval_seconds": round(eval_seconds, 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
