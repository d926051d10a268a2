"""Records DSPy 3.4.1's BootstrapFinetune training data for the tiny program
of `../finetune_data.rs`, as the golden that test compares against.

Run with DSPy 3.4.1 installed (no network; a DummyLM answers):

    python record.py dspy_finetune_data.json

It runs `bootstrap_trace_data` over three training examples (one answered
wrong, so the metric drops it), builds the data with
`BootstrapFinetune._prepare_finetune_data` for `multitask` (all calls) and per
predictor (index 0, 1), and writes each with `save_data` (DSPy's file name:
the SHA-256 of the pickled records). Each entry keeps the file name and the
exact JSONL text.
"""

import json
import os
import sys
import tempfile

os.environ["DSPY_FINETUNEDIR"] = tempfile.mkdtemp()

import dspy  # noqa: E402
from dspy.clients.utils_finetune import save_data  # noqa: E402
from dspy.teleprompt.bootstrap_finetune import BootstrapFinetune  # noqa: E402
from dspy.teleprompt.bootstrap_trace import bootstrap_trace_data  # noqa: E402
from dspy.utils.dummies import DummyLM  # noqa: E402


class QaCheck(dspy.Module):
    def __init__(self):
        super().__init__()
        self.generate = dspy.Predict("question -> answer")
        self.check = dspy.Predict("question, answer -> verdict")

    def forward(self, question):
        answer = self.generate(question=question).answer
        verdict = self.check(question=question, answer=answer).verdict
        return dspy.Prediction(answer=answer, verdict=verdict)


def main():
    program = QaCheck()
    program.generate.demos = [dspy.Example(question="What is 1 + 1?", answer="2")]
    trainset = [
        dspy.Example(question="What is 2 + 3?", answer="5").with_inputs("question"),
        dspy.Example(question="What is 4 + 4?", answer="8").with_inputs("question"),
        dspy.Example(question="What is 7 + 1?", answer="8").with_inputs("question"),
    ]
    # Calls in order: generate, check for each example (num_threads=1).
    lm = DummyLM(
        [
            {"answer": "5"},
            {"verdict": "correct"},
            {"answer": "9"},
            {"verdict": "wrong"},
            {"answer": "8"},
            {"verdict": "correct"},
        ]
    )
    program.set_lm(lm)
    dspy.configure(lm=lm)

    def metric(example, prediction, trace=None):
        return example.answer == prediction.answer

    trace_data = bootstrap_trace_data(program=program, dataset=trainset, metric=metric, num_threads=1)
    optimizer = BootstrapFinetune(metric=metric)
    out = {"dspy_version": dspy.__version__}
    for name, pred_ind in [("multitask", None), ("predictor_0", 0), ("predictor_1", 1)]:
        data, data_format = optimizer._prepare_finetune_data(trace_data=trace_data, lm=lm, pred_ind=pred_ind)
        path = save_data(data)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        out[name] = {"format": str(data_format.value), "file_name": os.path.basename(path), "jsonl": text}
    # DSPy's progress bar writes to stdout: the golden goes to a file.
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
