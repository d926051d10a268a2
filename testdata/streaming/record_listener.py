"""Record DSPy 3.4.1's StreamListener output for chunk sequences.

Run: /tmp/dspy-venv/bin/python testdata/streaming/record_listener.py > testdata/streaming/listener_dspy.json
Each case feeds the chunks, in order, to a fresh `StreamListener(field)` under the
given adapter, then calls `finalize()`; the outputs are the `StreamResponse`s
(chunk, is_last_chunk) it returned, in order, plus the listener's `cache_hit` flag.
"""
import json

import dspy
from dspy.streaming import StreamListener
from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices

CHAT = [
    ("one_chunk_each", "answer", ["[[ ## answer ## ]]\n", "Paris", " is", " the", " capital", "\n\n", "[[ ## completed ## ]]"]),
    ("marker_split", "answer", ["[[", " ##", " ans", "wer ## ]]", "\n\nThe", " answer", " is 4", ".\n\n[[ ##", " completed ## ]]"]),
    ("second_field", "reasoning", ["[[ ## reasoning ## ]]\n", "Two plus", " two.", "\n\n[[ ## answer ## ]]\n", "4", "\n\n[[ ## completed ## ]]"]),
    ("skip_other_field", "answer", ["[[ ## reasoning ## ]]\n", "think", " hard", "\n\n", "[[ ## answer ## ]]", "\n", "42", "\n\n", "[[ ## completed ## ]]"]),
    ("whole_reply_one_chunk", "answer", ["[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"]),
    ("no_end_marker", "answer", ["[[ ## answer ## ]]", "\nPar", "is", " and more", "\n"]),
    ("brackets_in_value", "answer", ["[[ ## answer ## ]]\n", "a [b]", " [[c", "]] d", "\n\n[[ ## completed ## ]]"]),
    ("many_tokens_buffered", "answer", ["[[ ## answer ## ]]\n", "x", "[", "[", " ", "#", "#", " ", "y", "z", "w", "v", "u", "t", "s", " ## ]]"]),
    ("leading_whitespace_chunks", "answer", ["[[ ## answer ## ]]", "\n", "\n", "  ", "hi", "  ", "there", "\n", "\n", "[[ ## completed ## ]]"]),
    ("tiny_chunks", "answer", list("[[ ## answer ## ]]\nOk go\n\n[[ ## completed ## ]]")),
]
JSON = [
    ("json_basic", "answer", ['{"', 'answer', '":', ' "', 'Paris', ' is', ' nice', '"', '}']),
    ("json_two_fields", "reasoning", ['{\n', '  "reasoning": "', 'because', ' so', '",\n', '  "answer": "', '4', '"\n', '}']),
    ("json_second_field", "answer", ['{"reasoning": "', 'x', '", ', '"answer": "', 'four', '"}']),
    ("json_split_key", "answer", ['{"ans', 'wer":', ' "he', 'llo"', '}']),
    ("json_number", "answer", ['{"answer":', ' 42', '}']),
]

def chunk(text):
    return ModelResponseStream(model="m", choices=[StreamingChoices(delta=Delta(content=text))])

def run(adapter, cases):
    out = []
    for name, field, chunks in cases:
        listener = StreamListener(signature_field_name=field)
        got = []
        with dspy.context(adapter=adapter):
            for c in chunks:
                r = listener.receive(chunk(c))
                if r is not None:
                    got.append({"chunk": r.chunk, "is_last_chunk": r.is_last_chunk})
            r = listener.finalize()
            if r is not None:
                got.append({"chunk": r.chunk, "is_last_chunk": r.is_last_chunk, "finalize": True})
        out.append({"name": name, "field": field, "chunks": chunks, "outputs": got, "cache_hit": listener.cache_hit})
    return out

print(json.dumps({"dspy_version": dspy.__version__, "chat": run(dspy.ChatAdapter(), CHAT), "json": run(dspy.JSONAdapter(), JSON)}, indent=1))
