"""llama.cpp's side of the local-model speed comparison (see README.md here).

Loads a GGUF file with llama-cpp-python (the llama.cpp build it vendors) and
measures, greedy, with --threads threads:

- decode: single-stream decode speed, tokens/s over --tokens generated tokens
  after a short chat prompt (the first token, which pays for the prompt, is
  not counted; end-of-sequence does not stop it);
- prefill: prompt tokens/s of that cold prompt;
- ttft_cold / ttft_warm: time to first token of a chat request whose system
  message is about --system-tokens tokens, first with nothing cached (the
  model's state reset), then again with the same system message and another
  user message (llama-cpp-python keeps the previous request's tokens and
  re-evaluates only what differs after the longest common prefix);
- concurrent: --concurrent requests of --tokens tokens each, sent together
  from threads to one `Llama`, aggregate tokens/s. A `Llama` is not safe to
  call from several threads at once (concurrent calls corrupt its state:
  llama.cpp aborts on an out-of-range row), so the calls take a lock, as
  llama-cpp-python's server does: one sequence decodes at a time.

Prints one line `RESULT {json}`.

    /tmp/llama-venv/bin/python benches/local/llama_speed.py --model ~/.cache/kestrel/models/smollm2/*.gguf
"""

import argparse
import json
import threading
import time

SYSTEM_SENTENCE = (
    "You are a careful assistant for a bank's customer service team, and you answer in one short sentence. "
)
USER_PROMPT = "Write a long story about a robot who learns to paint."


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="path of the GGUF file")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokens", type=int, default=128, help="tokens generated per decode measurement")
    p.add_argument("--system-tokens", type=int, default=500, help="approximate length of the TTFT system prompt")
    p.add_argument("--concurrent", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3, help="decode / TTFT measurements (the median is reported)")
    return p.parse_args()


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def decode(llm, tokens):
    """(prefill tokens/s, decode tokens/s) of one greedy generation."""
    prompt = llm.tokenize(chat_text(llm, USER_PROMPT).encode(), add_bos=False, special=True)
    llm.reset()
    started = time.perf_counter()
    first = None
    count = 0
    for _ in llm.generate(prompt, temp=0.0, top_k=1, reset=True):
        count += 1
        if first is None:
            first = time.perf_counter()
        if count >= tokens:
            break
    done = time.perf_counter()
    return len(prompt) / (first - started), (count - 1) / (done - first)


def chat_text(llm, user, system=None):
    """The prompt text of a chat request, rendered with the GGUF's chat template."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    eos = llm.detokenize([llm.token_eos()]).decode("utf-8", errors="ignore")
    bos = llm.detokenize([llm.token_bos()]).decode("utf-8", errors="ignore")
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return formatter(messages=messages).prompt


def ttft(llm, system, user, reset):
    if reset:
        llm.reset()
    started = time.perf_counter()
    stream = llm.create_chat_completion(
        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        temperature=0.0,
        max_tokens=1,
        stream=True,
    )
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content") is not None:
            break
    elapsed = time.perf_counter() - started
    for _ in stream:
        pass
    return elapsed


def concurrent(llm, n, tokens):
    lock = threading.Lock()
    call_lock = threading.Lock()
    produced = [0]

    def one(i):
        with call_lock:
            out = llm.create_completion(
                chat_text(llm, f"{USER_PROMPT} Story number {i}."), temperature=0.0, max_tokens=tokens
            )
        with lock:
            produced[0] += out["usage"]["completion_tokens"]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return produced[0] / (time.perf_counter() - started), produced[0]


def main():
    args = parse_args()
    import llama_no_extra_bufts  # noqa: F401  (see that file: AMX buffers segfault on the dev VM)
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=args.model, n_threads=args.threads, n_threads_batch=args.threads, n_ctx=4096, seed=0, verbose=False
    )
    system = SYSTEM_SENTENCE
    while len(llm.tokenize(system.encode(), add_bos=False)) < args.system_tokens:
        system += SYSTEM_SENTENCE
    system_tokens = len(llm.tokenize(system.encode(), add_bos=False))

    runs = [decode(llm, args.tokens) for _ in range(args.repeats)]
    cold = [ttft(llm, system, f"Question {i}: how do I change my PIN?", reset=True) for i in range(args.repeats)]
    ttft(llm, system, "Warm-up question.", reset=True)
    warm = [ttft(llm, system, f"Question {i}: where is my card?", reset=False) for i in range(args.repeats)]
    aggregate, produced = concurrent(llm, args.concurrent, args.tokens)
    print(
        "RESULT "
        + json.dumps(
            {
                "side": "llama.cpp",
                "llama_cpp_python": llama_cpp.__version__,
                "model": args.model,
                "threads": args.threads,
                "extra_bufts": llama_no_extra_bufts.EXTRA_BUFTS,
                "tokens": args.tokens,
                "prefill_tok_s": round(median(r[0] for r in runs), 1),
                "decode_tok_s": round(median(r[1] for r in runs), 1),
                "system_tokens": system_tokens,
                "ttft_cold_ms": round(1000 * median(cold), 1),
                "ttft_warm_ms": round(1000 * median(warm), 1),
                "concurrent": args.concurrent,
                "concurrent_tok_s": round(aggregate, 1),
                "concurrent_tokens": produced,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
