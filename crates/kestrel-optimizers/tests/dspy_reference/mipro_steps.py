"""Reference requests of MIPROv2's steps 1 and 2 and its first trial, recorded
from DSPy 3.4.1, for tests/integration/mipro_steps.rs.

Run with a Python that has `dspy==3.4.1` and `optuna` installed (never
committed), from the repository root:

    python crates/kestrel-optimizers/tests/dspy_reference/mipro_steps.py \
        crates/kestrel-optimizers/tests/integration/mipro_steps_dspy.json

A `dspy.Predict("question -> answer")` student is compiled with
`MIPROv2(auto=None, num_candidates=4, max_bootstrapped_demos=2,
max_labeled_demos=2, num_threads=1, seed=9)` and `num_trials=2`,
`minibatch=False`, on two rule-scripted LMs (`task`, `prompt`) that follow
the fixture rules of `testdata/dspy/README.md` (first matching rule answers;
`last_contains` only). Every request is logged in order; the output keeps
those of step 1 (demo bootstrapping), step 2 (dataset summary and
proposals) and trial 1 (the default program on the valset) — the later
trials are TPE proposals, which use optuna's NumPy generator and are not
reproduced. Also written: the data, the rules, the demo candidates, the
instruction candidates and the default program's score.
"""

import json
import sys

import dspy
from dspy.teleprompt import MIPROv2
from dspy.utils.dummies import DummyLM

LOG = []


class RuleLM(DummyLM):
    """A DummyLM whose reply is the first rule matching the last message."""

    def __init__(self, name, rules, default):
        super().__init__([], follow_examples=True)
        self.lm_name = name
        self.rules = rules
        self.default = default

    def _use_example(self, messages):
        last = messages[-1]["content"]
        reply = self.default
        for rule in self.rules:
            if all(s in last for s in rule["last_contains"]):
                reply = rule["replies"][0]
                break
        LOG.append({"lm": self.lm_name, "messages": [dict(m) for m in messages]})
        return reply


def example(a, b):
    return {"question": f"What is {a} + {b}?", "answer": str(a + b)}


def answer_reply(text):
    return f"[[ ## answer ## ]]\n{text}\n\n[[ ## completed ## ]]"


def instruction(text):
    return f"[[ ## proposed_instruction ## ]]\n{text}\n\n[[ ## completed ## ]]"


def rule(last_contains, reply):
    return {"last_contains": [last_contains], "replies": [reply]}


TRAIN = [example(i, (i * 7) % 13) for i in range(10)]
VAL = [example(i + 40, (i * 5 + 3) % 11) for i in range(8)]

# The task LM: right unless the sum is a multiple of 3.
TASK_RULES = []
for record in TRAIN + VAL:
    total = int(record["answer"])
    text = str(total) if total % 3 else str(total + 1)
    TASK_RULES.append(rule(f"[[ ## question ## ]]\n{record['question']}\n\n", answer_reply(text)))

PROMPT_RULES = [
    rule("[[ ## prior_observations ## ]]", "[[ ## observations ## ]]\n More.\n\n[[ ## completed ## ]]"),
    rule("field `[[ ## observations ## ]]`", "[[ ## observations ## ]]\nSums.\n\n[[ ## completed ## ]]"),
    rule("field `[[ ## summary ## ]]`", "[[ ## summary ## ]]\nAdditions.\n\n[[ ## completed ## ]]"),
    rule("field `[[ ## program_description ## ]]`", "[[ ## program_description ## ]]\nAdds.\n\n[[ ## completed ## ]]"),
    rule("field `[[ ## module_description ## ]]`", "[[ ## module_description ## ]]\nOne.\n\n[[ ## completed ## ]]"),
    rule("creative", instruction("Guess the sum.")),
    rule("Keep the instruction clear", instruction("Add the numbers carefully.")),
    rule("persona", instruction("You are an accountant: add carefully.")),
    rule("informative and descriptive", instruction("Add both numbers, digit by digit.")),
    rule("high stakes", instruction("Lives depend on this sum.")),
    rule("field `[[ ## proposed_instruction ## ]]`", instruction("Add the numbers.")),
]
DEFAULT_REPLY = "[[ ## answer ## ]]\n(no rule matched)\n\n[[ ## completed ## ]]"


def metric(example, pred, trace=None):
    return float(str(example["answer"]).strip().lower() == str(pred["answer"]).strip().lower())


def main():
    task = RuleLM("task", TASK_RULES, DEFAULT_REPLY)
    prompt = RuleLM("prompt", PROMPT_RULES, DEFAULT_REPLY)
    student = dspy.Predict("question -> answer")
    trainset = [dspy.Example(**r).with_inputs("question") for r in TRAIN]
    valset = [dspy.Example(**r).with_inputs("question") for r in VAL]
    captured = {}
    original = MIPROv2._optimize_prompt_parameters

    def capture(self, program, instruction_candidates, demo_candidates, *args, **kwargs):
        captured["steps_end"] = len(LOG)
        captured["instruction_candidates"] = {str(k): list(v) for k, v in instruction_candidates.items()}
        captured["demo_candidates"] = {
            str(k): [[dict(d) for d in demos] for demos in sets] for k, sets in (demo_candidates or {}).items()
        }
        return original(self, program, instruction_candidates, demo_candidates, *args, **kwargs)

    MIPROv2._optimize_prompt_parameters = capture
    optimizer = MIPROv2(
        metric=metric,
        prompt_model=prompt,
        task_model=task,
        auto=None,
        num_candidates=4,
        max_bootstrapped_demos=2,
        max_labeled_demos=2,
        num_threads=1,
        seed=9,
    )
    with dspy.context(lm=task, adapter=dspy.ChatAdapter()):
        compiled = optimizer.compile(student, trainset=trainset, valset=valset, num_trials=2, minibatch=False)
    end = captured["steps_end"] + len(VAL)
    with open(sys.argv[1], "w") as out:
        out.write(
            json.dumps(
            {
                "dspy_version": dspy.__version__,
                "note": __doc__.strip().splitlines()[0],
                "trainset": TRAIN,
                "valset": VAL,
                "lms": {
                    "task": {"rules": TASK_RULES, "default": {"replies": [DEFAULT_REPLY]}},
                    "prompt": {"rules": PROMPT_RULES, "default": {"replies": [DEFAULT_REPLY]}},
                },
                "steps_requests": captured["steps_end"],
                "requests": LOG[:end],
                "demo_candidates": captured["demo_candidates"],
                "instruction_candidates": captured["instruction_candidates"],
                "default_score": compiled.trial_logs[1]["full_eval_score"],
            },
            indent=1,
            ensure_ascii=False,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
