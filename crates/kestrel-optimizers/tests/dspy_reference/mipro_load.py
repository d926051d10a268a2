"""Load a MIPROv2 program compiled and saved by Kestrel into Python DSPy 3.4.1.

Run by the ignored test `mipro::a_saved_program_loads_in_python_dspy`
(tests/integration/mipro.rs), with a Python that has `dspy==3.4.1`
installed (never committed):

    DSPY_PYTHON=/path/to/python cargo test -p kestrel-optimizers --test integration \
        mipro::a_saved_program_loads_in_python_dspy -- --ignored

Usage: mipro_load.py SAVED.json EXPECTED.json

SAVED.json is the file Kestrel's `save` wrote for a two-predictor program
(`first`, `second`: both `question -> answer`); EXPECTED.json holds, per
predictor path, the instructions and demos Kestrel's compiled program has.
The program is loaded with DSPy's own `load`; its instructions and demos must
equal the expected ones, and it must run (on DSPy's DummyLM). Prints `ok`.
"""

import json
import sys

import dspy
from dspy.utils.dummies import DummyLM


class Two(dspy.Module):
    def __init__(self):
        super().__init__()
        self.first = dspy.Predict("question -> answer")
        self.second = dspy.Predict("question -> answer")

    def forward(self, question):
        self.first(question=question)
        return self.second(question=question)


def main(saved_path, expected_path):
    with open(expected_path) as f:
        expected = json.load(f)
    program = Two()
    program.load(saved_path)
    predictors = dict(program.named_predictors())
    assert sorted(predictors) == sorted(expected), (sorted(predictors), sorted(expected))
    for path, want in expected.items():
        predictor = predictors[path]
        assert predictor.signature.instructions == want["instructions"], (
            path,
            predictor.signature.instructions,
            want["instructions"],
        )
        demos = [dict(demo) for demo in predictor.demos]
        assert demos == want["demos"], (path, demos, want["demos"])
    dspy.configure(lm=DummyLM([{"answer": "3"}, {"answer": "3"}]))
    prediction = program(question="What is 1 + 2?")
    assert prediction.answer == "3", prediction
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
