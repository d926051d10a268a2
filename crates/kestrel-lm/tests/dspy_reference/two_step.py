"""Expected requests of tests/integration/two_step.rs, recorded with DSPy 3.4.1.

Run with a Python that has `dspy==3.4.1` installed (never committed):

    python crates/kestrel-lm/tests/dspy_reference/two_step.py \
        > crates/kestrel-lm/tests/integration/two_step_cases.json

Each case runs `dspy.Predict(signature)` (demos set on it) with
`dspy.TwoStepAdapter(extraction_lm)` and two scripted LMs: the main LM
answers with free text, the extraction LM with the text given. Written:
the messages each LM received, in order, and the prediction's fields or
DSPy's error message.
"""

import json

import dspy
from dspy.utils.dummies import DummyLM


class RawLM(DummyLM):
    """Answers each request with the next scripted text, as it is."""

    def __init__(self, texts):
        super().__init__([{"raw": t} for t in texts])

    def _format_answer_fields(self, field_names_and_values):
        return field_names_and_values["raw"]


def run(name, signature, demos, inputs, main_replies, extraction_replies):
    main, extraction = RawLM(main_replies), RawLM(extraction_replies)
    predict = dspy.Predict(signature)
    predict.demos = [dspy.Example(**d) for d in demos]
    case = {"name": name, "signature": signature, "demos": demos, "inputs": inputs,
            "main_replies": main_replies, "extraction_replies": extraction_replies}
    with dspy.context(lm=main, adapter=dspy.TwoStepAdapter(extraction)):
        try:
            out = predict(**inputs)
            case["outputs"] = dict(out.items())
        except Exception as e:  # noqa: BLE001 - the error is what is recorded
            case["error"] = {"type": type(e).__name__, "message": str(e)}
    case["main_requests"] = [h["messages"] for h in main.history]
    case["extraction_requests"] = [h["messages"] for h in extraction.history]
    return case


CASES = [
    run("basic", "question -> answer", [], {"question": "What is the capital of France?"},
        ["The capital of France is Paris."], ["[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"]),
    run("typed_with_demos", "context: list[str], question -> answer, confidence: float",
        [{"context": ["a", "b"], "question": "q1", "answer": "x", "confidence": 0.5},
         {"question": "q2", "answer": "y"}],
        {"context": ["Paris is in France.", "It is big."], "question": "Where is Paris?"},
        ["Paris is in France; I am fairly sure (0.9)."],
        ["[[ ## answer ## ]]\nFrance\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]"]),
    run("json_fallback", "question -> answer, year: int", [], {"question": "When?"},
        ["In 1999, it was Paris."], ["no markers at all", "{\"answer\": \"Paris\", \"year\": 1999}"]),
    run("extraction_fails", "question -> answer, year: int", [], {"question": "When?"},
        ["I do not know."], ["still nothing", "not json either"]),
]

print(json.dumps(CASES, indent=1, ensure_ascii=False))
