"""Expected demos for tests/integration/bootstrap_fill.rs, computed with DSPy 3.4.1.

Run with a Python that has `dspy==3.4.1` installed (never committed):

    python crates/kestrel-optimizers/tests/dspy_reference/bootstrap_fill.py

The LM answers every prompt with the same fields (ReAct: call `finish` at
once, so each predictor runs once per example); the metric accepts a chosen
set of training examples by question. What differs between cases is only
which examples are bootstrapped and how the labeled fill is sampled, which is
what the Rust tests check. Prints, per case, each predictor's demos as
questions, an augmented (bootstrapped) demo marked
with a leading `+`, in predictor order.
"""

import json

import dspy
from dspy.utils.dummies import DummyLM

REPLY = {
    "draft": "d",
    "answer": "a",
    "verdict": "v",
    "reasoning": "r",
    "next_thought": "done",
    "next_tool_name": "finish",
    "next_tool_args": {},
}


class Two(dspy.Module):
    def __init__(self):
        super().__init__()
        self.first = dspy.Predict("question -> draft")
        self.second = dspy.Predict("question, draft -> answer")

    def forward(self, question):
        draft = self.first(question=question).draft
        return self.second(question=question, draft=draft)


class Three(dspy.Module):
    def __init__(self):
        super().__init__()
        self.first = dspy.Predict("question -> draft")
        self.second = dspy.Predict("question, draft -> answer")
        self.third = dspy.ChainOfThought("question, answer -> verdict")

    def forward(self, question):
        draft = self.first(question=question).draft
        answer = self.second(question=question, draft=draft).answer
        verdict = self.third(question=question, answer=answer).verdict
        return dspy.Prediction(answer=answer, verdict=verdict)


def lookup(query: str) -> str:
    """Look something up."""
    return "nothing"


def trainset(n):
    return [dspy.Example(question=f"q{i}", answer=f"a{i}").with_inputs("question") for i in range(n)]


def run(program, accept, max_bootstrapped, max_labeled, n=10):
    dspy.configure(lm=DummyLM({"": REPLY}))

    def metric(example, prediction, trace=None):
        return example.question in accept

    optimizer = dspy.BootstrapFewShot(
        metric=metric, max_bootstrapped_demos=max_bootstrapped, max_labeled_demos=max_labeled
    )
    compiled = optimizer.compile(program, trainset=trainset(n))
    return {
        name: [("+" if d.get("augmented", False) else "") + d["question"] for d in p.demos]
        for name, p in compiled.named_predictors()
    }


cases = {
    "two": run(Two(), {"q1", "q4", "q6", "q7"}, 3, 6),
    "three": run(Three(), {"q0", "q3", "q8"}, 2, 5),
    "three_none_accepted": run(Three(), set(), 4, 4),
    "react": run(dspy.ReAct("question -> answer", tools=[lookup]), {"q2", "q5"}, 4, 5),
}
for case, predictors in cases.items():
    print(case)
    for name, demos in predictors.items():
        print(f"  {name}: {json.dumps(demos)}")
