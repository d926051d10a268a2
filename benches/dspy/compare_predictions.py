"""Compare two per-example prediction files of banking77-6 (standard library only).

Each file is JSONL with the keys `local_dspy.py --predictions` and
`cargo xtask bench-compile --predictions` write: index, gold, prediction
(or label), correct, json_fallback, chat_messages, chat_reply. Prints one
line `COMPARE {json}`: examples, how many ChatAdapter requests are the same
bytes (role and text of every message), how many replies and predicted
labels are the same (all, and among the examples sent as the same bytes),
and each side's correct count and JSON fallbacks.

    python3 compare_predictions.py A.jsonl B.jsonl
"""

import json
import sys


def label_of(row):
    prediction = row.get("prediction")
    if isinstance(prediction, dict):
        return prediction.get("label")
    return row.get("label")


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = load(sys.argv[1]), load(sys.argv[2])
    if len(a) != len(b):
        sys.exit(f"{sys.argv[1]} has {len(a)} examples, {sys.argv[2]} has {len(b)}")
    same_bytes = same_reply = same_label = same_label_same_bytes = 0
    for x, y in zip(a, b):
        bytes_equal = x.get("chat_messages") is not None and x.get("chat_messages") == y.get("chat_messages")
        same_bytes += bytes_equal
        same_reply += x.get("chat_reply") == y.get("chat_reply")
        labels_equal = label_of(x) == label_of(y)
        same_label += labels_equal
        same_label_same_bytes += labels_equal and bytes_equal
    result = {
        "examples": len(a),
        "same_request_bytes": same_bytes,
        "same_chat_reply": same_reply,
        "same_label": same_label,
        "same_label_where_same_bytes": same_label_same_bytes,
        "a_correct": sum(bool(r.get("correct")) for r in a),
        "b_correct": sum(bool(r.get("correct")) for r in b),
        "a_json_fallbacks": sum(bool(r.get("json_fallback")) for r in a),
        "b_json_fallbacks": sum(bool(r.get("json_fallback")) for r in b),
    }
    print("COMPARE " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
